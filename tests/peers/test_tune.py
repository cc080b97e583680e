"""Tests for gler.peers.tune: the Auto* search space, n_trials trials over gler's folds."""

from __future__ import annotations

import pandas as pd
import pytest
from _pipeline_stack import make_stack

from gler.data.sample import SampleSpec, SplitDates
from gler.peers.models import FIXED, fit_peer
from gler.peers.tune import search_space, tune_peer

optuna = pytest.importorskip("optuna")
pytest.importorskip("neuralforecast")

SAMPLE = SampleSpec(window=12, horizon=3)
FOLDS = [SplitDates(pd.Timestamp("2019-12-31"), pd.Timestamp("2020-12-31")),
         SplitDates(pd.Timestamp("2020-12-31"), pd.Timestamp("2021-12-31"))]


def test_search_space_is_the_auto_space_without_what_gler_fixes():
    """AutoTiDE's settings, less window, horizon, loss and seed."""
    settings = search_space("tide", SAMPLE)(optuna.create_study().ask())
    assert {"hidden_size", "learning_rate", "scaler_type", "max_steps"} <= set(settings)
    assert not set(settings) & set(FIXED)


def test_tune_peer_runs_n_trials_on_every_fold():
    """n_trials trials, each fitted on both folds; the best settings refit."""
    stack = make_stack(ny=3, nx=3, noise=1.0)
    fixed = {"max_steps": 4, "val_check_steps": 2, "batch_size": 8, "windows_batch_size": 32}
    best = tune_peer(stack, "nhits", sample=SAMPLE, folds=FOLDS, n_trials=2, seed=0,
                     fixed=fixed)
    assert len(best.study.trials) == 2
    assert all(len(t.user_attrs["fold_losses"]) == 2 for t in best.study.trials)
    assert best.params["max_steps"] == 4 and best.best_loss == best.study.best_value
    assert fit_peer(stack, "nhits", sample=SAMPLE, params=best.params).steps == 4
    with pytest.raises(ValueError, match="at least one fold and one trial"):
        tune_peer(stack, "nhits", sample=SAMPLE, folds=FOLDS, n_trials=0)


def test_peers_are_tuned_like_the_models(tmp_path, monkeypatch):
    """tune_peers gives a peer the models' budget, folds and seed: as many trials in the shared
    study file, the fixed settings in the choice, peers.json written; a second call reads the
    choice without fitting again."""
    from gler import tune as tuning

    stack = make_stack(ny=3, nx=3, noise=1.0)
    models = tuning.tune(stack, "dlinear", profile="smoke", budget="smoke", sample=SAMPLE,
                         device="cpu", out_dir=tmp_path)
    fixed = {"max_steps": 4, "val_check_steps": 2, "batch_size": 8, "windows_batch_size": 32}
    chosen = tuning.tune_peers([stack], ["nhits"], models, out_dir=tmp_path, fixed=fixed)
    assert chosen["nhits"]["max_steps"] == 4
    storage = f"sqlite:///{tmp_path / tuning.STUDY_FILE}"
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)
               if s.study_name.startswith("peer-nhits-")]
    study = optuna.load_study(study_name=name, storage=storage)
    assert len(study.trials) == models.n_trials == 3
    assert all(len(t.user_attrs["fold_losses"]) == len(models.folds) for t in study.trials
               if t.state.name == "COMPLETE")
    assert (tmp_path / tuning.PEERS_FILE).is_file()
    monkeypatch.setattr("gler.peers.tune.fit_peer", None)  # a fit now would fail
    assert tuning.tune_peers([stack], ["nhits"], models, out_dir=tmp_path,
                             fixed=fixed) == chosen
