"""Tests for gler.tune: seeded studies on folds, resumable, leak-free, robust to divergence."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
import torch
from _pipeline_stack import make_stack

from gler import tune as tuning
from gler.data.folds import final_fit_sample
from gler.data.sample import SampleSpec
from gler.profiles import get_profile
from gler.run import BEST_FILE
from gler.schedule import RunsFailedError
from gler.train import NonFiniteLossError, train
from gler.tune import STUDY_FILE, TUNED_FILE, tune
from gler.tuned import read_tuned

optuna = pytest.importorskip("optuna")

SAMPLE = SampleSpec(window=12, horizon=3)
OPTIONS = {"profile": "smoke", "budget": "smoke", "sample": SAMPLE, "device": "cpu"}


@pytest.fixture(scope="module")
def stack():
    return make_stack(ny=4, nx=4)


@pytest.fixture(scope="module")
def reference(stack, tmp_path_factory):
    """One uninterrupted study of LSTM with the smoke budget."""
    return tune(stack, "lstm", out_dir=tmp_path_factory.mktemp("reference"), **OPTIONS)


def _choice(settings):
    return {name: (m.params, m.epochs, m.value_mm) for name, m in settings.models.items()}


def test_tune_writes_the_choice_with_provenance(reference, stack, tmp_path):
    """tuned.json holds the chosen settings, the folds, the data and the study; a second run
    with the same seed chooses the same on CPU."""
    chosen = reference.models["lstm"]
    assert chosen.trials == {"complete": 3, "pruned": 0, "fail": 0}
    assert set(chosen.model_overrides) == {"dropout", "hidden", "num_layers"}
    assert chosen.train_changes["epochs"] == 2 and 1 <= chosen.epochs <= 2
    assert chosen.value_mm == pytest.approx(np.mean(chosen.fold_values_mm))
    assert [f.split.val_end.year for f in reference.folds] == [2020, 2021]
    assert reference.through.startswith("2021-12-31") and reference.data[0]["fingerprint"]
    again = tune(stack, "lstm", out_dir=tmp_path, **OPTIONS)
    assert _choice(again) == _choice(reference)
    assert (tmp_path / STUDY_FILE).is_file()
    assert read_tuned(tmp_path / TUNED_FILE) == again


def test_the_test_period_does_not_leak(reference, stack, tmp_path):
    """Other displacement and factors after val_end: the same choice, the same provenance
    fingerprints, and a final fit to the same weights bit for bit."""
    altered = stack.copy(deep=True)
    later = altered["time"] > pd.Timestamp(reference.through)
    rng = np.random.default_rng(1)
    for name in ("displacement", "air_temperature", "thawing_degree_days"):
        values = altered[name].values
        values[later.values] = values[later.values] * 3 + rng.normal(0, 5, values[
            later.values].shape)
    assert not altered["displacement"].equals(stack["displacement"])
    settings = tune(altered, "lstm", out_dir=tmp_path / "tune", **OPTIONS)
    assert _choice(settings) == _choice(reference) and settings.data == reference.data
    weights = []
    for data, chosen, out in ((stack, reference, "a"), (altered, settings, "b")):
        profile = get_profile("smoke").with_tuned(chosen, data=data)
        config = profile.train_config(0, model="lstm", final_fit=True, device="cpu")
        train(data, "lstm", config, profile.model_overrides("lstm"), tmp_path / out,
              sample=final_fit_sample(SAMPLE, data["time"].values), progress=False)
        weights.append(torch.load(tmp_path / out / BEST_FILE, weights_only=True))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_an_interrupted_tune_resumes_from_its_study(reference, stack, tmp_path, monkeypatch):
    """Stopped in its second trial, and with a trial a killed run left running, the study
    resumes: finished trials are kept, the others redone, and the choice is the
    uninterrupted one's."""
    calls = {"n": 0}

    def stop_in_trial_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(tuning, "train", stop_in_trial_two)
    with pytest.raises(KeyboardInterrupt):
        tune(stack, "lstm", out_dir=tmp_path, **OPTIONS)
    storage = f"sqlite:///{tmp_path / STUDY_FILE}"
    study = optuna.load_study(study_name="lstm", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]
    study.ask()  # a trial left running, as by a killed process
    monkeypatch.setattr(tuning, "train", train)
    settings = tune(stack, "lstm", out_dir=tmp_path, **OPTIONS)
    assert _choice(settings) == _choice(reference)
    states = [t.state.name for t in optuna.load_study(study_name="lstm",
                                                      storage=storage).trials]
    assert states.count("COMPLETE") == 3 and states[:3] == ["COMPLETE", "FAIL", "FAIL"]


@pytest.mark.slow
@pytest.mark.parametrize("layout", [{"jobs": 2}, {"streams": 2}], ids=["processes", "turns"])
def test_models_tuned_at_once_choose_as_one_at_a_time(stack, tmp_path, monkeypatch, layout):
    """Two models' studies sharing one study file, in two processes or taking turns in this
    one: each chooses what it chooses alone, to the last digit of its loss, though their
    trials draw dropout and take several steps an epoch (turns interleave within epochs); the
    file holds both studies whole; a model whose study fails is named."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    smoke = tuning.BUDGETS["smoke"]
    steps = dataclasses.replace(smoke, name="steps",
                                train_changes={**smoke.train_changes, "batch_size": 32})
    options = {**OPTIONS, "budget": steps}
    both = tune(stack, ["lstm", "gru"], out_dir=tmp_path / "two", **layout, **options)
    for model in ("lstm", "gru"):
        alone = tune(stack, model, out_dir=tmp_path / model, **options)
        assert _choice(both)[model] == _choice(alone)[model]
    storage = f"sqlite:///{tmp_path / 'two' / STUDY_FILE}"
    assert sorted(s.study_name for s in optuna.get_all_study_summaries(storage)) == [
        "gru", "lstm"]
    broken = tuning.Budget("broken", "trials that fail in their process", 3, 2, {"epochs": 0})
    with pytest.raises(RunsFailedError, match=r"2 of 2 studies failed .*tune again") as failed:
        tune(stack, ["gru", "lstm"], out_dir=tmp_path / "bad", **layout,
             **{**OPTIONS, "budget": broken})
    assert sorted(failed.value.failures) == ["gru", "lstm"]  # in the order they ended
    assert all("epochs=0" in error for error in failed.value.failures.values())


def test_a_diverging_trial_is_pruned_and_recorded(stack, tmp_path, monkeypatch):
    """A NaN loss prunes its trial with the reason in the study; the study goes on."""
    calls = {"n": 0}

    def diverge_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            msg = "The training loss became nan at epoch 1, batch 0."
            raise NonFiniteLossError(msg)
        return train(*args, **kwargs)

    monkeypatch.setattr(tuning, "train", diverge_once)
    settings = tune(stack, "dlinear", out_dir=tmp_path, **OPTIONS)
    assert settings.models["dlinear"].trials == {"complete": 2, "pruned": 1, "fail": 0}
    study = optuna.load_study(study_name="dlinear", storage=f"sqlite:///{tmp_path / STUDY_FILE}")
    assert "loss became nan" in study.trials[0].user_attrs["diverged"]
    assert study.trials[0].user_attrs["diverged"].startswith("fold 1")


def test_a_study_of_other_settings_is_not_resumed(reference, stack, tmp_path):
    """Re-running into a study of another seed names what differs."""
    tune(stack, "dlinear", out_dir=tmp_path, **OPTIONS)
    with pytest.raises(ValueError, match=r"differs in: seed.*new --out"):
        tune(stack, "dlinear", out_dir=tmp_path, seed=1, **OPTIONS)


def test_bad_folds_and_budgets_are_refused(stack, tmp_path):
    """A fold without enough dates names --folds; an unknown budget lists the valid ones; a
    classical baseline has nothing to tune."""
    with pytest.raises(ValueError, match=r"5 folds of 31 validation dates.*--folds 4"):
        tune(stack, "dlinear", out_dir=tmp_path, n_folds=5, **OPTIONS)
    with pytest.raises(ValueError, match=r"Unknown budget 'huge'.*smoke, book, paper"):
        tune(stack, "dlinear", out_dir=tmp_path, **{**OPTIONS, "budget": "huge"})
    with pytest.raises(ValueError, match="nothing to tune"):
        tune(stack, "harmonic", out_dir=tmp_path, **OPTIONS)


def test_validation_rmse_is_in_millimetres(stack, tmp_path):
    """The objective's score: RMSE of the run's forecasts on each stack's validation windows."""
    from gler.config import TrainConfig

    train(stack, "dlinear", TrainConfig(epochs=1, device="cpu"), out_dir=tmp_path,
          sample=SAMPLE, progress=False)
    full = tuning.validation_rmse(tmp_path, [stack])
    capped = tuning.validation_rmse(tmp_path, [stack, stack], max_samples=20)
    assert len(full) == 1 and 0 < full[0] < 20
    assert len(capped) == 2 and capped[0] != capped[1]


def test_validation_pinball_is_the_head_s_loss_in_millimetres(stack, tmp_path):
    """The objective of a quantile head: its mean pinball loss over the levels, in mm, on the
    validation targets (computed here from gler predict's head quantiles)."""
    from gler.config import TrainConfig
    from gler.conformal import flat, observed_targets
    from gler.forecast import HEAD_QUANTILE, predict

    levels = (0.1, 0.5, 0.9)
    train(stack, "dlinear", TrainConfig(epochs=1, device="cpu"), {"quantiles": list(levels)},
          tmp_path, sample=SAMPLE, progress=False)
    score = tuning.validation_pinball(tmp_path, [stack])
    forecast = predict(tmp_path, stack, issues="val", head=True)
    obs = observed_targets(forecast, stack)
    losses = [np.maximum(q * (obs - flat(forecast.isel(head_quantile=k), HEAD_QUANTILE)),
                         (q - 1) * (obs - flat(forecast.isel(head_quantile=k), HEAD_QUANTILE)))
              for k, q in enumerate(levels)]
    assert score[0] == pytest.approx(float(np.nanmean(losses)), rel=1e-4)
    assert 0 < score[0] < tuning.validation_rmse(tmp_path, [stack])[0]
    train(stack, "dlinear", TrainConfig(epochs=1, device="cpu"), out_dir=tmp_path / "point",
          sample=SAMPLE, progress=False)
    with pytest.raises(ValueError, match="gler train --quantiles"):
        tuning.validation_pinball(tmp_path / "point", [stack])


def test_quantile_heads_are_tuned_on_the_pinball_loss(stack, tmp_path):
    """gler tune --quantiles: every trial trains the head and scores its pinball loss; the
    settings say which levels, and a training with other levels is refused."""
    levels = (0.1, 0.5, 0.9)
    settings = tune(stack, "dlinear", out_dir=tmp_path, quantiles=levels, **OPTIONS)
    assert settings.quantiles == levels
    assert read_tuned(tmp_path / TUNED_FILE).quantiles == levels
    study = optuna.load_study(study_name="dlinear",
                              storage=f"sqlite:///{tmp_path / STUDY_FILE}")
    folds = [t.user_attrs["fold1"] for t in study.trials]
    assert all("pinball_mm" in f and "rmse_mm" not in f for f in folds)
    chosen = settings.models["dlinear"]
    assert chosen.value_mm == pytest.approx(np.mean(chosen.fold_values_mm))
    settings.check_quantiles(levels)
    with pytest.raises(ValueError, match=r"tuned for a quantile head at 0\.1,0\.5,0\.9 .*"
                                         r"not for --quantiles 0\.25,0\.5,0\.75"):
        settings.check_quantiles((0.25, 0.5, 0.75))
    with pytest.raises(ValueError, match=r"not for a point model \(no --quantiles\)"):
        settings.check_quantiles(())
    with pytest.raises(ValueError, match=r"needs the median 0\.5"):
        tune(stack, "dlinear", out_dir=tmp_path / "bad", quantiles=(0.1, 0.9), **OPTIONS)
    with pytest.raises(ValueError, match="other settings"):  # a point study is not resumed
        tune(stack, "dlinear", out_dir=tmp_path, **OPTIONS)


def test_point_settings_serve_a_quantile_head(reference):
    """Settings tuned for point models may train a head (chosen on its median's loss)."""
    assert reference.quantiles == ()
    reference.check_quantiles((0.1, 0.5, 0.9))
    assert "quantiles" not in reference.to_dict()  # files of point models are as before
