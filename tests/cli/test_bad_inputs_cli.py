"""Nothing silently wrong: each bad or hostile input of the reliability audit, through the CLI.

Every case exits with status 2 and one line ``gler <command>: error: ...`` that says what is
wrong and which flag or fix to use; where a flag makes the input legitimate, the flag works.
"""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from _point_tables import point_table

from gler.cli import main

DATES = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
N_POINTS = 12


def _table(seed: int = 0) -> pd.DataFrame:
    """A wide point table: pid, latitude, longitude, one column per date (mm)."""
    return point_table(DATES, N_POINTS, np.random.default_rng(seed))


def _factors(kelvin: bool = False) -> pd.DataFrame:
    days = pd.date_range(DATES[0] - pd.Timedelta(days=30), DATES[-1], freq="D")
    temp = -4 + 12 * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365.25)
    precip = np.random.default_rng(1).gamma(0.3, 3.0, len(days))
    return pd.DataFrame({"date": days.strftime("%Y-%m-%d"),
                         "air_temperature": (temp + (273.15 if kelvin else 0)).round(2),
                         "precipitation": precip.round(2)})


class Planted:
    """A pickle payload: unpickling it would create ``path`` (code execution)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Clean inputs and a one-epoch smoke run trained on them through the CLI."""
    root = tmp_path_factory.mktemp("site")
    _table().to_csv(root / "points.csv", index=False)
    _factors().to_csv(root / "factors.csv", index=False)
    data = ["--data", str(root / "points.csv"), "--units", "mm",
            "--factors", str(root / "factors.csv")]
    assert main(["train", *data, "--profile", "smoke", "--epochs", "1", "--no-progress",
                 "--out", str(root / "run")]) == 0
    return root, data


def _fails(capsys, argv, *fragments):
    """``argv`` exits 2 with one error line holding every fragment; returns that line."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith(f"gler {argv[0]}: error:")]
    assert len(errors) == 1 and err[-1] == errors[0], err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _copy_run(site, tmp_path):
    root, _ = site
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    return run


# -- 1. implausible displacements ------------------------------------------------------------

def test_one_huge_cell_is_refused_and_mask_masks_it(site, tmp_path, capsys):
    """One 1e30 mm cell: train and predict refuse it by date and point; --outliers mask works."""
    root, _ = site
    table = _table()
    table.loc[3, DATES[40].strftime("%Y%m%d")] = 1e30
    table.to_csv(tmp_path / "bad.csv", index=False)
    data = ["--data", str(tmp_path / "bad.csv"), "--units", "mm",
            "--factors", str(root / "factors.csv")]
    _fails(capsys, ["train", *data, "--profile", "smoke", "--out", str(tmp_path / "r")],
           "implausible", f"{DATES[40].date()} at point=P3", "--outliers mask")
    assert not (tmp_path / "r").exists()
    _fails(capsys, ["predict", "--run", str(root / "run"), *data, "--issues", "last",
                    "--out", str(tmp_path / "f.nc")], "implausible", "--units")
    assert main(["predict", "--run", str(root / "run"), *data, "--issues", "last",
                 "--outliers", "mask", "--out", str(tmp_path / "f.nc")]) == 0
    forecast = xr.open_dataset(tmp_path / "f.nc")["forecast"].values
    assert np.isfinite(forecast).all() and np.abs(forecast).max() < 200


def test_a_lasting_jump_cannot_be_masked(site, tmp_path, capsys):
    """A 5 m step (not a spike) is refused even with --outliers mask."""
    root, _ = site
    table = _table()
    table.loc[2, DATES[60:].strftime("%Y%m%d")] += 5000
    table.to_csv(tmp_path / "step.csv", index=False)
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "step.csv"),
                    "--units", "mm", "--factors", str(root / "factors.csv"), "--outliers",
                    "mask", "--out", str(tmp_path / "f.nc")], "a step, not a spike")


# -- 2. dates -----------------------------------------------------------------------------------

def _long(table: pd.DataFrame, date_format: str) -> pd.DataFrame:
    long = table.melt(id_vars=["pid", "latitude", "longitude"], var_name="date",
                      value_name="displacement")
    long["date"] = pd.to_datetime(long["date"], format="%Y%m%d").dt.strftime(date_format)
    return long


def test_day_month_dates_need_date_format(site, tmp_path, capsys):
    """DD/MM/YYYY dates are refused with the fix; --date-format %d/%m/%Y reads them right."""
    root, _ = site
    _long(_table(), "%d/%m/%Y").to_csv(tmp_path / "long.csv", index=False)
    argv = ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "long.csv"),
            "--units", "mm", "--factors", str(root / "factors.csv"), "--issues", "last",
            "--out", str(tmp_path / "f.nc")]
    _fails(capsys, argv, "not an ISO 8601 date", "--date-format '%d/%m/%Y'")
    assert main([*argv, "--date-format", "%d/%m/%Y"]) == 0
    target = pd.Timestamp(xr.open_dataset(tmp_path / "f.nc").target_time.values[0, 0])
    assert target == DATES[-1] + pd.Timedelta(days=12)


def test_ambiguous_dates_name_both_orders(site, tmp_path, capsys):
    """Dates that read either way (all parts up to 12) are refused naming both formats."""
    root, _ = site
    path = tmp_path / "amb.csv"
    pd.DataFrame({"point": ["A"] * 3, "date": ["01/02/2018", "03/04/2018", "05/06/2018"],
                  "displacement": [0.0, 1.0, 2.0]}).to_csv(path, index=False)
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(path), "--units", "mm",
                    "--out", str(tmp_path / "f.nc")], "'%d/%m/%Y'", "'%m/%d/%Y'", "line 2")


def test_factor_dates_in_day_month_order_are_refused(site, tmp_path, capsys):
    """A daily factor table with DD/MM/YYYY dates is refused (no silent swap of day and month)."""
    root, _ = site
    factors = _factors()
    factors["date"] = pd.to_datetime(factors["date"]).dt.strftime("%d/%m/%Y")
    factors.to_csv(tmp_path / "factors.csv", index=False)
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(root / "points.csv"),
                    "--units", "mm", "--factors", str(tmp_path / "factors.csv"),
                    "--out", str(tmp_path / "f.nc")], "--date-format")


# -- 3. units -----------------------------------------------------------------------------------

def test_point_csv_with_pid_needs_units(site, tmp_path, capsys):
    """A pid wide CSV is not taken as EGMS mm: --units is required (or --format egms)."""
    root, _ = site
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(root / "points.csv"),
                    "--factors", str(root / "factors.csv"), "--out", str(tmp_path / "f.nc")],
           "--units mm", "--format egms")
    assert main(["predict", "--run", str(root / "run"), "--data", str(root / "points.csv"),
                 "--format", "egms", "--factors", str(root / "factors.csv"), "--issues", "last",
                 "--out", str(tmp_path / "f.nc")]) == 0


def test_netcdf_in_metres_labelled_mm_is_refused(site, tmp_path, capsys):
    """A NetCDF whose 'mm' values are metres is refused; --units mm confirms real mm."""
    root, _ = site
    values = _table().iloc[:, 3:].to_numpy().T / 1000  # metres
    ds = xr.Dataset({"displacement": (("time", "point"), values, {"units": "mm"})},
                    coords={"time": DATES, "point": [f"P{i}" for i in range(N_POINTS)]})
    ds.to_netcdf(tmp_path / "metres.nc")
    argv = ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "metres.nc"),
            "--factors", str(root / "factors.csv"), "--issues", "last",
            "--out", str(tmp_path / "f.nc")]
    _fails(capsys, argv, "look like metres", "--units mm")
    assert main([*argv, "--units", "mm"]) == 0
    _fails(capsys, [*argv, "--units", "m", "--force"], "does not apply to netcdf")


def test_kelvin_temperatures_are_refused(site, tmp_path, capsys):
    """air_temperature in kelvin under a °C column is refused and said."""
    root, _ = site
    _factors(kelvin=True).to_csv(tmp_path / "factors.csv", index=False)
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(root / "points.csv"),
                    "--units", "mm", "--factors", str(tmp_path / "factors.csv"),
                    "--out", str(tmp_path / "f.nc")], "kelvin", "air_temperature")


def test_monthly_factors_are_named_as_such(site, tmp_path, capsys, caplog):
    """A factor table with one row per month is read as monthly, spread to days and said so
    (never taken as daily values, never refused as 'not covered')."""
    root, _ = site
    factors = _factors()
    factors[pd.to_datetime(factors["date"]).dt.day == 1].to_csv(tmp_path / "monthly.csv",
                                                                  index=False)
    argv = ["predict", "--run", str(root / "run"), "--data", str(root / "points.csv"),
            "--units", "mm", "--factors", str(tmp_path / "monthly.csv"), "--issues", "last",
            "--no-progress", "--out", str(tmp_path / "f.nc")]
    with caplog.at_level("WARNING"):
        assert main(argv) == 0
    said = [r.getMessage() for r in caplog.records if "monthly.csv" in r.getMessage()]
    assert any("every 31 days" in m and "spread to daily values" in m for m in said), said


# -- 4. CSV shape ---------------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda text: text.replace("pid,", "", 1), ("line 2", "one column shifted")),
    (lambda text: text.replace(",", ";"), ("';'", "line 1")),
    (lambda text: text.replace("\nP1,", "\nP1,,", 1), ("line 3", "155 fields")),
])
def test_csv_shape_errors_are_named(site, tmp_path, capsys, edit, fragments):
    """A short header, ';' separators, ragged rows: named with file and line, never shifted."""
    root, _ = site
    path = tmp_path / "bad.csv"
    path.write_text(edit((root / "points.csv").read_text()))
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(path), "--units", "mm",
                    "--out", str(tmp_path / "f.nc")], str(path), *fragments)


def test_non_numeric_and_decimal_comma_cells_are_named(site, tmp_path, capsys):
    """A word or a quoted decimal comma in a value cell: file, line and column named."""
    root, _ = site
    table = _table().astype({DATES[5].strftime("%Y%m%d"): object})
    column = DATES[5].strftime("%Y%m%d")
    table.loc[4, column] = "n/a?"
    table.to_csv(tmp_path / "word.csv", index=False)
    base = ["predict", "--run", str(root / "run"), "--units", "mm",
            "--out", str(tmp_path / "f.nc")]
    _fails(capsys, [*base, "--data", str(tmp_path / "word.csv")],
           "line 6", f"column '{column}'", "'n/a?' is not a number")
    table.loc[4, column] = "1,5"
    table.to_csv(tmp_path / "comma.csv", index=False)
    _fails(capsys, [*base, "--data", str(tmp_path / "comma.csv")], "line 6", "decimal comma")


def test_long_table_without_point_column_says_so(site, tmp_path, capsys):
    """A long table whose point column has another name: the message names the missing column."""
    root, _ = site
    _long(_table(), "%Y-%m-%d").rename(columns={"pid": "station"}).to_csv(
        tmp_path / "long.csv", index=False)
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "long.csv"),
                    "--units", "mm", "--out", str(tmp_path / "f.nc")], "no point column")


def test_hdf5_of_another_product_is_named(site, tmp_path, capsys):
    """--format mintpy on a LiCSBAS file says it is not a MintPy timeseries (no h5py jargon)."""
    root, _ = site
    with h5py.File(tmp_path / "cum.h5", "w") as f:
        f.create_dataset("cum", data=np.zeros((3, 2, 2), dtype=np.float32))
    _fails(capsys, ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "cum.h5"),
                    "--format", "mintpy", "--out", str(tmp_path / "f.nc")],
           "not a MintPy timeseries.h5", "holds: cum")


# -- 5. outputs -------------------------------------------------------------------------------

def test_all_nan_inputs_and_forecasts_are_errors(site, tmp_path, capsys):
    """An all-NaN stack, NaN in the last 20 dates with --issues last, --batch-size -1."""
    root, data = site
    run = str(root / "run")
    table = _table()
    table.iloc[:, 3:] = np.nan
    table.to_csv(tmp_path / "empty.csv", index=False)
    _fails(capsys, ["train", "--data", str(tmp_path / "empty.csv"), "--units", "mm",
                    "--factors", str(root / "factors.csv"), "--profile", "smoke",
                    "--out", str(tmp_path / "r")], "no point has a displacement value")
    table = _table()
    table.iloc[:, -20:] = np.nan
    table.to_csv(tmp_path / "late.csv", index=False)
    _fails(capsys, ["predict", "--run", run, "--data", str(tmp_path / "late.csv"), "--units",
                    "mm", "--factors", str(root / "factors.csv"), "--issues", "last",
                    "--out", str(tmp_path / "f.nc")], "Every forecast is NaN",
           f"issue date {DATES[-1].date()}")
    assert not (tmp_path / "f.nc").exists()
    _fails(capsys, ["predict", "--run", run, *data, "--batch-size", "-1",
                    "--out", str(tmp_path / "f.nc")], "--batch-size -1")


def test_some_pixels_without_forecast_respect_max_nan_fraction(site, tmp_path, capsys):
    """Half the points without a forecast: an error naming them, unless the flag allows it."""
    root, _ = site
    table = _table()
    table.iloc[:6, -20:] = np.nan
    table.to_csv(tmp_path / "half.csv", index=False)
    argv = ["predict", "--run", str(root / "run"), "--data", str(tmp_path / "half.csv"),
            "--units", "mm", "--factors", str(root / "factors.csv"), "--issues", "last",
            "--out", str(tmp_path / "f.nc")]
    _fails(capsys, [*argv, "--max-nan-fraction", "0.25"], "6 of 12 observed pixels",
           "point (P0)", "--max-nan-fraction")
    assert main(argv) == 0  # 50 % is within the default


def test_outputs_never_destroy_run_files_inputs_or_existing_files(site, tmp_path, capsys):
    """evaluate/predict refuse a run's own files and inputs; existing files need --force."""
    root, data = site
    run = _copy_run(site, tmp_path)
    record = (run / "run.json").read_text()
    for name in ("run.json", "best.pt", "checkpoint.pt", "scaler.json"):
        _fails(capsys, ["evaluate", "--run", str(run), *data, "--out", str(run / name),
                        "--force"], "only gler train writes")
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(run / "best.pt")],
           "only gler train writes")
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(run), "--force"],
           "is a run directory")
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.txt")],
           "unknown output format")
    _fails(capsys, ["evaluate", "--run", str(run), *data, "--out", str(tmp_path / "e.json"),
                    "--maps", str(root / "points.csv"), "--force"], "is an input")
    assert (run / "run.json").read_text() == record
    (tmp_path / "f.nc").write_text("keep me")
    _fails(capsys, ["predict", "--run", str(run), *data, "--issues", "last",
                    "--out", str(tmp_path / "f.nc")], "exists", "--force")
    assert (tmp_path / "f.nc").read_text() == "keep me"
    assert main(["predict", "--run", str(run), *data, "--issues", "last", "--force",
                 "--out", str(tmp_path / "f.nc")]) == 0
    assert main(["evaluate", "--run", str(run), *data, "--out",
                 str(run / "evaluation.json")]) == 0
    assert (run / "run.json").read_text() == record
    assert main(["predict", "--run", str(run), *data, "--issues", "last",
                 "--out", str(tmp_path / "g.nc")]) == 0


# -- 6 and 7. run files ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["best.pt", "checkpoint.pt"])
def test_planted_pickle_is_refused_and_never_runs(site, tmp_path, capsys, name):
    """A run file that unpickles to code: train (resume), predict, evaluate and inspect refuse
    it, and the code never runs."""
    from gler.inspect import seasonal_attention  # noqa: F401 (inspect loads runs by load_run)
    from gler.run import load_run

    _, data = site
    run = _copy_run(site, tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"model": Planted(marker)}, run / name)
    commands = [["train", *data, "--profile", "smoke", "--epochs", "1", "--no-progress",
                 "--out", str(run)]]
    if name == "best.pt":
        commands += [["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
                     ["evaluate", "--run", str(run), *data, "--out", str(tmp_path / "e.json")]]
    for argv in commands:
        _fails(capsys, argv, f"{run / name}", "refused unread")
    if name == "best.pt":
        with pytest.raises(ValueError, match="refused unread"):
            load_run(run)  # what gler.inspect and the book use
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_damaged_run_files_are_refused_with_the_remedy(site, tmp_path, capsys, damage):
    """Random or truncated best.pt / checkpoint.pt: one line naming the file and the remedy."""
    _, data = site
    run = _copy_run(site, tmp_path)
    for name in ("best.pt", "checkpoint.pt"):
        raw = (run / name).read_bytes()
        (run / name).write_bytes(np.random.default_rng(0).bytes(2000) if damage == "random"
                                 else raw[:len(raw) // 2])
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
           f"{run / 'best.pt'} is damaged", "retrain")
    _fails(capsys, ["train", *data, "--profile", "smoke", "--epochs", "1", "--no-progress",
                    "--out", str(run)], f"{run / 'checkpoint.pt'} is damaged", "delete it")


def test_run_of_another_size_and_edited_version_are_refused(site, tmp_path, capsys):
    """A run.json that does not match best.pt, or a gler_version from another release."""
    _, data = site
    run = _copy_run(site, tmp_path)
    record = json.loads((run / "run.json").read_text())
    edited = json.loads(json.dumps(record))
    edited["model_config"]["d_model"] = 2 * edited["model_config"]["d_model"]
    (run / "run.json").write_text(json.dumps(edited))
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
           "does not fit the model described in", "retrain with that config")
    (run / "run.json").write_text(json.dumps({**record, "gler_version": "9.9.0"}))
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
           "written by gler 9.9.0", "Retrain")
    (run / "run.json").write_text('{"format": 1, "gler')
    _fails(capsys, ["evaluate", "--run", str(run), *data, "--out", str(tmp_path / "e.json")],
           "run.json is damaged")
    (run / "run.json").write_text(json.dumps(record))
    (run / "scaler.json").write_text('{"scale": 1.3e29, "factor_mean": [], "factor_std": [], '
                                     '"factors": []}')
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
           "scaler.json holds a displacement scale of 1.3e+29", "Retrain")
    (run / "scaler.json").write_text("not json")
    _fails(capsys, ["predict", "--run", str(run), *data, "--out", str(tmp_path / "f.nc")],
           "scaler.json is damaged")


def test_own_checkpoints_load_with_weights_only(site):
    """The project's own checkpoint.pt and best.pt hold only tensors and plain values."""
    root, _ = site
    for name in ("checkpoint.pt", "best.pt"):
        assert torch.load(root / "run" / name, weights_only=True)
