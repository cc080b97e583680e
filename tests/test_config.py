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


def test_the_remedies_are_off_by_default_and_checked():
    """Warm-up, averaging, factor dropout and early stopping default to off/on as before, are
    not written while off, and an out-of-range value names the field."""
    off = TrainConfig()
    assert (off.warmup_epochs, off.ema_decay, off.factor_dropout, off.early_stopping) == (
        0, 0.0, 0.0, True)
    assert not {"warmup_epochs", "ema_decay", "factor_dropout", "early_stopping"} & set(
        off.to_dict())
    on = CONFIG.replace(warmup_epochs=1, ema_decay=0.99, factor_dropout=0.1,
                        early_stopping=False)
    assert TrainConfig.from_dict(json.loads(json.dumps(on.to_dict()))) == on
    for field, value in (("ema_decay", 1.0), ("factor_dropout", -0.1), ("warmup_epochs", -1)):
        with pytest.raises(ValueError, match=f"{field}={value}"):
            TrainConfig(**{field: value})
