"""Tests for gler.search_space: one checked search space per model family."""

from __future__ import annotations

import pytest

from gler.models import list_models
from gler.models._registry import FAMILIES
from gler.search_space import SEARCH_SPACES, Param, SearchSpace, search_space


def test_every_neural_family_and_model_has_one_space():
    """The spaces cover the registry's neural families; each neural model finds its own, and
    every space searches the optimiser and the remedies."""
    assert set(SEARCH_SPACES) == set(FAMILIES) - {"classical"}
    for name in list_models("neural"):
        names = {p.name for p in search_space(name).params}
        assert {"lr", "weight_decay", "warmup_epochs", "ema_decay", "factor_dropout"} <= names
    with pytest.raises(ValueError, match=r"'stefan'.*nothing to tune"):
        search_space("stefan")


def test_values_map_to_config_fields():
    """GLER's width sets the fused width and half of it for the GLFE branches."""
    train, model = search_space("gler").apply({"width": 24, "lr": 1e-3, "n_heads": 2})
    assert train == {"lr": 1e-3}
    assert model == {"d_model": 24, "gru_hidden": 24, "dense_dim": 12, "conv_dim": 12,
                     "n_heads": 2}


@pytest.mark.parametrize(("params", "message"), [
    ((Param("n_heads", choices=(3,), model_fields={"n_heads": 1}),), r"n_heads=3.*impossible"),
    ((Param("ema_decay", choices=(0.5, 1.0), train_field="ema_decay"),),
     r"ema_decay=1\.0.*impossible"),
    ((Param("depth", choices=(2,), model_fields={"depth": 1}),), r"'depth' sets \['depth'\]"),
])
def test_an_impossible_space_is_refused_when_declared(params, message):
    """A value no config accepts, alone or with the family's sizes, is refused by name."""
    with pytest.raises(ValueError, match=message):
        SearchSpace("gler", params)


def test_params_and_loaded_spaces_are_checked():
    """Inverted and log ranges through zero are refused; a loaded space is checked like a
    declared one, and round-trips."""
    with pytest.raises(ValueError, match=r"low=1\.0 must be below high=0\.1"):
        Param("lr", low=1.0, high=0.1, train_field="lr")
    with pytest.raises(ValueError, match="log range needs low > 0"):
        Param("lr", low=0.0, high=0.1, log=True, train_field="lr")
    space = SEARCH_SPACES["attention"]
    assert SearchSpace.from_dict(space.to_dict()) == space
    bad = space.to_dict()
    bad["params"][-2]["choices"] = [5]  # n_heads 5 divides none of the widths
    with pytest.raises(ValueError, match=r"n_heads=5.*impossible"):
        SearchSpace.from_dict(bad)


def test_a_space_is_checked_against_a_profile_sizes():
    """The recurrent sizes are checked on top of a profile's overrides."""
    with pytest.raises(ValueError, match=r"impossible.*divisible"):
        SEARCH_SPACES["recurrent"].check({"n_heads": 5})
