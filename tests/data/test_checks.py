"""Tests for gler.data.checks: plausibility at the door, and the robust displacement scale."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _pipeline_stack import make_stack

from gler.data.checks import MAX_STEP_MM, check_displacement, check_factor_values
from gler.data.factors import open_factors
from gler.data.qtrsim import simulate_region
from gler.data.readers import open_stack
from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset


def _points(values: np.ndarray) -> xr.Dataset:
    times = pd.date_range("2018-01-04", periods=values.shape[0], freq="12D", unit="ns")
    return xr.Dataset({"displacement": (("time", "point"), values.astype(np.float32),
                                        {"units": "mm"})},
                      coords={"time": times, "point": [f"P{i}" for i in range(values.shape[1])]})


def _series(n_time: int = 20, n_point: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.cumsum(rng.normal(0, 2, (n_time, n_point)), axis=0)


def test_qtrsim_passes_unchanged():
    """The simulator's stacks pass every check and come back identical."""
    stack = simulate_region("beiluhe", size=8, seed=0)
    checked = check_displacement(stack)
    assert checked is stack


def test_outliers_error_names_date_and_point_and_mask_masks_them():
    """A 1e30 cell and a 2 m spike: error by default, NaN with outliers='mask'."""
    values = _series()
    values[5, 1] = 1e30
    values[9, 2] += 2 * MAX_STEP_MM
    ds = _points(values)
    with pytest.raises(ValueError, match=r"2 implausible .* 2018-03-05 at point=P1: 1e\+30 mm"):
        check_displacement(ds)
    masked = check_displacement(ds, outliers="mask")
    assert np.isnan(masked.displacement.values[[5, 9], [1, 2]]).all()
    assert np.isfinite(masked.displacement.values).sum() == values.size - 2
    assert masked.displacement.attrs["units"] == "mm"


def test_a_step_is_refused_even_when_masking():
    """A lasting jump beyond the limit is not a spike: masking cannot fix it."""
    values = _series()
    values[10:, 0] += 3 * MAX_STEP_MM
    with pytest.raises(ValueError, match="a step, not a spike"):
        check_displacement(_points(values), outliers="mask")


def test_spikes_at_the_ends_and_infinities_are_outliers():
    """A first or last observation far from the rest, and +-inf, are outliers too."""
    values = _series()
    values[0, 0] = 5 * MAX_STEP_MM
    values[-1, 1] = -np.inf
    masked = check_displacement(_points(values), outliers="mask")
    assert np.isnan(masked.displacement.values[0, 0])
    assert np.isnan(masked.displacement.values[-1, 1])


def test_metres_labelled_mm_and_all_nan_are_refused():
    """Tiny magnitudes look like metres unless the units are stated; no finite value: error."""
    metres = _points(_series() / 1000)
    with pytest.raises(ValueError, match="look like metres"):
        check_displacement(metres)
    assert check_displacement(metres, units_stated=True) is metres
    with pytest.raises(ValueError, match="no finite value"):
        check_displacement(_points(np.full((5, 2), np.nan)))


def test_kelvin_and_negative_precipitation_are_refused(tmp_path):
    """A temperature above 100 °C is kelvin; precipitation is never negative."""
    with pytest.raises(ValueError, match="kelvin"):
        check_factor_values("air_temperature", np.array([270.0, 290.0]))
    with pytest.raises(ValueError, match="never negative"):
        check_factor_values("precipitation", np.array([0.0, -3.0]))
    check_factor_values("air_temperature", np.array([-30.0, 25.0, np.nan]))
    days = pd.date_range("2018-01-01", periods=5, freq="D")
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "air_temperature": 273.15 + np.arange(5)},
                 ).to_csv(tmp_path / "kelvin.csv", index=False)
    with pytest.raises(ValueError, match=r"kelvin.csv: air_temperature reaches 277.15"):
        open_factors(tmp_path / "kelvin.csv")
    # Declared as kelvin, the same values are converted.
    ef = open_factors(tmp_path / "kelvin.csv", units={"air_temperature": "K"})
    np.testing.assert_allclose(ef.air_temperature, np.arange(5), atol=1e-9)


def test_scale_is_robust_to_one_corrupt_cell():
    """One 1e30 mm cell in the training period leaves the scale near the clean one."""
    clean = make_stack()
    scale = Scaler.fit(WindowDataset(clean, window=20, horizon=4)).scale
    dirty = clean.copy(deep=True)
    dirty["displacement"][10, 1, 1] = 1e30
    robust = Scaler.fit(WindowDataset(dirty, window=20, horizon=4)).scale
    assert robust == pytest.approx(scale, rel=0.05)


def test_units_assumption_is_logged(tmp_path, caplog):
    """An EGMS file detected by its columns says it assumed mm, in one warning line."""
    table = pd.DataFrame({"pid": ["A", "B"], "mp_type": ["MP", "MP"],
                          "20180104": [0.0, 0.0], "20180116": [-1.5, 2.0],
                          "20180128": [-2.5, 3.0]})
    table.to_csv(tmp_path / "egms.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="gler.data.readers"):
        open_stack(tmp_path / "egms.csv")
    assert [r.getMessage() for r in caplog.records if "EGMS convention" in r.getMessage()]
