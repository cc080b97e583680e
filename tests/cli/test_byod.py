"""'Bring your own data' as users have it: each shape runs train, evaluate and predict end to
end from the command line (smoke profile, one epoch), and each bad input gets one line that
names the flag to use."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler.cli import main
from gler.data.calendar import CALENDAR_FACTORS

pytestmark = pytest.mark.slow

#: A Python keyword suggested in a message (``units=``), not a flag (``--units``).
PYTHON_KEYWORD = re.compile(r"(?<![\w-])[a-z_]+=")
FAST = ["--profile", "smoke", "--epochs", "1", "--no-progress"]


def _series(dates: pd.DatetimeIndex, n: int, seed: int = 0) -> np.ndarray:
    """[n, T] mm: a velocity, an annual cycle and noise per point."""
    rng = np.random.default_rng(seed)
    years = ((dates - dates[0]).days / 365.25).to_numpy()
    return (rng.uniform(-12, 0, (n, 1)) * years
            + rng.uniform(2, 6, (n, 1)) * np.sin(2 * np.pi * years)
            + rng.normal(0, 0.5, (n, len(dates))))


def _wide(path, dates, n=5, scale=1.0, ids=True, seed=0):
    """A csv-wide table (points x dates) in mm / ``scale``, without coordinates."""
    table = pd.DataFrame((_series(dates, n, seed) / scale).round(5),
                         columns=dates.strftime("%Y%m%d"))
    if ids:
        table.insert(0, "pid", [f"P{i}" for i in range(n)])
    table.to_csv(path, index=False)
    return path


def _daily(dates, **columns):
    days = pd.date_range(dates[0] - pd.Timedelta(days=40), dates[-1], freq="D")
    rng = np.random.default_rng(1)
    values = {"date": days.strftime("%Y-%m-%d")}
    for name in columns:
        if name == "precipitation":
            values[name] = rng.gamma(0.3, 3.0, len(days)).round(2)
        else:
            values[name] = (-4 + 12 * np.cos(2 * np.pi * (days.day_of_year - 200) / 365.25)
                            ).round(2)
    return pd.DataFrame(values)


def _pipeline(tmp_path, data, *, train=(), evaluate=(), model="gler"):
    """train -> evaluate -> predict --issues last; the run record, report and forecast."""
    run = str(tmp_path / f"run-{model}")
    assert main(["train", *data, *FAST, "--model", model, *train, "--out", run]) == 0
    assert main(["evaluate", "--run", run, *data, *evaluate,
                 "--out", str(tmp_path / "eval.json")]) == 0
    assert main(["predict", "--run", run, *data, "--issues", "last", "--no-progress",
                 "--out", str(tmp_path / "next.nc")]) == 0
    record = json.loads((tmp_path / f"run-{model}" / "run.json").read_text())["sample"]
    report = json.loads((tmp_path / "eval.json").read_text())
    with xr.open_dataset(tmp_path / "next.nc") as forecast:
        forecast = forecast.load()
    return record, report, forecast


def test_points_without_coordinates_nor_factors(tmp_path, caplog):
    """A pid-only table and no factor: GLER runs on calendar features (said), Stefan is left
    out with the factor that would enable it, the linear trend is scored."""
    dates = pd.date_range("2018-01-06", "2021-12-20", freq="12D")
    data = ["--data", str(_wide(tmp_path / "points.csv", dates)), "--units", "mm"]
    with caplog.at_level(logging.WARNING):
        record, report, forecast = _pipeline(tmp_path, data)
    assert record["factors"] == list(CALENDAR_FACTORS)
    assert "calendar features" in caplog.text
    assert {"gler", "persistence", "linear-trend", "harmonic"} <= set(report["models"])
    assert "temperature" in report["left_out"]["stefan"]
    assert forecast.forecast.dims == ("issue_time", "horizon", "point")
    assert np.isfinite(forecast.forecast.values).all()


def test_single_pixel_long_table_in_metres_split_by_fraction(tmp_path, capsys):
    """One series (date, value) in m, the last 20 % of dates as the test period."""
    dates = pd.date_range("2017-03-01", periods=140, freq="12D")
    values = _series(dates, 1)[0] / 1000
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "displacement": values}).to_csv(
        tmp_path / "one.csv", index=False)
    data = ["--data", str(tmp_path / "one.csv"), "--units", "m"]
    split = ["--test-fraction", "0.2"]
    record, report, forecast = _pipeline(tmp_path, data, train=split, evaluate=split)
    assert report["n_pixels"] == 1
    test_start = pd.Timestamp(report["split_dates"]["val_end"])
    assert (dates > test_start).sum() == 28  # 20 % of 140 dates
    assert {k: record[k] for k in ("train_end", "val_end")} == report["split_dates"]
    assert forecast.forecast.shape == (1, 6, 1)
    # The forecast is back in mm, near the last observation (metres x 1000).
    assert abs(float(forecast.forecast[0, 0, 0]) - values[-1] * 1000) < 20
    assert "mean" not in capsys.readouterr().err


def test_monthly_grid_in_cm_continues_the_calendar(tmp_path):
    """A monthly (1st of the month) gridded NetCDF in the data model, converted from cm:
    forecast target dates are the next months' 1st, seasonal naive (12 a year) is scored."""
    dates = pd.date_range("2015-01-01", periods=96, freq="MS")
    disp = _series(dates, 9).T.reshape(len(dates), 3, 3).astype("float32")
    stack = xr.Dataset({"displacement": (("time", "y", "x"), disp, {"units": "mm"})},
                       coords={"time": dates, "y": [0.0, 1.0, 2.0], "x": [0.0, 1.0, 2.0]})
    stack.to_netcdf(tmp_path / "monthly.nc")
    cm = tmp_path / "monthly-cm.csv"
    _wide(cm, dates, n=4, scale=10.0)
    shape = ["--window", "12", "--horizon", "3"]
    _, report, forecast = _pipeline(tmp_path, ["--data", str(tmp_path / "monthly.nc")],
                                    train=shape, evaluate=())
    assert "seasonal-naive" in report["models"]
    assert pd.DatetimeIndex(forecast.target_time.values[0]).tolist() == [
        pd.Timestamp("2023-01-01"), pd.Timestamp("2023-02-01"), pd.Timestamp("2023-03-01")]
    (tmp_path / "cm").mkdir()
    _, report, forecast = _pipeline(tmp_path / "cm", ["--data", str(cm), "--units", "cm"],
                                    train=shape)
    assert forecast.forecast.dims[-1] == "point"
    assert pd.Timestamp(forecast.target_time.values[0, 0]) == pd.Timestamp("2023-01-01")


def test_weekly_points_in_metres_leave_seasonal_naive_out(tmp_path, capsys):
    """Weekly sampling: a year (52 dates) does not fit L = 30, so seasonal naive is left out
    and said; the last 20 dates test."""
    dates = pd.date_range("2019-01-02", periods=160, freq="7D")
    data = ["--data", str(_wide(tmp_path / "weekly.csv", dates, scale=1000.0)), "--units", "m"]
    split = ["--test-dates", "20"]
    _, report, _ = _pipeline(tmp_path, data, train=split, evaluate=split)
    assert "seasonal-naive" in report["left_out"]
    assert "seasonal-naive" not in report["models"]
    assert "linear-trend" in report["models"]
    assert "left out: seasonal-naive" in capsys.readouterr().out


def test_rain_only_table(tmp_path, caplog):
    """A daily table with precipitation only: no degree-days (said, naming the factor that
    enables them), GLER trains on the rain, persistence trains too, Stefan is left out."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    _daily(dates, precipitation=True).to_csv(tmp_path / "rain.csv", index=False)
    data = ["--data", str(_wide(tmp_path / "points.csv", dates)), "--units", "mm",
            "--factors", str(tmp_path / "rain.csv")]
    with caplog.at_level(logging.WARNING):
        record, report, _ = _pipeline(tmp_path, data)
    assert record["factors"] == ["precipitation"]
    assert "No daily temperature" in caplog.text and "air_temperature" in caplog.text
    assert "stefan" in report["left_out"]
    assert main(["train", *data, "--model", "persistence", "--profile", "smoke",
                 "--out", str(tmp_path / "persistence")]) == 0


def test_per_point_factor_table(tmp_path, caplog):
    """A long factor table (date, pid, factors) gives each point its own factors (said);
    Stefan gets per-point degree-days."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    points = _wide(tmp_path / "points.csv", dates, n=4)
    rows = []
    for i in range(4):
        table = _daily(dates, air_temperature=True, precipitation=True)
        table["air_temperature"] += i
        rows.append(table.assign(site=f"P{i}"))
    pd.concat(rows).to_csv(tmp_path / "point-factors.csv", index=False)
    data = ["--data", str(points), "--units", "mm", "--factors",
            str(tmp_path / "point-factors.csv"), "--factors-point-column", "site"]
    with caplog.at_level(logging.WARNING):
        record, report, _ = _pipeline(tmp_path, data)
    assert "per-point factors" in caplog.text
    assert "air_temperature" in record["factors"]
    assert "stefan" in report["models"]


def test_per_point_factors_in_the_stack_are_used(tmp_path, caplog):
    """A point NetCDF with a factor on (time, point) and no role attribute: used, and said."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    disp = _series(dates, 4).T.astype("float32")
    temp = np.cos(2 * np.pi * dates.day_of_year.to_numpy() / 365.25)[:, None] + np.arange(4)
    stack = xr.Dataset({"displacement": (("time", "point"), disp, {"units": "mm"}),
                        "soil_moisture": (("time", "point"), 0.2 + 0.01 * temp,
                                          {"units": "m3 m-3"})},
                       coords={"time": dates, "point": ["a", "b", "c", "d"]})
    stack.to_netcdf(tmp_path / "stack.nc")
    with caplog.at_level(logging.WARNING):
        record, _, _ = _pipeline(tmp_path, ["--data", str(tmp_path / "stack.nc")])
    assert record["factors"] == ["soil_moisture"]
    assert "per-point factors soil_moisture used" in caplog.text


def test_factors_none_drops_the_stack_factors(tmp_path):
    """--factors none on a stack with factors: the neural model gets the calendar only."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    disp = _series(dates, 4).T.reshape(len(dates), 2, 2).astype("float32")
    stack = xr.Dataset({"displacement": (("time", "y", "x"), disp, {"units": "mm"}),
                        "air_temperature": ("time", np.cos(np.arange(len(dates)) / 5.0),
                                            {"units": "degC"})},
                       coords={"time": dates, "y": [0.0, 1.0], "x": [0.0, 1.0]})
    stack.to_netcdf(tmp_path / "grid.nc")
    record, _, _ = _pipeline(tmp_path, ["--data", str(tmp_path / "grid.nc"), "--factors",
                                        "none"], model="gru")
    assert record["factors"] == list(CALENDAR_FACTORS)


def test_baselines_alone_need_no_run(tmp_path, capsys):
    """gler evaluate without --run scores the classical baselines on the chosen split."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    data = ["--data", str(_wide(tmp_path / "points.csv", dates)), "--units", "mm"]
    assert main(["evaluate", *data, "--test-dates", "30", "--window", "20",
                 "--out", str(tmp_path / "b.json")]) == 0
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["window"] == 20 and report["runs"] == {}
    assert {"persistence", "linear-trend", "harmonic"} <= set(report["models"])
    assert "baselines alone" in capsys.readouterr().out


def test_seeds_give_mean_and_std(tmp_path, capsys):
    """Two seeds of a model: evaluate prints their mean ± std."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    data = ["--data", str(_wide(tmp_path / "points.csv", dates)), "--units", "mm"]
    runs = []
    for seed in (0, 1):
        runs.append(str(tmp_path / f"seed{seed}"))
        assert main(["train", *data, *FAST, "--model", "dlinear", "--seed", str(seed),
                     "--out", runs[-1]]) == 0
    assert main(["evaluate", "--run", *runs, *data, "--out", str(tmp_path / "e.json")]) == 0
    assert re.search(r"dlinear: RMSE [\d.]+ ± [\d.]+ mm over 2 runs", capsys.readouterr().out)


def test_run_that_failed_before_its_first_epoch_is_reported(tmp_path, capsys, monkeypatch):
    """A run whose training failed before an epoch: predict and evaluate give the reason."""
    from gler.data.scaling import Scaler

    def fail(*args, **kwargs):
        msg = "the scale cannot be set"
        raise ValueError(msg)

    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    data = ["--data", str(_wide(tmp_path / "points.csv", dates)), "--units", "mm"]
    monkeypatch.setattr(Scaler, "fit", classmethod(fail))
    assert main(["train", *data, *FAST, "--out", str(tmp_path / "r")]) == 2
    monkeypatch.undo()
    capsys.readouterr()
    for command in (["predict", "--out", str(tmp_path / "p.nc")],
                    ["evaluate", "--out", str(tmp_path / "e.json")]):
        assert main([*command, "--run", str(tmp_path / "r"), *data]) == 2
        err = capsys.readouterr().err
        assert "failed before its first epoch" in err and "the scale cannot be set" in err


# -- bad input: one clear line naming the flag -------------------------------------------------

def _error(argv, capsys) -> str:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert not PYTHON_KEYWORD.search(err), err
    return err


def test_bad_inputs_name_the_flags(tmp_path, capsys):
    """Each mistake: one line, the flag to use, no Python keyword."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    points = str(_wide(tmp_path / "points.csv", dates))
    out = ["--out", str(tmp_path / "r")]
    # No units for a generic table (an EGMS-like one with a pid column is in mm).
    bare = str(_wide(tmp_path / "bare.csv", dates, ids=False))
    assert "--units mm" in _error(["train", "--data", bare, *FAST, *out], capsys)
    # A factor column without units; the message has no stray braces.
    table = _daily(dates, precipitation=True).assign(rain2=1.0)
    table.to_csv(tmp_path / "f.csv", index=False)
    err = _error(["train", "--data", points, "--units", "mm", "--factors",
                  str(tmp_path / "f.csv"), *FAST, *out], capsys)
    assert "--factor-units" in err and "--factor-rename" in err and "}}" not in err
    # A temperature named for the degree-days that is not there.
    err = _error(["train", "--data", points, "--units", "mm", "--factors",
                  str(tmp_path / "f.csv"), "--factor-units", "rain2=mm",
                  "--degree-days-from", "t_ground", *FAST, *out], capsys)
    assert "--degree-days-from" in err and "t_ground" in err
    # Point ids that do not match the data's (a few are listed).
    table = _daily(dates, air_temperature=True)
    pd.concat([table.assign(pid=f"X{i}") for i in range(2)]).to_csv(tmp_path / "pp.csv",
                                                                    index=False)
    err = _error(["train", "--data", points, "--units", "mm", "--factors",
                  str(tmp_path / "pp.csv"), *FAST, *out], capsys)
    assert "P0" in err and "X0" in err
    # Duplicate dates in a factor table.
    table = _daily(dates, precipitation=True)
    pd.concat([table, table.iloc[:3]]).sort_values("date").to_csv(tmp_path / "dup.csv",
                                                                 index=False)
    assert "duplicates" in _error(["train", "--data", points, "--units", "mm", "--factors",
                                   str(tmp_path / "dup.csv"), *FAST, *out], capsys)
    # A split given twice.
    assert "--test-fraction" in _error(["train", "--data", points, "--units", "mm",
                                        "--test-fraction", "0.2", "--val-end", "2021-12-31",
                                        *FAST, *out], capsys)
    # An option out of range.
    assert "--pixel-fraction" in _error(["train", "--data", points, "--units", "mm",
                                         "--pixel-fraction", "2", *FAST, *out], capsys)


def test_partial_and_coarse_factor_tables_are_said_and_used(tmp_path, caplog):
    """A factor table covering part of the period is filled from its climatology and a
    monthly one is spread to days; both are said, and training runs."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    points = str(_wide(tmp_path / "points.csv", dates))
    table = _daily(dates, air_temperature=True, precipitation=True)
    table[table["date"] >= "2019-06-01"].to_csv(tmp_path / "late.csv", index=False)
    monthly = table.assign(month=table["date"].str[:7]).groupby("month").agg(
        air_temperature=("air_temperature", "mean"), precipitation=("precipitation", "sum"))
    monthly.index = [f"{m}-01" for m in monthly.index]
    monthly.rename_axis("date").reset_index().to_csv(tmp_path / "monthly.csv", index=False)
    for name, said in (("late.csv", "day-of-year climatology"),  # names the first date
                       ("late.csv", "2018-01-06"),
                       ("monthly.csv", "spread to daily values")):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main(["train", "--data", points, "--units", "mm", "--factors",
                         str(tmp_path / name), *FAST, "--model", "dlinear",
                         "--out", str(tmp_path / f"run-{name}")]) == 0
        assert said in caplog.text


def test_factor_netcdf_in_data_model_names(tmp_path):
    """A factor NetCDF with data-model names (not ERA5 short names) is read."""
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    points = str(_wide(tmp_path / "points.csv", dates))
    table = _daily(dates, air_temperature=True, precipitation=True)
    ds = xr.Dataset({"air_temperature": ("time", table["air_temperature"].to_numpy(),
                                         {"units": "degC"}),
                     "precipitation": ("time", table["precipitation"].to_numpy(),
                                       {"units": "mm"})},
                    coords={"time": pd.to_datetime(table["date"])})
    ds.to_netcdf(tmp_path / "factors.nc")
    assert main(["train", "--data", points, "--units", "mm", "--factors",
                 str(tmp_path / "factors.nc"), "--model", "stefan", "--profile", "smoke",
                 "--out", str(tmp_path / "r")]) == 0
    record = json.loads((tmp_path / "r" / "run.json").read_text())["sample"]
    assert {"air_temperature", "precipitation", "thawing_degree_days"} <= set(record["factors"])


def test_help_states_the_straddle_rule_and_the_new_options(capsys):
    """train and evaluate --help give the split options and the straddle rule."""
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "straddle a cut are dropped" in out
        for option in ("--test-fraction", "--val-fraction", "--test-dates", "--factor-units",
                       "--factors-point-column", "--degree-days-from"):
            assert option in out, (command, option)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "--no-progress" in capsys.readouterr().out


def test_cli_words_turn_keywords_into_flags():
    """The library's keyword suggestions read as flags."""
    from gler.cli._inputs import FACTOR_FLAGS, STACK_FLAGS, cli_words

    assert cli_words("x.csv: pass units='mm' (or 'cm', 'm') to open_stack.",
                     STACK_FLAGS) == "x.csv: pass --units mm (or cm, m)."
    text = cli_words("Give their units with units={column: unit} (names after rename=), "
                     "rename= them, or choose the columns to read with columns=.", FACTOR_FLAGS)
    assert "--factor-units NAME=UNIT,..." in text and "--factor-rename" in text
    assert "--factor-columns" in text and not PYTHON_KEYWORD.search(text)
