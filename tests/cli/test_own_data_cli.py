"""'Bring your own data' through the command line: a point CSV plus a daily factor CSV."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr
from _point_tables import point_table

from gler.cli import main


def _write_inputs(root):
    """An EGMS-like wide CSV (points x dates, mm) and a daily factor CSV."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    days = pd.date_range(dates[0] - pd.Timedelta(days=30), dates[-1], freq="D")
    temp = -4 + 12 * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365.25)
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "air_temperature": temp.round(2),
                  "precipitation": rng.gamma(0.3, 3.0, len(days)).round(2)},
                 ).to_csv(root / "factors.csv", index=False)
    point_table(dates, 12, rng).to_csv(root / "points.csv", index=False)


def test_point_csv_with_factor_csv_end_to_end(tmp_path, capsys):
    """train -> predict (the next H dates) -> evaluate on a point table with daily factors."""
    _write_inputs(tmp_path)
    data = ["--data", str(tmp_path / "points.csv"), "--format", "csv-wide", "--units", "mm",
            "--factors", str(tmp_path / "factors.csv")]
    run = str(tmp_path / "run")
    assert main(["train", *data, "--profile", "smoke", "--epochs", "2", "--no-progress",
                 "--out", run]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())["sample"]
    # The smoke profile's driver factors that these data have (degree-days come from alignment).
    assert record["factors"] == ["air_temperature", "precipitation", "sqrt_thawing_degree_days",
                                 "sqrt_freezing_degree_days"]
    assert main(["predict", "--run", run, *data, "--issues", "last",
                 "--out", str(tmp_path / "next.nc")]) == 0
    fc = xr.open_dataset(tmp_path / "next.nc")
    assert fc.forecast.dims == ("issue_time", "horizon", "point")
    assert np.isfinite(fc.forecast.values).all()
    last = pd.Timestamp(pd.read_csv(tmp_path / "points.csv", nrows=1).columns[-1])
    assert pd.Timestamp(fc.target_time.values[0, 0]) == last + pd.Timedelta(days=12)
    assert main(["evaluate", "--run", run, *data, "--out", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert "noise_floor" not in report  # no clean signal in real data
    assert {"gler", "persistence", "harmonic", "stefan"} <= set(report["models"])
    # Without factors GLER gets calendar features (tests/cli/test_byod.py); with those turned
    # off too, the error names the flags that give it factors.
    without_factors = ["--data", str(tmp_path / "points.csv"), "--units", "mm", "--no-calendar"]
    assert main(["train", *without_factors, "--profile", "smoke",
                 "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "--factors" in err and "--no-calendar" in err
