"""gler predict --quantiles, gler evaluate --probabilistic and gler alert, on a tiny stack."""

from __future__ import annotations

import json

import pandas as pd
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
