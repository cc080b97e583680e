"""Alert probabilities: Monte-Carlo checks of split conformal and of quantile forecasts, the
quantile CDF, verification scores, maps (of a point run and of a quantile run) and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from gler.alerts import (
    alert_map,
    check_alert,
    exceedance_probability,
    observed_event,
    quantile_cdf,
    quantile_exceedance_probability,
    roc_auc,
    verify_alerts,
)
from gler.conformal import calibrate, predict_quantiles, residual_calibration
from gler.run import classical_run
from tests._pipeline_stack import QUANTILE_LEVELS, make_stack


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


@pytest.mark.parametrize("direction", ["settlement", "heave"])
def test_quantile_alert_probability_matches_a_monte_carlo_check(direction):
    """Normal outcomes with a mean and scale per pixel, given by their exact quantiles: the
    probability of a change beyond T equals the frequency over simulated outcomes, within the
    error of the linear CDF between the quantiles and of the simulation, for event bounds
    across the quantile range."""
    rng = np.random.default_rng(8)
    z = np.linspace(-1.5, 1.5, 9)  # where the event's bound lies, in each pixel's own scale
    mean, scale = rng.uniform(-10, 2, z.size), rng.uniform(0.5, 4, z.size)
    quantiles = mean[:, None] + scale[:, None] * norm.ppf(QUANTILE_LEVELS)
    threshold = 3.0
    bound = mean + scale * z  # reference - T (settlement) or reference + T (heave)
    reference = bound + threshold if direction == "settlement" else bound - threshold
    prob = quantile_exceedance_probability(quantiles, QUANTILE_LEVELS, reference,
                                           threshold_mm=threshold, direction=direction)
    change = mean + scale * rng.standard_normal((100_000, z.size)) - reference
    hit = change <= -threshold if direction == "settlement" else change >= threshold
    assert np.allclose(prob, hit.mean(axis=0), atol=0.02), (prob, hit.mean(axis=0))
    exact = norm.cdf(z) if direction == "settlement" else norm.sf(z)
    assert np.allclose(prob, exact, atol=0.01)  # the error of the linear CDF alone


def test_quantile_cdf_is_monotone_in_zero_one_and_exact_at_the_quantiles():
    """Over thresholds from far in the lower tail to far in the upper one: probabilities in
    [0, 1], non-decreasing, the level at each quantile, the tails' mass the outer levels; the
    alert probability falls as the threshold grows, in both directions."""
    rng = np.random.default_rng(9)
    quantiles = np.cumsum(rng.exponential(1.0, (20, len(QUANTILE_LEVELS))), axis=1) - 4.0
    grid = np.linspace(-60, 60, 2001)
    cdf = np.stack([quantile_cdf(quantiles, QUANTILE_LEVELS, np.full(20, x)) for x in grid],
                   axis=1)
    assert (cdf >= 0).all() and (cdf <= 1).all() and (np.diff(cdf, axis=1) >= 0).all()
    assert cdf[:, 0].max() < 1e-3 and cdf[:, -1].min() > 1 - 1e-3
    for j, level in enumerate(QUANTILE_LEVELS):
        np.testing.assert_allclose(quantile_cdf(quantiles, QUANTILE_LEVELS, quantiles[:, j]),
                                   level, atol=1e-12)
    thresholds = np.linspace(0.1, 50, 200)
    for direction in ("settlement", "heave"):
        prob = np.stack([quantile_exceedance_probability(
            quantiles, QUANTILE_LEVELS, np.zeros(20), threshold_mm=t, direction=direction)
            for t in thresholds], axis=1)
        assert (prob >= 0).all() and (prob <= 1).all() and (np.diff(prob, axis=1) <= 0).all()
        assert prob[:, 0].max() > 0.5 > prob[:, -1].max()


def test_exponential_tails_continue_the_outermost_density():
    """Below q_1 = -1 (level 0.1, density 0.4 / mm up to the median at 0) the tail is
    0.1 exp((x + 1) / 0.25); above q_3 = 2 (level 0.9, density 0.2 / mm) 1 - 0.1 exp(-(x - 2) /
    0.5): the density is continuous at the outermost quantiles."""
    quantiles = np.array([[-1.0, 0.0, 2.0]] * 4)
    x = np.array([-2.0, -1.0 - 1e-7, 2.0 + 1e-7, 3.0])
    expected = [0.1 * np.exp(-4.0), 0.1 - 0.4e-7, 0.9 + 0.2e-7, 1 - 0.1 * np.exp(-2.0)]
    np.testing.assert_allclose(quantile_cdf(quantiles, (0.1, 0.5, 0.9), x), expected,
                               rtol=1e-9)


def test_tied_quantiles_are_atoms():
    """Quantiles that CQR's nesting made equal: the mass between their levels sits at their
    value (in or out of the event by the direction's inequality), and a zero-width outermost
    segment leaves no tail beyond it."""
    quantiles = np.array([[-4.0, -4.0, 0.0, 4.0, 4.0]] * 3)
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    x = np.array([-4.5, -4.0, 4.0])
    np.testing.assert_allclose(quantile_cdf(quantiles, levels, x), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(quantile_cdf(quantiles, levels, x, side="left"), [0.0, 0.0, 0.75])
    heave = quantile_exceedance_probability(quantiles, levels, np.zeros(3), threshold_mm=4,
                                            direction="heave")
    np.testing.assert_allclose(heave, 0.25)  # P(Y >= 4) includes the atom at 4


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


def test_a_quantile_run_alerts_from_its_own_calibrated_distribution(quantile_run, stack):
    """By default a quantile run is alerted by CQR: each pixel's probability is that of its own
    calibrated quantiles (those of predict_quantiles); the forecast change alone does not order
    the probabilities, as it does under split conformal's one residual distribution."""
    common = {"threshold_mm": 1.0, "steps": 2, "issues": "test", "device": "cpu"}
    cqr = alert_map(quantile_run, stack, **common)
    assert cqr.attrs["calibration"] == "cqr" and "head_quantile" not in cqr.coords
    prob = cqr["alert_probability"].values
    fc = predict_quantiles(quantile_run, stack, "head", issues="test", device="cpu")
    quantiles = fc["forecast_quantile"].isel(horizon=1).values  # [Q, I, y, x]
    reference = stack["displacement"].sel(time=fc["issue_time"].values).values
    expected = quantile_exceedance_probability(
        quantiles.reshape(len(QUANTILE_LEVELS), -1).T, QUANTILE_LEVELS, reference.ravel(),
        threshold_mm=1.0)
    np.testing.assert_allclose(prob.ravel(), expected, atol=1e-6)
    assert np.isfinite(prob).any() and 0 <= np.nanmin(prob) and np.nanmax(prob) <= 1
    split = alert_map(quantile_run, stack, **common,
                      calibration=calibrate(quantile_run, stack, device="cpu"))
    assert split.attrs["calibration"] == "split-conformal"
    assert _disordered_pairs(split) == 0 < _disordered_pairs(cqr)


def _disordered_pairs(alerts) -> int:
    """Pixel pairs whose settlement probabilities the forecast change orders the wrong way
    round: the larger probability at the (by more than 1 µm) larger change."""
    change = alerts["forecast_change"].values.ravel()
    prob = alerts["alert_probability"].values.ravel()
    keep = np.isfinite(change) & np.isfinite(prob)
    change, prob = change[keep], prob[keep]
    return int(((change[:, None] < change[None] - 1e-3) & (prob[:, None] < prob[None] - 1e-6))
               .sum())


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


@pytest.mark.parametrize(("threshold", "direction", "match"), [
    (-5, "settlement", "--threshold-mm -5: give the magnitude in mm as a positive"),
    (5000, "heave", "5000 is 1000 mm or more: give millimetres"),
    (5, "down", "--direction 'down'"),
])
def test_bad_quantile_alert_input_is_one_clear_line(threshold, direction, match):
    """The quantile path refuses the same event as the split-conformal one."""
    with pytest.raises(ValueError, match=match):
        quantile_exceedance_probability(np.zeros((1, 3)), (0.1, 0.5, 0.9), np.zeros(1),
                                        threshold_mm=threshold, direction=direction)


def test_quantiles_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"quantiles \(2, 3\) must be \[n, Q\] with Q = 2"):
        quantile_cdf(np.zeros((2, 3)), (0.1, 0.9), np.zeros(2))


def test_a_quantile_run_with_a_bad_step_is_one_clear_line(quantile_run, stack):
    """The horizon of a quantile run (3) bounds --steps before anything is calibrated."""
    with pytest.raises(ValueError, match="--steps 4: the run forecasts 3 steps ahead"):
        alert_map(quantile_run, stack, threshold_mm=1, steps=4, device="cpu")


def test_alert_maps_carry_the_grid_s_coordinate_reference_system(tmp_path):
    """A grid's CRS (QTR-sim's crs attribute, or a CF grid-mapping variable of user data)
    becomes the alert file's CF grid mapping, with the WKT GIS tools read; points get none."""
    import pyproj
    import xarray as xr

    from gler.data.model import GRID_MAPPING, stack_crs

    proj = "+proj=eqc +lat_ts=34.82 +lat_0=34.82 +lon_0=92.93 +R=6371008.8 +units=m"
    stack = make_stack(ny=3, nx=4)
    stack.attrs["crs"] = proj
    run = classical_run(stack, "harmonic")
    alert_map(run, stack, threshold_mm=2, steps=3, issues="test").to_netcdf(tmp_path / "a.nc")
    with xr.open_dataset(tmp_path / "a.nc") as written:
        assert written["alert_probability"].attrs["grid_mapping"] == GRID_MAPPING
        mapping = written[GRID_MAPPING].attrs
        assert pyproj.CRS(mapping["crs_wkt"]).equals(pyproj.CRS(proj))
        assert mapping["spatial_ref"] == mapping["crs_wkt"]
        assert "grid_mapping" not in written["alert_time"].attrs
    user = make_stack(ny=3, nx=4)
    user["crs"] = xr.DataArray(0, attrs={"crs_wkt": pyproj.CRS("EPSG:32646").to_wkt()})
    user["displacement"].attrs["grid_mapping"] = "crs"
    assert pyproj.CRS(stack_crs(user)).to_epsg() == 32646
    points = make_stack(points=True)
    points.attrs["crs"] = proj
    assert GRID_MAPPING not in alert_map(classical_run(points, "harmonic"), points,
                                         threshold_mm=2, steps=3, issues="test").variables
