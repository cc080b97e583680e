"""Split-conformal calibration: quantile levels, order statistics, coverage, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import binom

from gler.conformal import (
    Calibration,
    add_quantiles,
    calibrate,
    check_quantiles,
    coverage_interval,
    date_bootstrap,
    interval_coverage,
    needed_points,
    predict_quantiles,
    residual_calibration,
)
from gler.conformal import (
    observed_targets as conformal_targets,
)
from gler.run import classical_run
from gler.scoring import probabilistic_scores
from tests._pipeline_stack import make_stack


def _binomial_band(n: int, p: float) -> tuple[float, float]:
    """99.9 % binomial range of the coverage of n independent targets."""
    return binom.ppf(0.0005, n, p) / n, binom.ppf(0.9995, n, p) / n


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9])
def test_coverage_holds_on_new_data_within_binomial_error(level):
    """Calibrated on one Student-t sample, the interval covers a fresh one at the nominal rate."""
    rng = np.random.default_rng(1)
    shape = (40, 3, 50)  # 2,000 calibration and test points per step
    pred = rng.normal(0, 5, shape)  # the forecast itself does not matter
    cal = residual_calibration(pred, pred + rng.standard_t(4, shape))
    new_pred = rng.normal(0, 5, shape)
    scores = probabilistic_scores(new_pred, new_pred + rng.standard_t(4, shape), cal)
    low, high = _binomial_band(2000, level)
    assert all(low <= c <= high for c in scores["coverage"][f"{level:g}"]), scores["coverage"]


def test_quantiles_never_cross_and_match_the_known_distribution():
    """Offsets increase with the level and approach the quantiles of N(0, 2)."""
    rng = np.random.default_rng(2)
    cal = residual_calibration(np.zeros((100, 2, 100)), rng.normal(0, 2, (100, 2, 100)))
    levels = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    offsets = cal.offsets(levels)
    assert np.all(np.diff(offsets, axis=0) >= 0)
    assert np.allclose(offsets[[0, -1]], [[-3.29], [3.29]], atol=0.2)


def test_non_crossing_quantiles_in_the_forecast_dataset():
    """forecast_quantile is sorted along quantile at every issue, step and pixel."""
    stack = make_stack()
    run = classical_run(stack, "harmonic")
    fc = predict_quantiles(run, stack, (0.05, 0.25, 0.5, 0.75, 0.95), issues="test")
    q = fc["forecast_quantile"]
    assert q.dims[0] == "quantile" and q.attrs["units"] == "mm"
    assert (q.diff("quantile").fillna(0) >= 0).all()
    assert fc["quantile"].values.tolist() == [0.05, 0.25, 0.5, 0.75, 0.95]


def test_interval_coverage_counts_the_observed_targets_inside():
    """Per step, the share of observed targets between the interval's bounds, in %; an
    interval whose bounds the forecast lacks is refused, naming them."""
    stack = make_stack(noise=1.0)
    run = classical_run(stack, "harmonic")
    fc = predict_quantiles(run, stack, (0.1, 0.9), issues="test")
    table = interval_coverage(fc, stack, (0.8,))
    assert list(table.index) == [80] and table.index.name == "nominal %"
    for h in range(fc.sizes["horizon"]):
        obs = stack["displacement"].sel(time=fc["target_time"].isel(horizon=h).values)
        obs = obs.transpose("time", "y", "x").values
        bounds = fc["forecast_quantile"].isel(horizon=h).transpose("quantile", "issue_time",
                                                                   "y", "x").values
        inside = (obs >= bounds[0]) & (obs <= bounds[1])
        observed = np.isfinite(obs)
        assert table.loc[80, f"step {h + 1}"] == pytest.approx(100 * inside[observed].mean())
    assert 0 < table.to_numpy().min() and table.to_numpy().max() < 100
    with pytest.raises(ValueError, match=r"The 90% interval needs the quantiles 0\.05 and 0\.95"):
        interval_coverage(fc, stack, (0.9,))


def test_coverage_interval_resamples_dates_not_pixels():
    """The bootstrap interval holds the coverage; an error shared by the pixels of a date
    (an atmosphere) widens it well beyond the binomial width of the pixels, and it is the same
    for the same seed."""
    stack = make_stack(ny=8, nx=8, noise=1.0)
    run = classical_run(stack, "harmonic")
    fc = predict_quantiles(run, stack, (0.1, 0.9), issues="test")
    table = interval_coverage(fc, stack, (0.8,))
    ci = coverage_interval(fc, stack, (0.8,), resamples=500)
    assert list(ci.index) == [(80, "low"), (80, "high")] and ci.attrs["confidence"] == 0.95
    assert (ci.loc[(80, "low")] <= table.loc[80]).all()
    assert (table.loc[80] <= ci.loc[(80, "high")]).all()
    pd.testing.assert_frame_equal(ci, coverage_interval(fc, stack, (0.8,), resamples=500))

    rng = np.random.default_rng(3)
    shared = stack.copy()
    atmosphere = xr.DataArray(rng.normal(0, 1.5, stack.sizes["time"]), dims="time")
    shared["displacement"] = stack["displacement"] + atmosphere
    wide = coverage_interval(fc, shared, (0.8,), resamples=500)
    width = (wide.loc[(80, "high")] - wide.loc[(80, "low")]).mean()
    narrow = (ci.loc[(80, "high")] - ci.loc[(80, "low")]).mean()
    targets = int(np.isfinite(conformal_targets(fc, shared)[:, 0]).sum())
    binomial = 2 * 1.96 * 100 * np.sqrt(0.8 * 0.2 / targets)
    assert width > 2 * binomial and width > 1.5 * narrow, (width, narrow, binomial)


def test_date_bootstrap_widens_with_correlated_dates():
    """Dates whose errors persist (an AR(1) effect on the share inside) get a wider interval
    from blocks than from single dates; independent dates do not widen it."""
    rng = np.random.default_rng(5)
    n = 27
    persistent = np.empty(n)
    persistent[0] = rng.normal(0, 0.1)
    for t in range(1, n):
        persistent[t] = 0.85 * persistent[t - 1] + rng.normal(0, 0.05)
    observed = np.full(n, 500)
    for effect, wider in ((persistent, True), (rng.normal(0, 0.1, n), False)):
        inside = rng.binomial(500, np.clip(0.8 + effect, 0, 1))
        blocks = np.diff(date_bootstrap(inside, observed))[0]  # 3 dates per block
        single = np.diff(date_bootstrap(inside, observed, block=1))[0]
        assert (blocks > 1.3 * single) if wider else (blocks < 1.3 * single), (blocks, single)


def test_coverage_interval_needs_two_dates():
    stack = make_stack(noise=1.0)
    run = classical_run(stack, "harmonic")
    fc = predict_quantiles(run, stack, (0.1, 0.9), issues="test").isel(issue_time=[0])
    with pytest.raises(ValueError, match=r"Step 1 has 1 issue date .* at least two"):
        coverage_interval(fc, stack, (0.8,))


def test_probabilistic_scores_refuse_the_calibration_period():
    """Scoring intervals on the period that calibrated them is refused, naming the flags."""
    from gler.evaluate import evaluate

    with pytest.raises(ValueError, match="--probabilistic with --split val"):
        evaluate([], make_stack(), split="val", probabilistic=True)


def test_calibration_uses_the_validation_period_only():
    """The residuals' targets lie in the run's validation year, never in the test year."""
    stack = make_stack()
    run = classical_run(stack, "persistence")
    cal = calibrate(run, stack)
    assert cal.period[0] >= "2021-01-01" and cal.period[1] <= "2021-12-31"
    assert min(cal.n_points) > 0


@pytest.mark.parametrize(("text", "match"), [
    ("0.5,1.2", "strictly between 0 and 1"),
    ("0,0.5", "strictly between 0 and 1"),
    ("0.9,0.1", "must increase"),
    ("0.5,0.5", "must increase"),
    ("a,b", "strictly between 0 and 1"),
])
def test_bad_quantiles_are_refused_naming_the_flag(text, match):
    """Quantiles outside (0, 1) or not increasing: one message naming --quantiles."""
    with pytest.raises(ValueError, match=match) as info:
        check_quantiles(text)
    assert "--quantiles" in str(info.value)


def test_too_short_calibration_period_says_how_many_points_it_has():
    """Nine points cannot give a 5 % quantile: the message gives both counts."""
    cal = Calibration(residuals=(np.arange(9.0),), period=("2021-01-01", "2021-02-01"))
    assert needed_points(0.05) == 19
    with pytest.raises(ValueError, match=r"has 9 points at step 1; the 0.05 quantile needs at "
                                         r"least 19"):
        cal.offsets((0.05, 0.95))
    forecast = make_stack()  # any dataset: the check comes first
    with pytest.raises(ValueError, match="calibration has 1 steps"):
        add_quantiles(forecast.assign(forecast=forecast.displacement).expand_dims(
            horizon=[1, 2]), cal, (0.5,))
