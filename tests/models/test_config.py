"""Model configs: frozen, JSON round trip, clear validation errors."""

from __future__ import annotations

import dataclasses

import pytest

from gler.models import BaselineConfig, GLERConfig


@pytest.mark.parametrize("config", [
    GLERConfig(), GLERConfig(n_ef=5, kernel_sizes=(3, 5, 3), dilations=(1, 2, 4),
                             ef_mode="concat", bidirectional=False),
    BaselineConfig(), BaselineConfig(hidden=16, n_heads=2, moving_avg=7),
])
def test_json_round_trip(config):
    """to_json/from_json and to_dict/from_dict give back an equal config (tuples kept)."""
    assert type(config).from_json(config.to_json()) == config
    assert type(config).from_dict(config.to_dict()) == config
    assert all(not isinstance(v, tuple) for v in config.to_dict().values())


def test_configs_are_frozen():
    """Fields cannot be changed after construction (use dataclasses.replace)."""
    config = GLERConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.d_model = 64
    assert dataclasses.replace(config, d_model=64).d_model == 64


def test_uses_ef():
    """Factors are used only with n_ef > 0 and ef_mode other than 'none'."""
    assert not GLERConfig().uses_ef
    assert GLERConfig(n_ef=3).uses_ef
    assert GLERConfig(n_ef=3, ef_mode="concat").uses_ef
    assert not GLERConfig(n_ef=3, ef_mode="none").uses_ef


@pytest.mark.parametrize(("fields", "match"), [
    ({"window": 0}, "window must be a positive integer"),
    ({"horizon": 2.5}, "horizon must be a positive integer"),
    ({"n_ef": -1}, "n_ef must be an integer >= 0"),
    ({"ef_mode": "attention"}, "ef_mode must be one of"),
    ({"use_dense": False, "use_conv": False}, "GLFE needs at least one branch"),
    ({"kernel_sizes": (3,), "dilations": (1, 2)}, "same length"),
    ({"kernel_sizes": (4, 3)}, "must be odd"),
    ({"d_model": 30, "n_heads": 4}, "d_model=30 must be divisible by n_heads=4"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_gler_config_validation(fields, match):
    """Invalid GLER fields raise ValueError naming the field and the rule."""
    with pytest.raises(ValueError, match=match):
        GLERConfig(**fields)


@pytest.mark.parametrize(("fields", "match"), [
    ({"hidden": 30, "n_heads": 4}, "hidden=30 must be divisible by n_heads=4"),
    ({"moving_avg": 24}, "must be odd"),
    ({"num_layers": 0}, "num_layers must be a positive integer"),
])
def test_baseline_config_validation(fields, match):
    """Invalid baseline fields raise ValueError naming the field and the rule."""
    with pytest.raises(ValueError, match=match):
        BaselineConfig(**fields)


def test_unknown_field_lists_valid_ones():
    """from_dict refuses unknown keys and lists the valid fields."""
    with pytest.raises(ValueError, match=r"Unknown GLERConfig field\(s\) \['dmodel'\].*d_model"):
        GLERConfig.from_dict({"dmodel": 8})
