"""Alert probabilities: Monte-Carlo check, verification scores, maps and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gler.alerts import (
    alert_map,
    check_alert,
    exceedance_probability,
    observed_event,
    roc_auc,
    verify_alerts,
)
from gler.conformal import residual_calibration
from gler.run import classical_run
from tests._pipeline_stack import make_stack


@pytest.mark.parametrize("direction", ["settlement", "heave"])
def test_alert_probability_matches_a_monte_carlo_check(direction):
    """P(change beyond T) equals the frequency over simulated outcomes (forecast + residual)."""
    rng = np.random.default_rng(3)
    cal = residual_calibration(np.zeros((200, 3, 20)), rng.gumbel(0, 2, (200, 3, 20)))
    pred = np.array([-8.0, -4.0, 0.0, 3.0, 6.0])
    reference = np.zeros_like(pred)
    prob = exceedance_probability(pred, reference, cal, threshold_mm=5, steps=2,
                                  direction=direction)
    draws = rng.choice(cal.residuals[1], size=(200_000, 1)) + pred
    hit = draws <= -5 if direction == "settlement" else draws >= 5
    assert np.allclose(prob, hit.mean(axis=0), atol=0.01), (prob, hit.mean(axis=0))
    assert np.all(np.diff(prob) <= 0) if direction == "settlement" else np.all(
        np.diff(prob) >= 0)


def test_verification_scores_on_known_cases():
    """Brier decomposes, AUC is 1 for a perfect ranking and 0.5 for a constant forecast."""
    rng = np.random.default_rng(4)
    p = rng.random(5000)
    o = (rng.random(5000) < p).astype(float)  # reliable by construction
    v = verify_alerts(p, o, bins=10)
    assert v["reliability"] < 0.002
    assert v["brier"] == pytest.approx(v["reliability"] - v["resolution"] + v["uncertainty"],
                                       abs=0.01)
    assert roc_auc(o, o) == 1.0 and roc_auc(np.full(5000, 0.3), o) == 0.5
    assert v["recall"] == pytest.approx(((p >= 0.5) & (o == 1)).sum() / o.sum())
    with pytest.raises(ValueError, match="No alert with a known outcome"):
        verify_alerts(np.array([0.5]), np.array([np.nan]))


def test_alert_map_is_cf_and_verifiable():
    """A map of probabilities with lat/lon, the forecast and observed changes."""
    stack = make_stack(ny=3, nx=4)
    run = classical_run(stack, "harmonic")
    alerts = alert_map(run, stack, threshold_mm=2, steps=3, issues="test")
    prob = alerts["alert_probability"]
    assert prob.dims == ("issue_time", "y", "x") and prob.attrs["units"] == "1"
    assert alerts["lat"].attrs["standard_name"] == "latitude"
    assert float(prob.min()) >= 0 and float(prob.max()) <= 1
    event = observed_event(alerts["observed_change"].values, 2, "settlement")
    assert 0 <= verify_alerts(prob.values, event)["brier"] <= 1


@pytest.mark.parametrize(("threshold", "steps", "direction", "match"), [
    (-5, 3, "settlement", "--threshold-mm -5: give the magnitude in mm as a positive"),
    (0, 3, "settlement", "--threshold-mm 0: give the magnitude"),
    (0.01, 3, "settlement", "below 0.1 mm: give millimetres"),
    (5000, 3, "settlement", "5000 is 1000 mm or more: give millimetres"),
    (5, 7, "settlement", "--steps 7: the run forecasts 6 steps ahead"),
    (5, 0, "settlement", "--steps 0"),
    (5, 3, "down", "--direction 'down'"),
])
def test_bad_alert_input_is_one_clear_line(threshold, steps, direction, match):
    """A threshold of the wrong sign or unit, a horizon past the model's, a bad direction."""
    with pytest.raises(ValueError, match=match):
        check_alert(threshold, steps, 6, direction)
