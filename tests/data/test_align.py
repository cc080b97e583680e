"""Tests for gler.data.align: interval means and sums, degree-days, gaps and coverage."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler.data.align import align_factors


def _daily(start: str = "2020-03-20", periods: int = 40, **columns) -> xr.Dataset:
    days = pd.date_range(start, periods=periods, freq="D")
    data = {name: ("time", np.asarray(values, dtype=float)) for name, values in columns.items()}
    return xr.Dataset(data, coords={"time": days})


def test_mean_and_sum_over_irregular_intervals():
    """Interval (t[i-1], t[i]]: means and sums; the first interval as long as the second."""
    n = 40
    ramp = np.arange(n, dtype=float)  # value = day number since 2020-03-20
    daily = _daily(periods=n, air_temperature=ramp, precipitation=ramp)
    days = daily["time"].to_index()
    times = days[[9, 14, 26]]  # intervals: days 5..9 (5 days, like the second), 10..14, 15..26
    ef = align_factors(daily, times, degree_day_source=None)
    np.testing.assert_allclose(ef["air_temperature"], [7.0, 12.0, 20.5])
    np.testing.assert_allclose(ef["precipitation"], [35.0, 60.0, 246.0])
    assert ef["precipitation"].attrs["aggregation"] == "sum"
    assert ef["air_temperature"].attrs["aggregation"] == "mean"
    assert list(ef["time"].values) == list(times.values)


def test_aggregation_argument_and_attribute_override_defaults():
    """aggregation= beats the attribute, which beats the name-based default."""
    daily = _daily(periods=20, soil_moisture=np.ones(20), precipitation=np.ones(20))
    daily["soil_moisture"].attrs["aggregation"] = "sum"
    times = daily["time"].to_index()[[9, 19]]
    ef = align_factors(daily, times, aggregation={"precipitation": "mean"},
                       degree_day_source=None)
    np.testing.assert_allclose(ef["soil_moisture"], [10.0, 10.0])
    np.testing.assert_allclose(ef["precipitation"], [1.0, 1.0])


def test_bad_aggregation_is_refused():
    """Unknown aggregation names and unknown factor names give clear errors."""
    daily = _daily(periods=20, precipitation=np.ones(20))
    times = daily["time"].to_index()[[9, 19]]
    with pytest.raises(ValueError, match="Unknown aggregation 'median'"):
        align_factors(daily, times, aggregation={"precipitation": "median"},
                      degree_day_source=None)
    with pytest.raises(ValueError, match="not in the daily data: snow_depth"):
        align_factors(daily, times, aggregation={"snow_depth": "mean"}, degree_day_source=None)


def test_degree_days_sampled_on_acquisition_dates():
    """DDT/DDF come from the source temperature on each acquisition day and reset on 1 April."""
    # 2020-03-20 .. 2020-04-28: +3 degC on 20-21 March (a thaw), then -1 degC until April,
    # +2 degC from 1 April on. Freezing counts from the thaw onset (20 March) on.
    days = pd.date_range("2020-03-20", periods=40, freq="D")
    temp = np.where(days < "2020-04-01", -1.0, 2.0)
    temp[:2] = 3.0
    daily = _daily(periods=40, ground_surface_temperature=temp, air_temperature=temp + 100)
    times = pd.DatetimeIndex(["2020-03-25", "2020-03-31", "2020-04-05"])
    ef = align_factors(daily, times)
    np.testing.assert_allclose(ef["freezing_degree_days"], [4.0, 10.0, 0.0])
    np.testing.assert_allclose(ef["thawing_degree_days"], [6.0, 6.0, 10.0])
    np.testing.assert_allclose(ef["sqrt_thawing_degree_days"], np.sqrt([6.0, 6.0, 10.0]),
                               rtol=1e-6)
    np.testing.assert_allclose(ef["sqrt_freezing_degree_days"], np.sqrt([4.0, 10.0, 0.0]),
                               rtol=1e-6)
    assert ef["thawing_degree_days"].attrs["source"] == "ground_surface_temperature"
    assert ef["thawing_degree_days"].attrs["units"] == "degC day"


def test_degree_days_fall_back_to_air_temperature_or_refuse():
    """Without ground-surface temperature the air temperature is used; with neither, an error."""
    daily = _daily(periods=20, air_temperature=np.full(20, 3.0))
    times = daily["time"].to_index()[[15, 19]]  # 2020-04-04 and 2020-04-08
    ef = align_factors(daily, times)
    assert ef["thawing_degree_days"].attrs["source"] == "air_temperature"
    np.testing.assert_allclose(ef["thawing_degree_days"], [12.0, 24.0])
    with pytest.raises(ValueError, match="degree_day_source=None"):
        align_factors(_daily(periods=20, precipitation=np.ones(20)), times)


def test_uncovered_dates_are_listed():
    """Acquisitions outside the factor dates (or with no valid value) are named in the error."""
    daily = _daily(periods=20, air_temperature=np.ones(20))
    times = pd.DatetimeIndex(["2020-03-25", "2020-04-05", "2020-04-20", "2020-05-02"])
    with pytest.raises(ValueError, match=r"2 of the 4 acquisition dates: 2020-04-20 .*2020-05-02"):
        align_factors(daily, times, degree_day_source=None)
    values = np.ones(20)
    values[7:12] = np.nan  # the whole interval (03-27, 03-31]
    daily = _daily(periods=20, air_temperature=values)
    times = pd.DatetimeIndex(["2020-03-26", "2020-03-31"])
    with pytest.raises(ValueError, match=r"2020-03-31 \(air_temperature\)"):
        align_factors(daily, times, degree_day_source=None)


def test_gaps_inside_intervals_warn_and_scale_sums():
    """Missing days: means of the valid days, sums scaled to the interval length, a warning."""
    days = pd.date_range("2020-05-01", periods=20, freq="D").delete([12, 13])
    n = len(days)
    daily = xr.Dataset({"precipitation": ("time", np.full(n, 2.0)),
                        "air_temperature": ("time", np.arange(n, dtype=float))},
                       coords={"time": days})
    times = pd.DatetimeIndex(["2020-05-10", "2020-05-20"])
    with pytest.warns(UserWarning, match="precipitation: 1 intervals, 2 missing values"):
        ef = align_factors(daily, times, degree_day_source=None)
    np.testing.assert_allclose(ef["precipitation"], [20.0, 20.0])
    # Second interval keeps days 05-11, 05-12, 05-15..05-20 (values 10, 11, 12..17).
    np.testing.assert_allclose(ef["air_temperature"], [4.5, np.mean([10, 11, *range(12, 18)])])


def test_degree_days_bridge_temperature_gaps_with_warning():
    """A missing temperature day is interpolated (and said so) before accumulating."""
    values = np.full(20, 2.0)
    values[10] = np.nan
    daily = _daily("2020-04-01", periods=20, air_temperature=values)
    times = daily["time"].to_index()[[9, 19]]
    with pytest.warns(UserWarning) as record:
        ef = align_factors(daily, times)
    assert any("filled by linear interpolation" in str(w.message) for w in record)
    np.testing.assert_allclose(ef["thawing_degree_days"], [20.0, 40.0])


def test_first_interval_before_series_start_is_only_logged(caplog):
    """The first, conventional interval may start before the daily data without a warning."""
    daily = _daily("2020-05-01", periods=25, precipitation=np.ones(25))
    times = pd.DatetimeIndex(["2020-05-05", "2020-05-17"])
    with caplog.at_level(logging.INFO, logger="gler.data.align"):
        ef = align_factors(daily, times, degree_day_source=None)
    np.testing.assert_allclose(ef["precipitation"], [12.0, 12.0])
    assert "before the daily series" in caplog.text


def test_stack_style_daily_dim_and_per_pixel_factors():
    """Factors on dim 'day' named '<factor>_daily', with extra spatial dims, are aligned too."""
    days = pd.date_range("2020-04-01", periods=10, freq="D")
    # point 7 thaws every day; point 8 thaws on the first day only, then freezes
    temp = np.stack([np.full(10, 1.0), np.r_[1.0, np.full(9, -1.0)]], axis=1)  # [day, point]
    daily = xr.Dataset({"air_temperature_daily": (("day", "point"), temp)},
                       coords={"day": days, "point": [7, 8]})
    ef = align_factors(daily, days[[4, 9]])
    assert ef["air_temperature"].dims == ("time", "point")
    assert ef["air_temperature"].attrs["role"] == "factor"
    np.testing.assert_allclose(ef["thawing_degree_days"], [[5, 1], [10, 1]])
    np.testing.assert_allclose(ef["freezing_degree_days"], [[0, 4], [0, 9]])
    assert list(ef["point"].values) == [7, 8]


def test_subdaily_or_unsorted_input_is_refused():
    """Hourly factors and unsorted acquisition dates give clear errors."""
    hours = pd.date_range("2020-04-01", periods=48, freq="h")
    hourly = xr.Dataset({"air_temperature": ("time", np.ones(48))}, coords={"time": hours})
    with pytest.raises(ValueError, match="sub-daily"):
        align_factors(hourly, hours[[23, 47]])
    daily = _daily(periods=20, air_temperature=np.ones(20))
    with pytest.raises(ValueError, match="not sorted"):
        align_factors(daily, pd.DatetimeIndex(["2020-04-05", "2020-03-30"]))


def test_auto_degree_days_skip_without_temperature(caplog):
    """degree_day_source='auto': no temperature, no degree-days, one line naming the factors
    that would give them."""
    daily = _daily(periods=20, precipitation=np.ones(20))
    times = daily["time"].to_index()[[15, 19]]
    with caplog.at_level("WARNING"):
        ef = align_factors(daily, times, degree_day_source="auto")
    assert list(ef.data_vars) == ["precipitation"]
    assert "air_temperature" in caplog.text and "Stefan" in caplog.text
    with_temperature = _daily(periods=20, air_temperature=np.full(20, 3.0))
    ef = align_factors(with_temperature, times, degree_day_source="auto")
    assert ef["thawing_degree_days"].attrs["source"] == "air_temperature"
