"""Tests for gler.peers.models: NHITS and TiDE fitted on gler's split, scored on its targets."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _pipeline_stack import make_stack

from gler.data.sample import SampleSpec
from gler.evaluate import evaluate
from gler.forecast import predict
from gler.peers.models import (
    PEERS,
    VAL_LOSS,
    best_weights,
    fit_peer,
    peer_settings,
    predict_peer,
)
from gler.run import classical_run

pytest.importorskip("neuralforecast")

SAMPLE = SampleSpec(window=12, horizon=3)
#: A few steps, a validation check every few: seconds on a CPU.
FEW_STEPS = {"max_steps": 12, "val_check_steps": 4, "hidden_size": 16, "batch_size": 8,
             "windows_batch_size": 64}


@pytest.fixture(scope="module")
def stack():
    return make_stack(ny=4, nx=4, noise=1.0)


def small(name: str) -> dict:
    """FEW_STEPS, without the settings the peer does not take."""
    return {k: v for k, v in FEW_STEPS.items() if k != "hidden_size" or name == "tide"}


@pytest.mark.parametrize("name", list(PEERS))
def test_peer_forecasts_the_issue_dates_and_pixels_of_predict(stack, name):
    """Same issue dates, target dates and NaN windows as predict; scored by evaluate."""
    peer = fit_peer(stack, name, sample=SAMPLE, params=small(name), seed=0)
    assert peer.steps == 12 and np.isfinite(peer.best_val_loss)
    assert peer.sample.factors == (() if name == "nhits" else
                                   ("air_temperature", "thawing_degree_days",
                                    "freezing_degree_days"))
    fc = predict_peer(peer, stack, issues="test")
    reference = predict(classical_run(stack, "persistence", SAMPLE), stack, issues="test")
    assert fc.forecast.dims == reference.forecast.dims
    np.testing.assert_array_equal(fc.target_time.values, reference.target_time.values)
    np.testing.assert_array_equal(np.isnan(fc.forecast.values),
                                  np.isnan(reference.forecast.values))
    report = evaluate([], stack, forecasts={name: fc}, window=12, horizon=3).report
    assert report["models"][name]["kind"] == "external"
    assert np.isfinite(report["models"][name]["rmse"])


def test_nothing_after_the_validation_cut_enters_the_fit(stack):
    """Test-period data changed beyond recognition: the same seed fits the same model (same
    validation loss, same forecast from the last validation date)."""
    changed = stack.copy(deep=True)
    test_period = changed.time > np.datetime64("2021-12-31")
    changed["displacement"] = changed.displacement.where(~test_period,
                                                         changed.displacement + 500.0)
    fits = [fit_peer(s, "tide", sample=SAMPLE, params=small("tide"), seed=3)
            for s in (stack, changed)]
    assert fits[0].best_val_loss == fits[1].best_val_loss
    first = [predict_peer(p, s).forecast.isel(issue_time=0).values
             for p, s in zip(fits, (stack, changed), strict=True)]
    np.testing.assert_array_equal(first[0], first[1])


def test_the_best_validation_weights_are_put_back():
    """The callback keeps the weights of the lowest validation loss and restores them."""
    callback, module = best_weights(), torch.nn.Linear(1, 1)
    for loss in (3.0, 1.0, 2.0):
        module.weight.data.fill_(loss)
        trainer = SimpleNamespace(sanity_checking=False,
                                  callback_metrics={VAL_LOSS: torch.tensor(loss)})
        callback.on_validation_end(trainer, module)
    callback.on_fit_end(trainer, module)
    assert module.weight.item() == 1.0 and callback.loss == 1.0


def test_pooled_stacks_of_different_dates(stack):
    """Two stacks with other acquisition dates fit one global model; each is forecast."""
    other = make_stack(ny=3, nx=3, seed=1, noise=1.0)
    other = other.isel(time=np.delete(np.arange(other.sizes["time"]), [30, 140]))
    peer = fit_peer([stack, other], "nhits", sample=SAMPLE, params=small("nhits"))
    for data in (stack, other):
        fc = predict_peer(peer, data, issues="val")
        assert fc.sizes["issue_time"] == len(
            predict(classical_run(data, "persistence", SAMPLE), data, issues="val").issue_time)


def test_settings_gler_fixes_are_refused(stack):
    """The window, horizon and loss come from the sample specification, not params."""
    with pytest.raises(ValueError, match=r"params sets \['input_size'\]"):
        peer_settings("nhits", SAMPLE, (), {"input_size": 24})
    with pytest.raises(ValueError, match=r"Unknown peer 'nbeats'\. Available: nhits, tide"):
        fit_peer(stack, "nbeats", sample=SAMPLE)
    with pytest.raises(ValueError, match="one of train, val, test"):
        predict_peer(None, stack, issues="all")
