"""The model registry: names, info, presets versus overrides."""

from __future__ import annotations

import pytest

from gler.data.sample import DEFAULT_HORIZON
from gler.models import create_model, list_models, model_info, register_model
from gler.models._registry import _REGISTRY


def test_model_info():
    """model_info gives kind, uses_ef and a one-line description."""
    info = model_info("stefan")
    assert (info.kind, info.uses_ef) == ("classical", True)
    assert not model_info("gler-no-mcar").uses_ef and model_info("gler").uses_ef
    assert all("\n" not in model_info(n).description for n in list_models())
    with pytest.raises(ValueError, match=r"Available: .*bigru"):
        model_info("nope")


def test_overrides_win_over_presets():
    """An explicit override beats the ablation preset of a name; sizes pass through."""
    model = create_model("gler-gru", n_ef=2, bidirectional=True, d_model=16)
    assert model.config.bidirectional and model.config.d_model == 16 and model.n_ef == 2
    assert create_model("harmonic", window=10, horizon=2, semiannual=True).semiannual


def test_unknown_override_is_refused():
    """A misspelt config field raises ValueError listing the fields, for every kind."""
    with pytest.raises(ValueError, match="Unknown BaselineConfig field"):
        create_model("lstm", hiden=8)
    with pytest.raises(TypeError, match="unexpected keyword"):
        create_model("persistence", hiden=8)


def test_register_model_rejects_bad_kind_family_tag_and_duplicates():
    """A kind, family or tag outside the registry's and a taken name are refused by name."""
    with pytest.raises(ValueError, match="unknown kind 'deep'"):
        register_model("x", kind="deep", uses_ef=False, description="x", family="linear")
    with pytest.raises(ValueError, match="unknown family 'mlp'"):
        register_model("x", kind="neural", uses_ef=False, description="x", family="mlp")
    with pytest.raises(ValueError, match="unknown tag 'best'"):
        register_model("x", kind="neural", uses_ef=False, description="x", family="linear",
                       tags=("best",))
    with pytest.raises(ValueError, match="already registered"):
        register_model("gler", kind="neural", uses_ef=True, description="x",
                       family="gler")(lambda **kw: None)


def test_register_a_new_model():
    """A new builder becomes available by name, with its kind, family, tags and needs."""
    @register_model("test-dummy", kind="classical", uses_ef=True, description="dummy",
                    family="classical", tags=("baseline",), needs={"temp": "air_temperature"})
    def dummy(*, window, horizon, n_ef):
        return (window, horizon, n_ef)

    try:
        assert "test-dummy" in list_models("classical", tag="baseline", family="classical")
        assert create_model("test-dummy", window=5) == (5, DEFAULT_HORIZON, 0)
        assert model_info("test-dummy").needs == {"temp": "air_temperature"}
    finally:
        del _REGISTRY["test-dummy"]


def test_families_and_tags_of_the_built_in_models():
    """GLER and its ablations form one family; every neural baseline is tagged baseline."""
    assert list_models(tag="proposed") == ["gler"]
    assert set(list_models(family="gler")) == {"gler", *list_models(tag="ablation")}
    neural_baselines = list_models("neural", tag="baseline")
    assert {"lstm", "dlinear", "transformer"} <= set(neural_baselines)
    assert not set(neural_baselines) & set(list_models(family="gler"))
    with pytest.raises(ValueError, match="tag must be one of"):
        list_models(tag="best")

