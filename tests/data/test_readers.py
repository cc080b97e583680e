"""Tests for gler.data.readers: small files in each product's documented layout, read back."""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler.cli._inputs import add_data_arguments, open_inputs
from gler.data.readers import READERS, Reader, detect_format, open_stack

DATES = ["20180104", "20180116", "20180128"]
TIMES = pd.to_datetime(DATES, format="%Y%m%d")


def _cube(seed: int = 0) -> np.ndarray:
    """[3 dates, 2 rows, 4 cols] displacement, zero on the first date."""
    values = np.random.default_rng(seed).normal(size=(3, 2, 4)).astype(np.float32)
    values[0] = 0
    return values


def _write_mintpy(path, values_m, dates=DATES, geocoded=True):
    with h5py.File(path, "w") as f:
        f.create_dataset("timeseries", data=values_m)
        f.create_dataset("date", data=np.array([d.encode() for d in dates]))
        f.create_dataset("bperp", data=np.zeros(len(dates), dtype=np.float32))
        f.attrs.update(FILE_TYPE="timeseries", UNIT="m", REF_Y="1", REF_X="2",
                       LENGTH=str(values_m.shape[1]), WIDTH=str(values_m.shape[2]))
        if geocoded:
            f.attrs.update(X_FIRST="100.0", X_STEP="0.1", Y_FIRST="38.0", Y_STEP="-0.1")


def test_mintpy_metres_become_millimetres(tmp_path):
    """MintPy timeseries.h5 in metres reads as float32 mm with dates, lat/lon and reference."""
    values = _cube() / 1000  # metres
    path = tmp_path / "timeseries.h5"
    _write_mintpy(path, values)
    assert detect_format(path) == "mintpy"
    ds = open_stack(path)
    assert ds["displacement"].dims == ("time", "y", "x")
    assert ds["displacement"].dtype == np.float32
    assert ds["displacement"].attrs["units"] == "mm"
    np.testing.assert_allclose(ds["displacement"], values * 1000, rtol=1e-6)
    assert list(ds["time"].values) == list(TIMES.values)
    np.testing.assert_allclose(ds["lat"], [37.95, 37.85])
    np.testing.assert_allclose(ds["lon"], [100.05, 100.15, 100.25, 100.35])
    assert (ds.attrs["reference_y"], ds.attrs["reference_x"]) == (1, 2)


def test_mintpy_geometry_file_gives_2d_lat_lon(tmp_path):
    """A radar-coded MintPy stack takes lat/lon from geometryRadar.h5."""
    path, geom = tmp_path / "timeseries.h5", tmp_path / "geometryRadar.h5"
    _write_mintpy(path, _cube() / 1000, geocoded=False)
    lat = np.full((2, 4), 37.6)
    with h5py.File(geom, "w") as f:
        f.create_dataset("latitude", data=lat)
        f.create_dataset("longitude", data=lat + 64.3)
    ds = open_stack(path, geometry=geom)
    assert ds["lat"].dims == ("y", "x")
    np.testing.assert_allclose(ds["lon"], 101.9)


def test_mintpy_unsorted_dates_and_unknown_units_are_refused(tmp_path):
    """Out-of-order dates and an unknown UNIT give clear errors."""
    path = tmp_path / "timeseries.h5"
    _write_mintpy(path, _cube() / 1000, dates=["20180104", "20180128", "20180116"])
    with pytest.raises(ValueError, match="not sorted"):
        open_stack(path)
    _write_mintpy(path, _cube() / 1000)
    with h5py.File(path, "a") as f:
        f.attrs["UNIT"] = "radian"
    with pytest.raises(ValueError, match="Unknown displacement units 'radian'"):
        open_stack(path)


def test_licsbas_cum_h5(tmp_path):
    """LiCSBAS cum.h5 (mm, imdates, corner/post lat-lon, refarea) reads as a grid in mm."""
    values = _cube(1)
    values[:, 0, 0] = np.nan  # a masked pixel stays in the grid
    path = tmp_path / "cum.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("cum", data=values)
        f.create_dataset("imdates", data=np.array([int(d) for d in DATES], dtype=np.int32))
        f.create_dataset("vel", data=np.zeros((2, 4), dtype=np.float32))
        f.create_dataset("corner_lat", data=37.7)
        f.create_dataset("corner_lon", data=101.8)
        f.create_dataset("post_lat", data=-0.001)
        f.create_dataset("post_lon", data=0.001)
        f.create_dataset("refarea", data="2:3/1:2")
    assert detect_format(path) == "licsbas"
    ds = open_stack(path)
    np.testing.assert_allclose(ds["displacement"], values)
    assert list(ds["time"].values) == list(TIMES.values)
    np.testing.assert_allclose(ds["lat"], [37.7, 37.699])
    np.testing.assert_allclose(ds["lon"], [101.8, 101.801, 101.802, 101.803])
    assert ds.attrs["reference_area"] == "2:3/1:2"
    assert ds["displacement"].isnull().all("time").sum() == 1


def test_egms_csv_points_in_mm_and_all_nan_point_dropped_with_warning(tmp_path):
    """EGMS CSV: pid/latitude/longitude columns, date columns in mm; empty points warned."""
    table = pd.DataFrame({
        "pid": ["1AbC", "2DeF", "3GhI"], "mp_type": ["MP", "MP", "MP"],
        "latitude": [37.6, 37.61, 37.62], "longitude": [101.9, 101.91, 101.92],
        "height": [3300.0, 3301.0, 3302.0], "mean_velocity": [-3.1, 0.5, 1.0],
        "20180104": [0.0, 0.0, np.nan], "20180116": [-1.5, 0.7, np.nan],
        "20180128": [-2.5, 1.1, np.nan],
    })
    path = tmp_path / "EGMS_L2a_088_0297_IW2_VV.csv"
    table.to_csv(path, index=False)
    assert detect_format(path) == "egms"
    with pytest.warns(UserWarning, match="dropped 1 of 3 points"):
        ds = open_stack(path)
    assert ds["displacement"].dims == ("time", "point")
    assert list(ds["point"].values) == ["1AbC", "2DeF"]
    np.testing.assert_allclose(ds["displacement"].sel(point="1AbC"), [0.0, -1.5, -2.5])
    np.testing.assert_allclose(ds["lat"], [37.6, 37.61])
    np.testing.assert_allclose(ds["mean_velocity"], [-3.1, 0.5])
    assert list(ds["time"].values) == list(TIMES.values)


def test_wide_csv_needs_units_and_converts_them(tmp_path):
    """A generic wide table (point rows, ISO date columns) needs units= and converts cm to mm."""
    path = tmp_path / "wide.csv"
    pd.DataFrame({"id": [5, 6], "lat": [1.0, 2.0], "lon": [3.0, 4.0],
                  "2018-01-04": [0.0, 0.0], "2018-01-16": [0.5, -0.2],
                  "2018-01-28": [1.0, -0.4]}).to_csv(path, index=False)
    assert detect_format(path) == "csv-wide"
    with pytest.raises(ValueError, match="units='mm'"):
        open_stack(path)
    ds = open_stack(path, units="cm")
    np.testing.assert_allclose(ds["displacement"].sel(point=6), [0.0, -2.0, -4.0])
    with pytest.raises(ValueError, match="Unknown displacement units 'inch'"):
        open_stack(path, units="inch")


def test_wide_csv_duplicated_dates_are_refused(tmp_path):
    """Two columns for the same date are an error, not a silent merge."""
    path = tmp_path / "wide.csv"
    path.write_text("point,20180104,2018-01-04,20180116\nA,0,0,1\n")
    with pytest.raises(ValueError, match="duplicates: 2018-01-04"):
        open_stack(path, format="csv-wide", units="mm")


def test_long_csv_pivot(tmp_path):
    """A long table (point, date, value) in any row order reads as (time, point)."""
    path = tmp_path / "long.csv"
    rows = [("B", "2018-01-16", 2.0), ("A", "2018-01-04", 0.0), ("B", "2018-01-04", 0.0),
            ("A", "2018-01-16", -1.0), ("A", "2018-01-28", -3.0)]
    pd.DataFrame(rows, columns=["point", "date", "value"]).to_csv(path, index=False)
    assert detect_format(path) == "csv-long"
    ds = open_stack(path, units="mm")
    assert list(ds["point"].values) == ["A", "B"]
    np.testing.assert_allclose(ds["displacement"].sel(point="A"), [0.0, -1.0, -3.0])
    np.testing.assert_allclose(ds["displacement"].sel(point="B"), [0.0, 2.0, np.nan])
    pd.DataFrame([*rows, ("A", "2018-01-28", 9.0)],
                 columns=["point", "date", "value"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"repeat a \(point, date\) pair, e.g. point A on "
                                         "2018-01-28"):
        open_stack(path, units="mm")


def test_netcdf_and_zarr_in_the_data_model_round_trip(tmp_path):
    """Stores written from a stack read back equal; a store in metres is refused."""
    stack = xr.Dataset(
        {"displacement": (("time", "y", "x"), _cube(), {"units": "mm"}),
         "air_temperature": ("time", np.array([1.0, 2.0, 3.0]), {"units": "degC"})},
        coords={"time": TIMES, "y": [0, 1], "x": [0, 1, 2, 3]})
    stack.to_netcdf(tmp_path / "stack.nc")
    stack.to_zarr(tmp_path / "stack.zarr", consolidated=False)
    for name, kw in (("stack.nc", {}), ("stack.zarr", {"consolidated": False})):
        ds = open_stack(tmp_path / name, **kw)
        xr.testing.assert_allclose(ds.load(), stack)
    stack["displacement"].attrs["units"] = "m"
    stack.to_netcdf(tmp_path / "metres.nc")
    with pytest.raises(ValueError, match="has units 'm'"):
        open_stack(tmp_path / "metres.nc")


def test_unknown_formats_are_refused(tmp_path):
    """Unknown suffixes, HDF5 of another kind and bad format= names are clear errors."""
    (tmp_path / "x.tif").write_bytes(b"II*\x00")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        open_stack(tmp_path / "x.tif")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("velocity", data=np.zeros(2))
    with pytest.raises(ValueError, match="holds: velocity"):
        open_stack(tmp_path / "other.h5")
    with pytest.raises(ValueError, match="Unknown format 'gamma'"):
        open_stack(tmp_path / "other.h5", format="gamma")
    with pytest.raises(FileNotFoundError):
        open_stack(tmp_path / "missing.h5")


def test_a_new_format_is_one_read_function_and_one_table_entry(tmp_path, monkeypatch):
    """A format registered in READERS is detected, read by open_stack and offered by --format."""
    values = np.array([[0.0, 0.0], [1.5, -2.0], [3.0, -4.5]])

    def read_npy(path, *, units, date_format):
        ds = xr.Dataset({"displacement": (("time", "point"), np.load(path), {"units": "mm"})},
                        coords={"time": TIMES, "point": ["a", "b"]})
        return ds, "mm (the npy convention)"

    monkeypatch.setitem(READERS, "npy", Reader(lambda path: path.suffix == ".npy", read_npy,
                                               "a NumPy array of (time, point) in mm"))
    path = tmp_path / "stack.npy"
    np.save(path, values)
    assert detect_format(path) == "npy"
    ds = open_stack(path)
    np.testing.assert_array_equal(ds["displacement"], values)
    assert ds.attrs["source_format"] == "npy"
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    assert "npy (a NumPy array of (time, point) in mm)" in parser.format_help()
    stack = open_inputs(parser.parse_args(["--data", str(path), "--format", "npy"]))
    xr.testing.assert_identical(stack, ds)
    with pytest.raises(ValueError, match=r"Known formats: mintpy, .*, npy \(--format\)"):
        open_stack(path, format="gamma")
