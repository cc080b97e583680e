"""gler train --quantiles, gler predict --quantiles and gler evaluate --probabilistic of a
quantile run, on a tiny stack; each bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from gler.cli import main
from tests._pipeline_stack import make_stack

LEVELS = "0.05,0.1,0.25,0.5,0.75,0.9,0.95"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A gridded stack, a DLinear run with a quantile head and a harmonic (point) run."""
    root = tmp_path_factory.mktemp("quantile-cli")
    make_stack(ny=3, nx=4).to_netcdf(root / "grid.nc")
    common = ["--data", str(root / "grid.nc"), "--profile", "smoke", "--device", "cpu",
              "--epochs", "2", "--no-progress"]
    assert main(["train", *common, "--model", "dlinear", "--quantiles", LEVELS,
                 "--out", str(root / "quantile")]) == 0
    assert main(["train", *common, "--model", "harmonic", "--out", str(root / "point")]) == 0
    return root


def test_train_writes_a_quantile_run(files):
    """The levels are in run.json's model config, and only in the quantile run's."""
    record = json.loads((files / "quantile" / "run.json").read_text())
    assert record["model_config"]["quantiles"] == [float(q) for q in LEVELS.split(",")]
    assert "quantiles" not in json.loads((files / "point" / "run.json").read_text())[
        "model_config"]


def test_train_help_says_what_the_flag_does(capsys):
    """--quantiles in gler train --help: a quantile head, pinball loss, CQR."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--quantiles LEVELS" in text and "pinball" in text
    assert "conformalised quantile regression" in text


@pytest.mark.parametrize("asked", ["head", "0.1,0.5,0.9"])
def test_predict_writes_cqr_quantiles(files, tmp_path, capsys, asked):
    """All ('head') or some of the head's levels, calibrated by CQR, never crossing, their
    median the point forecast."""
    out = tmp_path / "q.nc"
    assert main(["predict", "--run", str(files / "quantile"), "--data", str(files / "grid.nc"),
                 "--issues", "test", "--device", "cpu", "--no-progress", "--quantiles", asked,
                 "--out", str(out)]) == 0
    assert "by CQR of its quantile head" in capsys.readouterr().out
    with xr.open_dataset(out) as fc:
        q = fc["forecast_quantile"]
        levels = LEVELS.split(",") if asked == "head" else asked.split(",")
        assert fc["quantile"].values.tolist() == [float(v) for v in levels]
        assert "conformalised quantile regression" in q.attrs["comment"]
        assert (q.diff("quantile").fillna(0) >= 0).all()
        np.testing.assert_array_equal(q.sel(quantile=0.5).values, fc["forecast"].values)
        assert "forecast_head_quantile" not in fc


def test_alert_uses_the_cqr_distribution_of_a_quantile_run(files, tmp_path, capsys):
    """gler alert of the quantile run: probabilities from its CQR-calibrated quantiles, and the
    printed line and the file say so."""
    out = tmp_path / "alerts.nc"
    assert main(["alert", "--run", str(files / "quantile"), "--data", str(files / "grid.nc"),
                 "--threshold-mm", "1", "--steps", "2", "--issues", "test", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert "calibrated by CQR of its quantile head on" in capsys.readouterr().out
    with xr.open_dataset(out) as alerts:
        assert alerts.attrs["calibration"] == "cqr"
        prob = alerts["alert_probability"]
        assert "quantile head calibrated by CQR" in prob.attrs["comment"]
        assert 0 <= float(prob.min()) and float(prob.max()) <= 1


def test_evaluate_scores_a_quantile_run_by_cqr(files, tmp_path, capsys):
    """The quantile run's entry (``dlinear+quantiles``) says cqr and has per-step coverage;
    the baselines' say split-conformal."""
    out = tmp_path / "e.json"
    assert main(["evaluate", "--run", str(files / "quantile"), "--data",
                 str(files / "grid.nc"), "--device", "cpu", "--baselines", "none",
                 "--probabilistic", "--out", str(out)]) == 0
    models = json.loads(out.read_text())["models"]
    assert models["dlinear+quantiles"]["calibration"] == "cqr"
    assert models["persistence"]["calibration"] == "split-conformal"
    prob = models["dlinear+quantiles"]["probabilistic"]
    assert prob["crps"] > 0 and len(prob["coverage"]["0.9"]) == 6
    assert "probabilistic" in models["dlinear+quantiles"]["clean"]
    assert "(cqr)" in capsys.readouterr().out


@pytest.mark.parametrize(("command", "message"), [
    (["train", "--model", "dlinear", "--quantiles", "0.1,0.9"], "needs the median 0.5"),
    (["train", "--model", "dlinear", "--quantiles", "0.1,0.5,0.8"], "symmetric about 0.5"),
    (["train", "--model", "dlinear", "--quantiles", "0,0.5,1"], "strictly between 0 and 1"),
    (["train", "--model", "dlinear", "--quantiles", "0.9,0.5,0.1"], "must increase"),
    (["train", "--model", "harmonic", "--quantiles", LEVELS], "has no quantile head"),
    (["predict", "--run", "point", "--quantiles", "head"],
     "needs a run with a quantile head; this one gives point forecasts. Train one with gler "
     "train --quantiles"),
    (["predict", "--run", "quantile", "--quantiles", "0.3,0.5"], "not 0.3"),
])
def test_bad_input_is_one_line_exit_2(files, tmp_path, capsys, command, message):
    """Each bad input: exit status 2, one line naming what to do, nothing written."""
    out = tmp_path / ("o.nc" if command[0] == "predict" else "run")
    argv = [*command, "--data", str(files / "grid.nc"), "--out", str(out)]
    if command[0] == "predict":
        argv[2] = str(files / command[2])
    else:
        argv += ["--profile", "smoke", "--device", "cpu", "--epochs", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not (out / "best.pt").exists()
