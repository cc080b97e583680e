"""End to end through the command line: simulate -> train (smoke) -> predict -> evaluate."""

from __future__ import annotations

import json

import pytest
import xarray as xr

from gler.cli import main
from gler.profiles import get_profile


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """QTR-sim Beiluhe at the smoke size, written by 'gler simulate'."""
    path = tmp_path_factory.mktemp("pipeline") / "beiluhe.nc"
    size = get_profile("smoke").size
    assert main(["simulate", "--region", "beiluhe", "--size", str(size), "--out", str(path)]) == 0
    return path


@pytest.mark.slow
def test_train_predict_evaluate_and_gler_beats_persistence_and_harmonic(tmp_path, data, capsys):
    """The smoke run forecasts the scene and beats persistence and harmonic on 2022."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--profile", "smoke", "--device", "cpu",
                 "--no-progress", "--out", str(run)]) == 0
    assert main(["predict", "--run", str(run), "--data", str(data), "--issues", "test",
                 "--out", str(tmp_path / "forecast.nc")]) == 0
    fc = xr.open_dataset(tmp_path / "forecast.nc")
    assert fc.forecast.dims == ("issue_time", "horizon", "y", "x")
    assert str(fc.issue_time.values[0])[:4] >= "2021" and "lat" in fc.coords
    assert main(["evaluate", "--run", str(run), "--data", str(data),
                 "--maps", str(tmp_path / "maps.nc"), "--out", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    rmse = {name: entry["rmse"] for name, entry in report["models"].items()}
    printed = capsys.readouterr().out
    assert "noise floor" in printed
    assert rmse["gler"] < rmse["persistence"], rmse
    assert rmse["gler"] < rmse["harmonic"], rmse
    assert report["models"]["gler"]["rmse"] > report["noise_floor"]["rmse"]
    assert xr.open_dataset(tmp_path / "maps.nc")["rmse_gler"].dims == ("y", "x")


def test_classical_run_predicts_without_training(tmp_path, data):
    """A classical baseline 'trains' to a config-only run that predicts."""
    data = str(data)
    assert main(["train", "--data", data, "--model", "harmonic", "--profile", "smoke",
                 "--out", str(tmp_path / "harmonic")]) == 0
    assert sorted(p.name for p in (tmp_path / "harmonic").iterdir()) == ["run.json"]
    assert main(["predict", "--run", str(tmp_path / "harmonic"), "--data", data,
                 "--issues", "last", "--out", str(tmp_path / "h.zarr")]) == 0
    assert xr.open_dataset(tmp_path / "h.zarr", engine="zarr").sizes["issue_time"] == 1


def test_user_errors_are_one_line_exit_2(tmp_path, data, capsys):
    """Bad input through the CLI: a one-line message and exit status 2."""
    harmonic = tmp_path / "harmonic"
    assert main(["train", "--data", str(data), "--model", "harmonic", "--profile", "smoke",
                 "--out", str(harmonic)]) == 0
    data = str(data)
    bare = tmp_path / "bare.nc"
    xr.open_dataset(data)[["displacement"]].to_netcdf(bare)
    cases = [
        (["train", "--data", str(bare), "--profile", "smoke", "--no-calendar",
          "--out", str(tmp_path / "r")], "uses environmental factors"),
        (["train", "--data", data, "--profile", "smoke", "--window", "170", "--horizon", "20",
          "--out", str(tmp_path / "r2")], "needs at least 190"),
        (["train", "--data", data, "--profile", "smoke", "--horizon", "40",
          "--out", str(tmp_path / "r3")], "horizon reaches past the data"),
        (["train", "--data", data, "--profile", "nope", "--out", str(tmp_path / "r4")],
         "Unknown profile"),
        (["predict", "--run", str(tmp_path / "missing"), "--data", data, "--out",
          str(tmp_path / "x.nc")], "not a gler run directory"),
        (["evaluate", "--run", str(harmonic), "--data", data, "--baselines", "arima",
          "--out", str(tmp_path / "e.json")], "Unknown classical baseline"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_help_documents_every_option(capsys):
    """Each pipeline subcommand's help lists its options with text."""
    for command in ("train", "predict", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        for option in ("--data", "--factors", "--out"):
            assert option in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--model", "--profile", "--epochs", "--seed", "--device"):
        assert option in out
