"""Tests for gler.tuned and Profile.with_tuned: the tuned-settings file and its checks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gler import __version__
from gler.data.folds import Fold
from gler.data.sample import SplitDates
from gler.profiles import get_profile
from gler.tuned import TunedModel, TunedSettings, read_tuned, tuned_fingerprint

THROUGH = "2021-12-31T00:00:00"


@pytest.fixture
def settings(stack):
    """Settings as gler tune writes them, for LSTM on the smoke profile."""
    lstm = TunedModel(
        model="lstm", family="recurrent",
        train_changes={"lr": 1e-3, "ema_decay": 0.99, "max_samples_per_epoch": 256},
        model_overrides={"hidden": 32, "num_layers": 2}, epochs=5, value_mm=2.5,
        fold_values_mm=(2.4, 2.6), params={"lr": 1e-3, "hidden": 32}, study="lstm",
        trials={"complete": 4, "pruned": 1, "fail": 0})
    folds = (Fold(1, SplitDates(pd.Timestamp("2019-12-31"), pd.Timestamp("2020-12-31"))),
             Fold(2, SplitDates(pd.Timestamp("2020-12-31"), pd.Timestamp(THROUGH))))
    return TunedSettings(
        models={"lstm": lstm}, gler_version=__version__, profile="smoke", budget="smoke",
        seed=0, n_trials=5, sampler="TPESampler", pruner="MedianPruner", folds=folds,
        data=({"name": "stack 1", "fingerprint": tuned_fingerprint(stack, THROUGH)},),
        through=THROUGH, pooled=False, sample={"window": 12}, study_file="study.sqlite3",
        date="2025-01-01T00:00:00+00:00")


def test_the_file_round_trips(settings, tmp_path):
    """What is saved reads back equal, with the path it came from."""
    path = settings.save(tmp_path / "tuned.json")
    read = read_tuned(path)
    assert read == settings and read.path == path
    assert json.loads(path.read_text())["models"]["lstm"]["epochs"] == 5


def test_settings_of_another_release_or_format_are_refused(settings, tmp_path):
    """gler 9.9 wrote it: refused with both versions and what to do; so is another format."""
    path = settings.save(tmp_path / "tuned.json")
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "gler_version": "9.9.0"}))
    with pytest.raises(ValueError, match=r"tuned with gler 9\.9\.0.*gler tune again"):
        read_tuned(path)
    path.write_text(json.dumps({**values, "format": 7}))
    with pytest.raises(ValueError, match="format 7"):
        read_tuned(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a tuned-settings file"):
        read_tuned(path)
    with pytest.raises(FileNotFoundError, match="gler tune"):
        read_tuned(tmp_path / "missing.json")


def test_settings_of_other_data_are_refused(settings, stack):
    """A stack whose data before the test period differ is named with both fingerprints;
    one that differs only after it is accepted."""
    later = stack.copy(deep=True)
    later["displacement"].values[-5:] += 10.0
    settings.check_data(later)
    other = stack.copy(deep=True)
    other["displacement"].values[10:20] += 10.0
    with pytest.raises(ValueError, match=r"tuned on other data.*fingerprint.*gler tune"):
        settings.check_data(other)
    with pytest.raises(ValueError, match="tuned on other data"):
        get_profile("smoke").with_tuned(settings, data=[stack, other])


def test_a_tuned_profile_gives_each_model_its_settings(settings):
    """Overrides and TrainConfig changes per model; the final fit gets the tuned epoch count
    without early stopping; untuned models keep the profile's settings."""
    smoke = get_profile("smoke")
    tuned = smoke.with_tuned(settings)
    assert tuned.name.startswith("smoke-tuned-") and tuned.name != smoke.name
    assert tuned.model_overrides("lstm") == {**smoke.model_overrides("lstm"), "hidden": 32,
                                             "num_layers": 2}
    config = tuned.train_config(3, model="lstm")
    assert (config.seed, config.lr, config.ema_decay, config.epochs) == (
        3, 1e-3, 0.99, smoke.train.epochs)
    final = tuned.train_config(3, model="lstm", final_fit=True)
    assert (final.epochs, final.early_stopping) == (5, False)
    assert tuned.train_config(0, model="gru") == smoke.train_config(0)
    assert tuned.model_overrides("gru") == smoke.model_overrides("gru")
    with pytest.raises(ValueError, match="pass model=NAME"):
        tuned.train_config(0)


def test_settings_of_another_profile_are_refused(settings):
    """Settings tuned for smoke change smoke's settings, not book's."""
    with pytest.raises(ValueError, match=r"tuned for the profile 'smoke', not 'book'"):
        get_profile("book").with_tuned(settings)
