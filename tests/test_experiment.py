"""Tests for gler.experiment: cache layout, reuse of finished runs, the tables of its
evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_profile import TINY

from gler.conformal import (
    coverage_interval,
    interval_bounds,
    interval_coverage,
    predict_quantiles,
)
from gler.experiment import Experiment, profile_key, runs_root
from gler.profiles import Profile
from gler.run import load_run
from gler.scoring import coverage_table
from gler.tables import (
    NOISE_FLOOR,
    horizon_scores,
    paper_table,
    scores,
    stability,
    tuned_table,
)
from gler.tune import PEERS_FILE


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return Experiment(TINY, root=tmp_path_factory.mktemp("runs"))


def test_runs_root_follows_the_environment(monkeypatch, tmp_path):
    """GLER_RUNS_DIR overrides the default cache root."""
    monkeypatch.setenv("GLER_RUNS_DIR", str(tmp_path))
    assert runs_root() == tmp_path
    monkeypatch.delenv("GLER_RUNS_DIR")
    assert runs_root().name == "runs"


def test_profile_key_changes_with_settings():
    """A different training setting gets a different cache directory; the device does not."""
    other = Profile(**{**TINY.__dict__, "train": TINY.train.replace(epochs=2)})
    moved = Profile(**{**TINY.__dict__, "train": TINY.train.replace(device="auto")})
    assert profile_key(TINY) != profile_key(other)
    assert profile_key(TINY) == profile_key(moved)
    assert profile_key(TINY).startswith("tiny-")


def test_stack_is_cached_on_disk(experiment):
    """The stack is simulated once and read back from NetCDF."""
    ds = experiment.stack("beiluhe")
    assert (experiment.path / "data" / "beiluhe.nc").is_file()
    assert ds.sizes["y"] == 12
    experiment._stacks.clear()
    again = experiment.stack("beiluhe")
    np.testing.assert_array_equal(ds["displacement"].values, again["displacement"].values)


def test_finished_run_is_reused(experiment):
    """A second train() call returns the saved summary instead of training again."""
    first = experiment.train("beiluhe", "gler", 0)
    weights = experiment.run_dir("beiluhe", "gler", 0) / "best.pt"
    stamp = weights.stat().st_mtime_ns
    second = experiment.train("beiluhe", "gler", 0)
    assert first == second
    assert weights.stat().st_mtime_ns == stamp
    assert experiment.is_done("beiluhe", "gler", 0)
    summaries = experiment.summaries()
    assert list(summaries["model"]) == ["gler"] and summaries["wall_time_s"].item() > 0
    history = experiment.history("beiluhe", "gler", 0)
    assert list(history["epoch"]) == [1]


def test_tables_from_evaluation(experiment):
    """Evaluation is cached; the tables hold every model, seed and the noise floor."""
    result = experiment.evaluate("beiluhe", models=("gler",), seeds=(0, 1))
    again = experiment.evaluate("beiluhe", models=("gler",), seeds=(0, 1))
    assert again.report == result.report
    assert set(result.forecasts) >= {"gler@seed0", "gler@seed1", "persistence"}
    table = scores({"beiluhe": result.report})
    gler = table[table["model"] == "gler"]
    assert sorted(gler["seed"]) == [0.0, 1.0]
    assert NOISE_FLOOR in set(table["model"])
    expected = result.report["models"]["gler@seed0"]["rmse"]
    assert gler.loc[gler["seed"] == 0, "rmse"].item() == pytest.approx(expected)
    wide = paper_table(table)
    assert wide.loc["gler", ("beiluhe", "rmse")] == pytest.approx(gler["rmse"].mean())
    assert wide[("mean", "rmse")].is_monotonic_increasing
    spread = stability(table)
    assert spread.loc[("beiluhe", "gler"), "seeds"] == 2
    per_h = horizon_scores({"beiluhe": result.report})
    assert sorted(per_h["horizon"].unique()) == [1, 2]


def test_quantile_head_and_earlier_fold_runs_beside_the_point_runs(experiment):
    """A quantile-head run and the previous fold's runs have folders and labels of their own
    and the fold's cut dates; the back-test calibrates on the season before the validation
    season and scores that one; an evaluation tells the head run from the point run."""
    point = load_run(experiment.train("beiluhe", "gler", 0)["run_dir"])
    head = experiment.train("beiluhe", "gler", 0, quantiles=True)
    fold = experiment.train("beiluhe", "gler", 0, fold=1)
    assert head["model"] == "gler+quantiles" and fold["fold"] == 1 and "fold" not in head
    assert len({head["run_dir"], fold["run_dir"], str(point.run_dir)}) == 3
    assert load_run(head["run_dir"]).quantiles == TINY.quantiles
    assert load_run(fold["run_dir"]).split.val_end == point.split.train_end
    assert set(experiment.summaries()["model"]) == {"gler", "gler+quantiles"}  # no fold runs
    stack = experiment.stack("beiluhe")
    for quantiles in (False, True):
        forecast = experiment.backtest_forecast("beiluhe", "gler", 0, quantiles=quantiles)
        table = interval_coverage(forecast, stack)
        assert list(table.index) == [80, 90] and list(table.columns) == ["step 1", "step 2"]
        assert ((table > 0) & (table <= 100)).all(axis=None)
        calibrated = forecast.attrs["calibration_period"].split("/")
        scored = pd.DatetimeIndex(forecast["target_time"].values.ravel())
        assert calibrated[1] <= str(point.split.train_end.date()) < str(scored.min().date())
        assert scored.max() <= point.split.val_end
    result = experiment.evaluate("beiluhe", models=("gler",), seeds=(0,), probabilistic=True,
                                 heads=("gler",))
    models = result.report["models"]
    assert models["gler"]["calibration"] == "split-conformal"
    assert models["gler+quantiles"]["calibration"] == "cqr"
    assert "gler (ensemble)" not in models  # a head run is not another seed of the point run
    for label, quantiles in (("gler", False), ("gler+quantiles", True)):  # as evaluated
        run = experiment.run_dir("beiluhe", "gler", 0, quantiles=quantiles)
        forecast = predict_quantiles(run, stack, interval_bounds((0.8, 0.9)), issues="test")
        reports = {"beiluhe": result.report}
        for own, reported in ((interval_coverage(forecast, stack),
                               coverage_table(reports, label)),
                              (coverage_interval(forecast, stack),
                               coverage_table(reports, label, bounds=True))):
            np.testing.assert_allclose(own.to_numpy(), reported.loc["beiluhe"].to_numpy(),
                                       atol=1e-6)


def test_a_tuning_profile_trains_with_the_settings_its_folds_chose(tmp_path):
    """With a tuning budget the experiment tunes GLER once (cached), trains it and its
    ablations with GLER's tuned settings, in a cache of its own."""
    from dataclasses import replace

    tuning = replace(TINY, name="tiny-tuning", tuning="smoke")
    exp = Experiment(tuning, root=tmp_path)
    summary = exp.train("beiluhe", "gler", 0)
    chosen = exp.profile.tuned.model("gler")
    assert exp.profile.name.startswith("tiny-tuning-tuned-")
    assert str(exp.path) in summary["run_dir"] and exp.path != exp.base_path
    assert (exp.base_path / "tuned" / "tuned.json").is_file()
    assert exp.profile.model_overrides("gler-no-rcsa")["d_model"] == chosen.model_overrides[
        "d_model"]
    config = exp.profile.train_config(0, model="gler-no-rcsa")
    assert config.lr == chosen.train_changes["lr"]
    again = Experiment(tuning, root=tmp_path)
    assert again.path == exp.path and again.train("beiluhe", "gler", 0) == summary
    trials = exp.tuning_trials()
    assert set(trials["model"]) == {"gler"} and len(trials) == 3  # the smoke budget
    assert tuned_table(exp.profile.tuned).loc["gler", "epochs"] == chosen.epochs
    history = exp.histories(["beiluhe"], ["gler"], [0])
    assert list(history["epoch"]) == list(range(1, summary["epochs_run"] + 1))
    # The quantile head is tuned on its own objective, with the same budget, kept apart.
    head = exp.train("beiluhe", "gler", 0, quantiles=True)
    heads = exp.head_profile().tuned
    assert heads.quantiles == TINY.quantiles and set(heads.models) == {"gler"}
    assert len(list((exp.base_path / "tuned").glob("quantiles-*/tuned.json"))) == 1
    assert sum(heads.model("gler").trials.values()) == sum(chosen.trials.values())  # budget
    record = json.loads((Path(head["run_dir"]) / "run.json").read_text())
    assert record["train_config"]["lr"] == heads.model("gler").train_changes["lr"]
    assert exp.profile.tuned.model("gler") == chosen  # the point choice is untouched


def test_a_tuning_profile_tunes_its_peers_like_its_models(tmp_path):
    """With a tuning budget, a peer's settings are chosen on GLER's folds with its budget and
    seed (kept in the tuned folder) before the peer is fitted with them."""
    import json
    from dataclasses import replace

    pytest.importorskip("neuralforecast")
    exp = Experiment(replace(TINY, name="tiny-tuning", tuning="smoke"), root=tmp_path)
    fixed = {"max_steps": 4, "val_check_steps": 2}
    peers = exp.peer_forecasts("beiluhe", ("nhits",), params=fixed)
    chosen = json.loads((exp.base_path / "tuned" / PEERS_FILE).read_text())["nhits"]
    models = exp.tune()
    assert chosen["trials"] == models.n_trials and chosen["params"]["max_steps"] == 4
    assert chosen["setup"]["tuned_like"]["folds"] == models.to_dict()["folds"]
    assert peers["nhits"]["forecast"].notnull().any()


def test_peer_forecasts_are_cached_and_scored_with_the_runs(tmp_path):
    """A peer is fitted once on the profile's regions, cached, and scored by evaluate on the
    same targets as the runs (kind "external")."""
    pytest.importorskip("neuralforecast")
    exp = Experiment(TINY, root=tmp_path)
    params = {"max_steps": 4, "val_check_steps": 2}
    peers = exp.peer_forecasts("beiluhe", ("nhits",), params=params)
    cached = next((exp.path / "peers").glob("*/nhits-beiluhe.nc"))
    stamp = cached.stat().st_mtime_ns
    assert exp.peer_forecasts("beiluhe", ("nhits",), params=params).keys() == peers.keys()
    assert cached.stat().st_mtime_ns == stamp
    report = exp.evaluate("beiluhe", seeds=(0,), peers=peers).report
    assert report["models"]["nhits"]["kind"] == "external"
    assert report["models"]["nhits"]["rmse"] > 0 and "gler" in report["models"]
    # Other forecasts of the same peer (other settings) are scored again, not read back.
    shifted = {"nhits": peers["nhits"].assign(forecast=peers["nhits"]["forecast"] + 1.0)}
    again = exp.evaluate("beiluhe", seeds=(0,), peers=shifted).report
    assert again["models"]["nhits"]["rmse"] != report["models"]["nhits"]["rmse"]
