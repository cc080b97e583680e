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
    assert paper.compare and "dlinear" in paper.compared
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
    assert (config.seed, config.epochs) == (3, 2)
    assert smoke.sample_spec(window=12).factors == DRIVER_FACTORS
    assert smoke.sample_spec(window=12).window == 12
    some = smoke.sample_spec(available=["air_temperature", "ndvi"])
    assert some.factors == ("air_temperature",)
    assert smoke.sample_spec(available=["ndvi"]).factors is None  # none present: use all
    assert smoke.sample_spec(factors=("ndvi",)).factors == ("ndvi",)


def test_model_lists_are_registry_queries():
    """The compared baselines and the ablations are the registry's tags, not hand lists."""
    from gler.experiment import ablation_models
    from gler.models import list_models, model_info

    book = get_profile("book")
    assert book.compared == tuple(list_models("neural", tag="baseline"))
    assert all(model_info(m).family != "gler" for m in book.compared)
    assert ablation_models(book) == tuple(list_models(tag="ablation"))
    assert "gler" not in ablation_models(book) and get_profile("smoke").compared == ()
