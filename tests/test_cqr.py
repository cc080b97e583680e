"""Quantile runs and conformalised quantile regression (CQR): coverage, nesting, the run's
round trip, and what a point run cannot give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from gler.conformal import (
    QuantileCalibration,
    calibrate,
    calibrate_quantiles,
    calibration_for,
    predict_quantiles,
    quantile_calibration,
)
from gler.forecast import HEAD_QUANTILE, predict
from gler.run import RUN_FILE, classical_run, load_run, read_run_record
from gler.scoring import quantile_scores
from tests._pipeline_stack import QUANTILE_LEVELS as LEVELS
from tests._pipeline_stack import train_quantile_run


def _heteroscedastic(rng: np.random.Generator, shape: tuple[int, ...], *, spread: float,
                     shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles [Q, I, H, P] of a head that knows each target's scale but is too narrow
    (``spread`` < 1) and biased (``shift``), and targets y = s * e, e ~ Student-t(5)."""
    scale = rng.uniform(0.5, 3.0, shape)
    y = scale * rng.standard_t(5, shape)
    z = norm.ppf(LEVELS)[:, None, None, None]
    return shift + spread * scale[None] * z, y


def _band(n: int, p: float) -> tuple[float, float]:
    """99.9 % binomial range of the coverage of n independent targets."""
    return binom.ppf(0.0005, n, p) / n, binom.ppf(0.9995, n, p) / n


def _cqr_band(n: int, p: float) -> tuple[float, float]:
    """99.9 % range of the test coverage after calibrating on n targets and testing on n: the
    binomial errors of both samples (the coverage given the calibration sample varies too),
    ``p +- 3.29 sqrt(2 p (1 - p) / n)``."""
    half = norm.ppf(0.9995) * np.sqrt(2 * p * (1 - p) / n)
    return p - half, p + half


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9])
def test_cqr_coverage_holds_on_new_data_within_binomial_error(level):
    """A miscalibrated head (too narrow, biased, heavy-tailed targets): after CQR on one
    sample, each step's central interval covers a fresh sample at the nominal rate, within the
    binomial errors of both samples, and exactly so on the calibration sample."""
    rng = np.random.default_rng(5)
    shape = (40, 3, 50)  # 2,000 calibration and test targets per step
    head, truth = _heteroscedastic(rng, shape, spread=0.6, shift=0.4)
    cal = quantile_calibration(head, truth, LEVELS)
    quantiles, y = _heteroscedastic(rng, shape, spread=0.6, shift=0.4)
    calibrated = cal.apply(quantiles)
    lo, hi = LEVELS.index(round((1 - level) / 2, 2)), LEVELS.index(round((1 + level) / 2, 2))
    low, high = _cqr_band(2000, level)
    for h in range(3):
        inside = (y[:, h] >= calibrated[lo, :, h]) & (y[:, h] <= calibrated[hi, :, h])
        assert low <= inside.mean() <= high, (h, inside.mean())
    raw = (y >= quantiles[lo]) & (y <= quantiles[hi])
    assert raw.mean() < low  # the head alone undercovers: CQR did the work
    assert cal.n_points == [2000] * 3
    fitted = cal.apply(head)
    own = (truth >= fitted[lo]) & (truth <= fitted[hi])
    assert (own.mean(axis=(0, 2)) >= level).all()


def test_cqr_of_a_calibrated_head_changes_little():
    """The true quantiles of a known distribution need (almost) no correction."""
    rng = np.random.default_rng(6)
    scale = rng.uniform(0.5, 3.0, (100, 2, 100))
    quantiles = scale[None] * norm.ppf(LEVELS)[:, None, None, None]
    cal = quantile_calibration(quantiles, scale * rng.normal(size=scale.shape), LEVELS)
    assert cal.intervals == (0.5, 0.8, 0.9)
    assert np.abs(cal.corrections()).max() < 0.1
    assert cal.n_points == [10_000, 10_000]


def test_calibrated_quantiles_are_nested_and_only_widen():
    """Corrections that would make an inner interval poke out of an outer one (or the 50 %
    bounds cross the median) give nested quantiles: each interval contains its CQR bounds and
    the intervals inside it."""
    cal = QuantileCalibration(levels=(0.1, 0.25, 0.5, 0.75, 0.9),
                              scores=((np.full(10, 3.0),), (np.full(10, -2.0),)),
                              period=("2021-01-01", "2021-12-31"))
    assert cal.horizon == 1
    head = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[:, None, None, None]
    out = cal.apply(head)[:, 0, 0, 0]
    # CQR bounds: 50 %: [-4, 4]; 80 %: [0, 0], widened to contain the 50 % interval
    np.testing.assert_allclose(out, [-4.0, -4.0, 0.0, 4.0, 4.0])
    cal = QuantileCalibration(levels=(0.1, 0.25, 0.5, 0.75, 0.9),
                              scores=((np.full(10, -1.5),), (np.full(10, 0.5),)),
                              period=("2021-01-01", "2021-12-31"))
    np.testing.assert_allclose(cal.apply(head)[:, 0, 0, 0], [-2.5, 0.0, 0.0, 0.0, 2.5])


def test_too_few_calibration_points_says_how_many():
    """Eight scores cannot calibrate a 90 % interval (it needs nine)."""
    cal = QuantileCalibration(levels=(0.05, 0.5, 0.95), scores=((np.zeros(8),),),
                              period=("2021-01-01", "2021-02-01"))
    with pytest.raises(ValueError, match=r"has 8 points at step 1; the 90% interval needs at "
                                         r"least 9"):
        cal.corrections()


def test_quantile_scores_of_a_known_distribution():
    """The true N(0, 1) quantiles at the head's seven levels: coverage as nominal, CRPS near
    the exact 1 / sqrt(pi) of the standard normal, a flat PIT histogram."""
    rng = np.random.default_rng(7)
    y = rng.normal(size=(50, 2, 100))
    quantiles = np.broadcast_to(norm.ppf(LEVELS)[:, None, None, None], (7, *y.shape))
    s = quantile_scores(quantiles, LEVELS, y)
    for level in ("0.5", "0.8", "0.9"):
        low, high = _band(5000, float(level))
        assert all(low <= c <= high for c in s["coverage"][level]), s["coverage"]
    assert s["crps"] == pytest.approx(1 / np.sqrt(np.pi), rel=0.03)
    assert max(s["pit_histogram"]) < 0.12 and min(s["pit_histogram"]) > 0.08
    np.testing.assert_allclose(s["width"]["0.9"], 2 * norm.ppf(0.95))


# -- a quantile run on the pipeline stack (the fixture quantile_run of conftest.py) -------------


def test_quantile_run_round_trip(quantile_run, stack, tmp_path):
    """run.json names the levels; the loaded run forecasts the same quantiles as the trained
    model, its median as the point forecast; the same seed gives the same weights."""
    assert read_run_record(quantile_run)["model_config"]["quantiles"] == list(LEVELS)
    run = load_run(quantile_run)
    assert run.quantiles == LEVELS
    fc = predict(run, stack, issues="test", head=True, device="cpu")
    head = fc[HEAD_QUANTILE]
    assert head.dims[0] == "head_quantile" and fc["head_quantile"].values.tolist() == list(
        LEVELS)
    assert (head.diff("head_quantile").fillna(0) >= 0).all()
    np.testing.assert_array_equal(head.sel(head_quantile=0.5).values, fc["forecast"].values)
    again = train_quantile_run(stack, tmp_path / "again")
    a = torch.load(quantile_run / "best.pt", weights_only=True)
    b = torch.load(again.run_dir / "best.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "again" / RUN_FILE).read_text() == (quantile_run / RUN_FILE).read_text()


def test_quantile_run_is_calibrated_by_cqr_on_the_validation_year(quantile_run, stack):
    """calibration_for picks CQR; its scores' targets lie in the validation year; the calibrated
    quantiles never cross and their median is the point forecast."""
    cal = calibration_for(quantile_run, stack, device="cpu")
    assert isinstance(cal, QuantileCalibration) and cal.levels == LEVELS
    assert cal.period[0] >= "2021-01-01" and cal.period[1] <= "2021-12-31"
    fc = predict_quantiles(quantile_run, stack, "head", issues="test", calibration=cal,
                           device="cpu")
    q = fc["forecast_quantile"]
    assert HEAD_QUANTILE not in fc
    assert "conformalised quantile regression" in q.attrs["comment"]
    assert (q.diff("quantile").fillna(0) >= 0).all()
    np.testing.assert_array_equal(q.sel(quantile=0.5).values, fc["forecast"].values)
    some = predict_quantiles(quantile_run, stack, (0.1, 0.9), issues="test", device="cpu")
    np.testing.assert_array_equal(some["forecast_quantile"].values,
                                  q.sel(quantile=[0.1, 0.9]).values)


def test_levels_a_head_does_not_forecast_are_refused(quantile_run, stack):
    """A quantile run gives its own levels only, and says which they are."""
    with pytest.raises(ValueError, match=r"forecasts the levels 0.05,0.1,0.25,0.5,0.75,0.9,0.95, "
                                         r"not 0.3"):
        predict_quantiles(quantile_run, stack, (0.3, 0.5), issues="last")


def test_a_point_run_asked_for_the_head_says_how_to_train_one(stack):
    """What only a quantile head gives (its quantiles, CQR, 'head' levels): an error naming
    gler train --quantiles; split conformal still works for the point run."""
    run = classical_run(stack, "harmonic")
    for call in (lambda: predict(run, stack, head=True),
                 lambda: calibrate_quantiles(run, stack),
                 lambda: predict_quantiles(run, stack, "head")):
        with pytest.raises(ValueError, match=r"gler train --quantiles 0\.05,0\.1"):
            call()
    assert not isinstance(calibration_for(run, stack), QuantileCalibration)
    assert min(calibrate(run, stack).n_points) > 0
