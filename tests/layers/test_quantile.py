"""The quantile head: non-crossing for any inputs and weights, its levels, the pinball loss."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gler.layers.quantile import QuantileOutput, check_levels, pinball
from gler.models import create_model, list_models
from gler.train import masked_loss

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
SMALL = {"gler": {"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 4, "gru_hidden": 8},
         "baseline": {"hidden": 8, "n_heads": 2, "num_layers": 1, "moving_avg": 5}}
FLOATS = st.floats(-1e4, 1e4, allow_nan=False, width=32)


def _sorted(q: torch.Tensor) -> bool:
    return bool((q[..., 1:] >= q[..., :-1]).all())


@settings(max_examples=200, deadline=None)
@given(raw=arrays("float32", st.tuples(st.integers(1, 4), st.just(3 * len(LEVELS))),
                  elements=FLOATS))
def test_output_never_crosses_for_any_raw_values(raw):
    """Any raw outputs, huge or tiny, give quantiles non-decreasing in the level, median in
    its place."""
    out = QuantileOutput(LEVELS, horizon=3)(torch.from_numpy(raw))
    assert out.shape == (raw.shape[0], 3, len(LEVELS))
    assert _sorted(out)
    assert torch.equal(out[..., 3], torch.from_numpy(raw).unflatten(-1, (3, 7))[..., 3])


@pytest.mark.parametrize("name", list_models(kind="neural"))
@settings(max_examples=5, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**16))
def test_every_model_head_never_crosses_for_any_weights(name, scale, seed):
    """Every neural model with a quantile head, its weights drawn at any scale, gives
    [B, H, Q] quantiles that never cross."""
    torch.manual_seed(seed)
    model = create_model(name, window=12, horizon=4, n_ef=2, quantiles=LEVELS,
                         **SMALL["gler" if name.startswith("gler") else "baseline"])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    out = model(torch.randn(3, 12) * scale, torch.randn(3, 12, 2), torch.rand(3, 12) > 0.2)
    assert out.shape == (3, 4, len(LEVELS))
    assert _sorted(out)


def test_point_models_keep_their_output_and_config():
    """Without quantiles the output stays [B, H] and the config does not name quantiles (run
    files of point models as before)."""
    model = create_model("gler", window=12, horizon=4, n_ef=0, **SMALL["gler"])
    assert model(torch.zeros(2, 12)).shape == (2, 4)
    assert "quantiles" not in model.config.to_dict()
    assert model.quantile_output is None and model.n_outputs == 4


@pytest.mark.parametrize(("levels", "match"), [
    ((0.0, 0.5, 1.0), "strictly between 0 and 1"),
    ((0.1, 0.5, 1.5), "strictly between 0 and 1"),
    ((0.9, 0.5, 0.1), "must increase"),
    ((0.1, 0.9), "needs the median 0.5"),
    ((0.5,), "at least one level on each side"),
    ((0.1, 0.5, 0.8), "symmetric about 0.5"),
])
def test_bad_levels_are_refused_naming_the_flag(levels, match):
    """Levels outside (0, 1), not increasing, without the median, one-sided or asymmetric."""
    with pytest.raises(ValueError, match=match) as info:
        create_model("lstm", quantiles=levels)
    assert "--quantiles" in str(info.value)
    with pytest.raises(ValueError, match=match):
        check_levels(levels, head=True)


def test_pinball_loss_against_a_hand_computed_case():
    """Levels 0.1/0.5/0.9, forecasts (-1, 0, 1), target 2: losses 0.3, 1.0, 0.9 (mean 2.2/3);
    target -2: 0.9, 1.0, 0.3. A NaN target is a gap and does not count."""
    levels = torch.tensor([0.1, 0.5, 0.9])
    pred = torch.tensor([[[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]])  # [1, 3, 3]
    target = torch.tensor([[2.0, -2.0, float("nan")]])
    each = pinball(pred[:, :2], target[:, :2], levels)
    assert torch.allclose(each, torch.tensor([[[0.3, 1.0, 0.9], [0.9, 1.0, 0.3]]]))
    loss = masked_loss(pred, target, levels=levels)
    assert torch.isclose(loss, torch.tensor(4.4 / 6))
    # the NaN gap: the same as the two observed targets alone
    assert torch.isclose(masked_loss(pred[:, :2], target[:, :2], levels=levels), loss)
    # a micro-batch's share: the sum over its targets over the batch's count
    share = masked_loss(pred, target, levels=levels, count=torch.tensor(4))
    assert torch.isclose(share, torch.tensor(4.4 / 3 / 4))
