"""``gler tune`` and ``gler train --tuned/--final-fit`` through the command line."""

from __future__ import annotations

import json

import pytest

from gler.cli import build_parser, main
from gler.run import read_run_record
from tests._pipeline_stack import make_stack

pytest.importorskip("optuna")
#: Short windows for the tiny stack.
SHORT = ["--window", "12", "--horizon", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-cli")
    make_stack(ny=3, nx=4).to_netcdf(root / "grid.nc")
    make_stack(ny=3, nx=4, seed=5).to_netcdf(root / "other.nc")
    return root


def test_every_option_of_gler_tune_has_help():
    """gler tune --help explains every option."""
    parser = build_parser()
    tune = next(action for action in parser._subparsers._group_actions
                if action.dest == "command").choices["tune"]
    missing = [action.option_strings for action in tune._actions if not action.help]
    assert missing == []
    text = tune.format_help()
    for option in ("--budget", "--folds", "--models", "--out", "smoke: 3 trials"):
        assert option in text


def test_tune_then_final_fit_with_the_tuned_settings(data, tmp_path, capsys):
    """gler tune writes tuned.json; gler train --tuned --final-fit trains the tuned epoch count
    on training and validation targets; other data are refused with the reason."""
    out = tmp_path / "tuned"
    assert main(["tune", "--data", str(data / "grid.nc"), "--models", "dlinear", "--profile",
                 "smoke", "--budget", "smoke", "--device", "cpu", "--no-progress", *SHORT,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dlinear:" in printed and "mm over the folds" in printed
    tuned = json.loads((out / "tuned.json").read_text())
    epochs = tuned["models"]["dlinear"]["epochs"]
    run = tmp_path / "run"
    assert main(["train", "--data", str(data / "grid.nc"), "--model", "dlinear", "--profile",
                 "smoke", "--tuned", str(out / "tuned.json"), "--final-fit", "--device", "cpu",
                 "--no-progress", *SHORT, "--out", str(run)]) == 0
    assert "final fit" in capsys.readouterr().out
    record = read_run_record(run)
    assert record["train_config"]["early_stopping"] is False
    assert record["train_config"]["epochs"] == epochs
    assert record["sample"]["train_end"] == record["sample"]["val_end"]
    assert main(["train", "--data", str(data / "other.nc"), "--model", "dlinear", "--profile",
                 "smoke", "--tuned", str(out / "tuned.json"), *SHORT,
                 "--out", str(tmp_path / "other")]) == 2
    assert "tuned on other data" in capsys.readouterr().err


def test_too_many_folds_is_one_line_naming_the_flag(data, tmp_path, capsys):
    """A fold without enough dates: exit 2 and the flags that fix it."""
    assert main(["tune", "--data", str(data / "grid.nc"), "--models", "dlinear", "--budget",
                 "smoke", "--folds", "9", *SHORT, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--folds" in err and "--window/--horizon" in err and len(err.splitlines()) == 1


def test_tune_quantile_heads_then_train_one(data, tmp_path, capsys):
    """gler tune --quantiles tunes the heads on the pinball loss; gler train --tuned with that
    file trains a head at those levels and refuses others, naming the flags."""
    out = tmp_path / "heads"
    common = ["--data", str(data / "grid.nc"), "--model", "dlinear", "--profile", "smoke",
              "--tuned", str(out / "tuned.json"), "--device", "cpu", "--no-progress", *SHORT]
    assert main(["tune", "--data", str(data / "grid.nc"), "--models", "dlinear", "--profile",
                 "smoke", "--budget", "smoke", "--device", "cpu", "--no-progress", *SHORT,
                 "--quantiles", "0.1,0.5,0.9", "--out", str(out)]) == 0
    assert "with a quantile head at 0.1,0.5,0.9 (pinball loss)" in capsys.readouterr().out
    assert json.loads((out / "tuned.json").read_text())["quantiles"] == [0.1, 0.5, 0.9]
    assert main(["train", *common, "--quantiles", "0.1,0.5,0.9",
                 "--out", str(tmp_path / "head")]) == 0
    assert read_run_record(tmp_path / "head")["model_config"]["quantiles"] == [0.1, 0.5, 0.9]
    capsys.readouterr()
    assert main(["train", *common, "--quantiles", "0.25,0.5,0.75",
                 "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert "tuned for a quantile head at 0.1,0.5,0.9" in err and "--quantiles" in err
    assert main(["tune", "--data", str(data / "grid.nc"), "--models", "dlinear", "--budget",
                 "smoke", "--quantiles", "0.1,0.9", *SHORT, "--out", str(tmp_path / "x")]) == 2
    assert "needs the median 0.5" in capsys.readouterr().err


def test_models_tuned_in_turns_from_the_command_line(data, tmp_path, capsys):
    """gler tune --jobs 1 --streams 2 tunes both models in this process, taking turns (the
    same choice as one at a time is tested in tests/test_tune.py); --streams 0 is refused."""
    out = tmp_path / "tuned"
    assert main(["tune", "--data", str(data / "grid.nc"), "--models", "dlinear,lstm",
                 "--profile", "smoke", "--budget", "smoke", "--device", "cpu", "--no-progress",
                 "--jobs", "1", "--streams", "2", *SHORT, "--out", str(out)]) == 0
    assert "2 models" in capsys.readouterr().out
    assert set(json.loads((out / "tuned.json").read_text())["models"]) == {"dlinear", "lstm"}
    with pytest.raises(SystemExit):
        main(["tune", "--data", str(data / "grid.nc"), "--streams", "0", "--out", str(out)])
    assert "--streams takes a positive number, not '0'" in capsys.readouterr().err
