"""Tests for gler.config: the optimiser's settings."""

from __future__ import annotations

import json

import pytest

from gler.config import TrainConfig

CONFIG = TrainConfig(epochs=4, batch_size=64, patience=10, device="cpu", pixel_fraction=1.0)


def test_train_config_json_round_trip():
    """to_dict/from_dict give back the same frozen config; unknown keys are refused."""
    config = CONFIG.replace(lr=0.01, max_val_samples=10)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="Unknown TrainConfig field"):
        TrainConfig.from_dict({"epochs": 3, "epoch": 3})
    with pytest.raises(ValueError, match="device="):
        TrainConfig(device="tpu")



def test_cosine_schedule_ends_at_a_twentieth():
    """The cosine schedule starts at lr and ends at lr / 20; constant keeps lr."""
    config = TrainConfig(epochs=5, lr=1e-2)
    assert config.lr_at(1) == pytest.approx(1e-2)
    assert config.lr_at(5) == pytest.approx(5e-4)
    assert config.replace(lr_schedule="constant").lr_at(5) == 1e-2
