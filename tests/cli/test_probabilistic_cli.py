"""gler predict --quantiles, gler evaluate --probabilistic and gler alert, on a tiny stack."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr

from gler.cli import main
from tests._pipeline_stack import make_stack


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A gridded and a point stack, and a harmonic run (config only: no training)."""
    root = tmp_path_factory.mktemp("prob")
    make_stack(ny=3, nx=4).to_netcdf(root / "grid.nc")
    make_stack(ny=3, nx=4, points=True).to_netcdf(root / "points.nc")
    assert main(["train", "--data", str(root / "grid.nc"), "--model", "harmonic",
                 "--profile", "smoke", "--out", str(root / "run")]) == 0
    return root


def test_predict_writes_calibrated_quantiles(files, tmp_path):
    """Quantile variables with CF attributes next to the point forecast."""
    out = tmp_path / "q.nc"
    assert main(["predict", "--run", str(files / "run"), "--data", str(files / "grid.nc"),
                 "--issues", "last", "--quantiles", "0.05,0.5,0.95", "--out", str(out)]) == 0
    with xr.open_dataset(out) as fc:
        assert fc["forecast_quantile"].dims == ("quantile", "issue_time", "horizon", "y", "x")
        assert fc["forecast_quantile"].attrs["units"] == "mm"
        assert fc["quantile"].attrs["units"] == "1"
        assert "calibration_period" in fc.attrs


def test_evaluate_reports_probabilistic_scores(files, tmp_path, capsys):
    """Every model of the report gets CRPS and per-step coverage, vs the clean signal too."""
    out = tmp_path / "e.json"
    assert main(["evaluate", "--run", str(files / "run"), "--data", str(files / "grid.nc"),
                 "--probabilistic", "--out", str(out)]) == 0
    models = json.loads(out.read_text())["models"]
    for entry in models.values():
        assert entry["probabilistic"]["crps"] > 0
        assert len(entry["probabilistic"]["coverage"]["0.9"]) == 6
        for cover, (low, high) in zip(entry["probabilistic"]["coverage"]["0.9"],
                                      entry["probabilistic"]["coverage_interval"]["0.9"],
                                      strict=True):
            assert low <= cover <= high
        assert "probabilistic" in entry["clean"]
    printed = capsys.readouterr().out
    assert "CRPS" in printed and "nominal inside the 95 % interval over dates: 50% at" in printed


def test_alert_writes_netcdf_and_a_csv_for_points(files, tmp_path, capsys):
    """Point data: probabilities in NetCDF and the alerted points in a CSV beside it."""
    out = tmp_path / "alerts.nc"
    assert main(["alert", "--run", str(files / "run"), "--data", str(files / "points.nc"),
                 "--threshold-mm", "2", "--steps", "3", "--issues", "test",
                 "--probability", "0.6", "--out", str(out)]) == 0
    with xr.open_dataset(out) as alerts:
        assert alerts["alert_probability"].dims == ("issue_time", "point")
        assert {"lat", "lon"} <= set(alerts["alert_probability"].coords)
    table = pd.read_csv(out.with_suffix(".csv"))
    assert {"point", "lat", "lon", "alert_probability"} <= set(table.columns)
    assert (table["alert_probability"] >= 0.6).all()
    out = capsys.readouterr().out
    assert "point alert(s)" in out and "calibrated by split conformal on" in out


@pytest.mark.parametrize(("command", "message"), [
    (["predict", "--quantiles", "0.05,1.5"], "--quantiles): give levels strictly between"),
    (["predict", "--quantiles", "0.9,0.1"], "--quantiles) must increase"),
    (["predict", "--quantiles", "0.0001,0.5"],
     "points at step 1; the 0.0001 quantile needs at least 9999"),
    (["alert", "--threshold-mm", "-10", "--steps", "3"], "--threshold-mm -10: give the "),
    (["alert", "--threshold-mm", "0.01", "--steps", "3"], "give millimetres"),
    (["alert", "--threshold-mm", "10", "--steps", "12"], "--steps 12: the run forecasts 6"),
    (["alert", "--threshold-mm", "10", "--steps", "2", "--probability", "2"],
     "--probability 2"),
])
def test_bad_input_is_one_line_exit_2(files, tmp_path, capsys, command, message):
    """Each bad input: exit status 2 and one line naming the flag."""
    argv = [*command, "--run", str(files / "run"), "--data", str(files / "grid.nc"),
            "--out", str(tmp_path / "o.nc")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.nc").exists()


def _alert(data, out, *extra):
    return main(["alert", "--run", str(data.parent / "run"), "--data", str(data),
                 "--threshold-mm", "2", "--steps", "3", "--issues", "test", "--out", str(out),
                 *extra])


def test_alert_geotiff_holds_the_netcdf_probabilities_on_the_map(files, tmp_path, capsys):
    """GeoTIFF: one band per issue date named by its date, north up, in the grid's CRS, each
    pixel where the grid's lat/lon put it, with the NetCDF's probabilities pixel for pixel."""
    rioxarray = pytest.importorskip("rioxarray")
    rasterio = pytest.importorskip("rasterio")
    grid = xr.open_dataset(files / "grid.nc").load()
    grid = grid.assign_coords(x=grid["x"] + 450_000.0, y=grid["y"] + 3_850_000.0)
    utm = pyproj.Transformer.from_crs("EPSG:32646", "EPSG:4326", always_xy=True)
    lon, lat = utm.transform(*np.meshgrid(grid["x"], grid["y"]))
    grid = grid.assign_coords(lat=(("y", "x"), lat), lon=(("y", "x"), lon))
    grid.attrs["crs"] = "EPSG:32646"
    data = tmp_path / "grid.nc"
    grid.to_netcdf(data)
    (tmp_path / "run").symlink_to(files / "run")
    assert _alert(data, tmp_path / "a.nc") == 0
    assert _alert(data, tmp_path / "a.tif") == 0
    assert "GeoTIFF: the probability, one band per issue date" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "a.nc") as alerts, \
            rioxarray.open_rasterio(tmp_path / "a.tif") as raster:
        prob = alerts["alert_probability"]
        assert raster.rio.crs.to_epsg() == 32646
        assert raster.sizes["band"] == prob.sizes["issue_time"] > 1
        dates = [str(t)[:10] for t in prob["issue_time"].values]
        assert list(raster.attrs["long_name"]) == dates
        assert float(raster.attrs["threshold_mm"]) == 2 and int(raster.attrs["steps"]) == 3
        assert raster.attrs["calibration"] == alerts.attrs["calibration"]
        assert np.isnan(raster.rio.nodata)
        assert np.diff(raster["y"].values).max() < 0  # north up
        np.testing.assert_array_equal(raster["x"].values, prob["x"].values)
        np.testing.assert_array_equal(raster["y"].values, prob["y"].values[::-1])
        np.testing.assert_array_equal(raster.values, prob.values[:, ::-1])
        assert np.isnan(raster.values[:, -1, 0]).all()  # the lake pixel (y=0, x=0): no data
        row, col = np.meshgrid(np.arange(raster.sizes["y"]), np.arange(raster.sizes["x"]),
                               indexing="ij")
        with rasterio.open(tmp_path / "a.tif") as tif:
            x, y = tif.xy(row.ravel(), col.ravel())  # pixel centres, as GIS tools place them
            placed = np.array(utm.transform(x, y))
        where = np.array([alerts["lon"].values[::-1].ravel(), alerts["lat"].values[::-1].ravel()])
        np.testing.assert_allclose(placed, where, rtol=0, atol=1e-9)


def test_alert_geotiff_refuses_what_it_cannot_place(files, tmp_path, capsys, monkeypatch):
    """Points, a grid without a CRS, an uneven grid, a grid one pixel wide and a missing
    rioxarray: exit 2 before any forecast, one line saying what to write instead."""
    grid = xr.open_dataset(files / "grid.nc").load()
    uneven = grid.assign_coords(x=[0.0, 30.0, 60.0, 100.0])
    uneven.attrs["crs"] = "EPSG:32646"
    uneven.to_netcdf(tmp_path / "uneven.nc")
    narrow = uneven.isel(x=[0])
    narrow.to_netcdf(tmp_path / "narrow.nc")
    cases = [(files / "points.nc", "these data are points; write a NetCDF"),
             (files / "grid.nc", "the grid has no coordinate reference system"),
             (tmp_path / "uneven.nc", "the grid's x is unevenly spaced (steps 30 to 40)"),
             (tmp_path / "narrow.nc", "the grid has one pixel along x")]
    for data, message in cases:
        assert main(["alert", "--run", str(files / "run"), "--data", str(data),
                     "--threshold-mm", "2", "--steps", "3", "--out",
                     str(tmp_path / "a.tif")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "--out" in err and len(err.splitlines()) == 1, err
    grid.attrs["crs"] = "EPSG:32646"
    grid.to_netcdf(tmp_path / "utm.nc")
    monkeypatch.setitem(sys.modules, "rioxarray", None)
    assert main(["alert", "--run", str(files / "run"), "--data", str(tmp_path / "utm.nc"),
                 "--threshold-mm", "2", "--steps", "3", "--out", str(tmp_path / "a.tif")]) == 2
    assert "pip install 'gler[geotiff]'" in capsys.readouterr().err
    assert not (tmp_path / "a.tif").exists()
