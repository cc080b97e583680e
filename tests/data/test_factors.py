"""Tests for gler.data.factors: CSV and ERA5-Land factor files to daily data-model factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler.data.factors import open_factors, to_factor_units


def test_csv_with_rename_and_units(tmp_path):
    """Any column names: rename to data-model names, units converted (m/day -> mm)."""
    path = tmp_path / "met.csv"
    pd.DataFrame({"Date": ["2020/1/1", "2020/1/2", "2020/1/3"], "T2mMean": [-5.0, -4.0, 1.5],
                  "TPMean": [0.001, 0.0, 0.0025], "note": ["a", "b", "c"]}).to_csv(path,
                                                                                   index=False)
    ef = open_factors(path, rename={"T2mMean": "air_temperature", "TPMean": "precipitation"},
                      units={"precipitation": "m/day"})
    assert list(ef.data_vars) == ["air_temperature", "precipitation"]
    np.testing.assert_allclose(ef["precipitation"], [1.0, 0.0, 2.5])
    assert ef["precipitation"].attrs == {"units": "mm", "aggregation": "sum",
                                         "long_name": "total precipitation (daily total)"}
    assert ef["air_temperature"].attrs["units"] == "degC"
    assert str(ef["time"].values[2])[:10] == "2020-01-03"


def test_csv_columns_without_units_are_refused(tmp_path):
    """A column that is neither a data-model name nor in units= is named in the error."""
    path = tmp_path / "met.csv"
    pd.DataFrame({"time": ["2020-01-01", "2020-01-02"], "stl1": [1.0, 2.0]}).to_csv(path,
                                                                                   index=False)
    with pytest.raises(ValueError, match="units unknown for columns stl1"):
        open_factors(path)
    ef = open_factors(path, units={"stl1": "K"})
    np.testing.assert_allclose(ef["stl1"], [-272.15, -271.15])
    with pytest.raises(ValueError, match="Unknown units 'furlong'"):
        open_factors(path, rename={"stl1": "air_temperature"},
                     units={"air_temperature": "furlong"})


def test_csv_duplicated_dates_are_refused(tmp_path):
    """Repeated dates in a factor table are an error."""
    path = tmp_path / "met.csv"
    path.write_text("date,air_temperature\n2020-01-01,1\n2020-01-01,2\n")
    with pytest.raises(ValueError, match="duplicates: 2020-01-01"):
        open_factors(path)


def _era5_hourly(days: int = 3) -> xr.Dataset:
    """ERA5-Land hourly layout: valid_time, latitude, longitude (0..360), K and m units."""
    times = pd.date_range("2020-07-01", periods=24 * days, freq="h")
    hours = np.arange(len(times))
    t2m = 273.15 + (hours // 24)[:, None, None] + np.zeros((1, 2, 2))  # day k: k degC
    t2m[:, 0, 1] += 10  # another cell, 10 degC warmer
    # 1 mm per hour on day 0, 2 mm per hour on day 1, ...; accumulated from 00 UTC.
    rate = (hours // 24 + 1) * 0.001
    step = times.hour.to_numpy()
    acc = np.where(step == 0, 24 * (hours // 24) * 0.001, step * rate)  # 00 UTC: previous day
    tp = acc[:, None, None] + np.zeros((1, 2, 2))
    ds = xr.Dataset(
        {"t2m": (("valid_time", "latitude", "longitude"), t2m, {"units": "K"}),
         "tp": (("valid_time", "latitude", "longitude"), tp, {"units": "m"}),
         "swvl1": (("valid_time", "latitude", "longitude"), np.full(t2m.shape, 0.3),
                   {"units": "m**3 m**-3"})},
        coords={"valid_time": times, "latitude": [37.7, 37.6], "longitude": [261.8, 261.9]})
    return ds


def test_era5_hourly_to_daily_with_accumulated_precipitation(tmp_path):
    """Hourly K -> daily mean degC; tp daily total = value at next 00 UTC, in mm."""
    path = tmp_path / "era5.nc"
    _era5_hourly().to_netcdf(path)
    with pytest.warns(UserWarning, match=r"daily totals left NaN .*'precipitation': 1"):
        ef = open_factors(path, lat=37.61, lon=-98.1)  # -98.1 E == 261.9 in 0..360
    assert ef.sizes["time"] == 3
    np.testing.assert_allclose(ef["air_temperature"], [0.0, 1.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(ef["precipitation"], [24.0, 48.0, np.nan])
    np.testing.assert_allclose(ef["soil_moisture"], 0.3)
    assert ef["soil_moisture"].attrs["units"] == "m3 m-3"
    assert ef["precipitation"].attrs["era5_name"] == "tp"


def test_era5_region_mean_and_missing_selection(tmp_path):
    """bbox averages the cells inside; a multi-cell file without a selection is refused."""
    path = tmp_path / "era5.nc"
    _era5_hourly(days=2).to_netcdf(path)
    with pytest.warns(UserWarning):
        ef = open_factors(path, bbox=(-98.25, 37.55, -98.05, 37.75))
    np.testing.assert_allclose(ef["air_temperature"], [2.5, 3.5], atol=1e-9)
    with pytest.raises(ValueError, match="2 x 2 grid cells"):
        open_factors(path)


def test_era5_daily_file(tmp_path):
    """Daily ERA5-Land values are kept per day (tp taken as the daily total in m)."""
    times = pd.date_range("2020-01-01", periods=4, freq="D")
    ds = xr.Dataset({"skt": ("time", np.array([263.15, 268.15, 273.15, 278.15])),
                     "tp": ("time", np.array([0.0, 0.002, 0.0, 0.001])),
                     "sde": ("time", np.array([0.1, 0.1, 0.05, 0.0]))},
                    coords={"time": times})
    ds.to_netcdf(tmp_path / "daily.nc")
    ef = open_factors(tmp_path / "daily.nc")
    np.testing.assert_allclose(ef["ground_surface_temperature"], [-10.0, -5.0, 0.0, 5.0])
    np.testing.assert_allclose(ef["precipitation"], [0.0, 2.0, 0.0, 1.0])
    np.testing.assert_allclose(ef["snow_depth"], [0.1, 0.1, 0.05, 0.0])


def test_unit_conversion_errors_and_unknown_format(tmp_path):
    """Units that cannot become the factor's units, and unknown formats, are clear errors."""
    with pytest.raises(ValueError, match="cannot be converted to 'degC'"):
        to_factor_units(np.ones(2), "m", "air_temperature")
    (tmp_path / "x.grib").write_bytes(b"GRIB")
    with pytest.raises(ValueError, match="Unknown factor format None"):
        open_factors(tmp_path / "x.grib")


def test_per_point_long_table(tmp_path):
    """A (date, point) table gives factors on (time, point), ids as text; repeats refused."""
    from gler.data.factors import match_points

    days = pd.date_range("2020-01-01", periods=3).strftime("%Y-%m-%d")
    rows = pd.DataFrame({"date": list(days) * 2, "site": [1] * 3 + [2] * 3,
                         "air_temperature": np.arange(6.0)})
    rows.to_csv(tmp_path / "pp.csv", index=False)
    ef = open_factors(tmp_path / "pp.csv", point_col="site")
    assert ef["air_temperature"].dims == ("time", "point")
    assert ef["air_temperature"].attrs["role"] == "factor"
    assert list(ef["point"].values) == ["1", "2"]
    stack = xr.Dataset({"displacement": (("time", "point"), np.zeros((3, 2)))},
                       coords={"point": [2, 1]})
    matched = match_points(ef, stack)
    np.testing.assert_allclose(matched["air_temperature"][:, 0], [3.0, 4.0, 5.0])
    wrong = stack.assign_coords(point=[7, 8])
    with pytest.raises(ValueError, match=r"no factors for 2 of the 2 points .*7, 8"):
        match_points(ef, wrong)
    pd.concat([rows, rows.iloc[:1]]).to_csv(tmp_path / "rep.csv", index=False)
    with pytest.raises(ValueError, match="repeat a"):
        open_factors(tmp_path / "rep.csv", point_col="site")


def test_netcdf_in_data_model_names_and_per_point(tmp_path):
    """A NetCDF with data-model names (units from attributes) and a (time, point) variable."""
    time = pd.date_range("2020-01-01", periods=4)
    ds = xr.Dataset({"precipitation": ("time", [1.0, 0.0, 2.0, 0.5], {"units": "mm"}),
                     "air_temperature": (("time", "point"), np.full((4, 2), 274.15),
                                         {"units": "K"}),
                     "junk": ("time", np.zeros(4))},
                    coords={"time": time, "point": ["a", "b"]})
    ds.to_netcdf(tmp_path / "f.nc")
    with pytest.warns(UserWarning, match="junk"):
        ef = open_factors(tmp_path / "f.nc")
    np.testing.assert_allclose(ef["air_temperature"], 1.0)
    assert ef["air_temperature"].dims == ("time", "point")
    assert ef["precipitation"].attrs["aggregation"] == "sum"


def test_coarse_factors_spread_and_partial_tables_filled():
    """Monthly sums are divided over their days; days outside a table get its climatology."""
    from gler.data.factors import cover_period, spread_to_daily

    monthly = xr.Dataset({"precipitation": ("time", [31.0, 58.0], {"aggregation": "sum"}),
                          "air_temperature": ("time", [1.0, 2.0], {"aggregation": "mean"})},
                         coords={"time": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    daily = spread_to_daily(monthly)
    assert float(daily["precipitation"].sel(time="2020-01-15")) == 1.0
    assert float(daily["air_temperature"].sel(time="2020-02-10")) == 2.0
    days = pd.date_range("2019-01-01", "2020-12-31")
    table = xr.Dataset({"air_temperature": ("time", days.day_of_year.to_numpy() * 1.0)},
                       coords={"time": days})
    times = pd.date_range("2018-06-01", "2021-03-01", freq="30D")
    filled = cover_period(table, times)
    assert float(filled["air_temperature"].sel(time="2018-06-10")) == 161.0
    assert not filled["air_temperature"].isnull().any()
    with pytest.raises(ValueError, match="at least 365 days"):
        cover_period(table.isel(time=slice(0, 100)), times)


def test_unit_error_has_no_stray_braces(tmp_path):
    """The message for columns without units reads cleanly."""
    pd.DataFrame({"date": ["2020-01-01"], "rain": [1.0]}).to_csv(tmp_path / "r.csv",
                                                                 index=False)
    with pytest.raises(ValueError, match="units unknown") as info:
        open_factors(tmp_path / "r.csv")
    assert "}}" not in str(info.value) and "units={column: unit}" in str(info.value)


def test_attach_factors_aligns_replaces_and_keeps_the_daily_series():
    """Per-point daily factors: aligned onto the stack's dates in its point order, a factor of
    the same name replaced, the daily series kept on dim day; gaps are errors unless filled."""
    from gler.data.align import align_factors
    from gler.data.factors import attach_factors

    days = pd.date_range("2020-01-01", periods=400, freq="D")
    temperature = np.stack([np.linspace(-5, 5, 400), np.linspace(5, -5, 400)], axis=1)
    daily = xr.Dataset({"air_temperature": (("time", "point"), temperature,
                                            {"units": "degC", "role": "factor"})},
                       coords={"time": days, "point": ["a", "b"]})
    times = days[[11, 23, 35, 47, 59]]
    stack = xr.Dataset({"displacement": (("time", "point"), np.zeros((5, 2), np.float32),
                                         {"units": "mm"}),
                        "air_temperature": (("time", "point"), np.zeros((5, 2)))},
                       coords={"time": times, "point": ["b", "a"]})
    out = attach_factors(stack, daily, keep_daily=True, degree_day_source="air_temperature")
    expected = align_factors(daily.sel(point=["b", "a"]), times,
                             degree_day_source="air_temperature")
    for name in expected.data_vars:
        np.testing.assert_array_equal(out[name], expected[name])
    assert list(out["point"].values) == ["b", "a"]
    np.testing.assert_array_equal(out["air_temperature_daily"].sel(point="a"), temperature[:, 0])
    assert out["air_temperature_daily"].dims == ("day", "point")
    late = stack.assign_coords(time=times + pd.Timedelta(days=400))
    with pytest.raises(ValueError, match="do not cover"):
        attach_factors(late, daily, degree_day_source=None)
    filled = attach_factors(late, daily, fill_from_climatology=True, degree_day_source=None)
    assert not filled["air_temperature"].isnull().any()
