"""Tests for gler.profiles: named parameter sets and their factor choice."""

from __future__ import annotations

import pytest

from gler.profiles import DRIVER_FACTORS, get_profile, list_profiles


def test_profiles_exist_with_their_sizes():
    """smoke is small and quick, paper is the full experiment (4 regions, 128, 5 seeds)."""
    assert {"smoke", "book", "paper"} <= set(list_profiles())
    smoke, paper = get_profile("smoke"), get_profile("paper")
    assert smoke.regions == ("beiluhe",) and smoke.size <= 32
    assert len(paper.regions) == 4 and paper.size == 128 and len(paper.seeds) == 5
    assert paper.compare and "dlinear" in paper.compare
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'\. Available: smoke"):
        get_profile("fast")


def test_model_overrides_by_family():
    """GLER variants get the GLER sizes, neural baselines theirs, classical ones none."""
    smoke = get_profile("smoke")
    assert smoke.model_overrides("gler-no-mcar")["d_model"] == 16
    assert "hidden" in smoke.model_overrides("lstm")
    assert smoke.model_overrides("harmonic") == {}


def test_train_config_seed_changes_and_factor_choice():
    """Seed and changes apply; factors are the profile's, or those present in the data."""
    smoke = get_profile("smoke")
    config = smoke.train_config(seed=3, epochs=2)
    assert (config.seed, config.epochs, config.factors) == (3, 2, DRIVER_FACTORS)
    some = smoke.train_config(available=["air_temperature", "ndvi"])
    assert some.factors == ("air_temperature",)
    assert smoke.train_config(available=["ndvi"]).factors is None  # none present: use all
    assert smoke.train_config(factors=("ndvi",)).factors == ("ndvi",)
