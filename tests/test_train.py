"""Tests for gler.train: config round-trip, determinism, resume, bad inputs, run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _pipeline_stack import TINY_STATE, make_stack, register_tiny

from gler.data.sample import SampleSpec
from gler.run import BEST_FILE, CHECKPOINT_FILE, LOG_FILE, RUN_FILE, load_run, read_run_record
from gler.train import NonFiniteLossError, TrainConfig, train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=4, batch_size=64, patience=10, device="cpu",
                     pixel_fraction=1.0)


@pytest.fixture(scope="module")
def stack():
    return make_stack()


@pytest.fixture
def tiny_model(monkeypatch):
    return register_tiny(monkeypatch)


def _weights(run_dir):
    return torch.load(run_dir / CHECKPOINT_FILE, weights_only=False)["model"]


def test_train_writes_a_complete_run(tmp_path, stack, tiny_model):
    """The run dir has config, scaler, checkpoints and one log line per epoch."""
    result = train(stack, tiny_model, CONFIG, out_dir=tmp_path, sample=SAMPLE, progress=False)
    assert result.epochs_run == 4 and len(result.history) == 4
    for name in (RUN_FILE, "scaler.json", CHECKPOINT_FILE, BEST_FILE, LOG_FILE):
        assert (tmp_path / name).is_file()
    lines = [json.loads(x) for x in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3, 4]
    assert all(x["train_s"] >= 0 for x in lines)
    record = read_run_record(tmp_path)
    assert record["sample"]["factors"] == ["air_temperature", "thawing_degree_days",
                                           "freezing_degree_days"]
    assert TrainConfig.from_dict(record["train_config"]) == CONFIG
    assert record["sample"]["train_end"].startswith("2020-12-31")
    # The sample is written once: the model config does not repeat L, H or E.
    assert not {"window", "horizon", "n_ef"} & set(record["model_config"])
    # Training lowers the validation loss below the first epoch's.
    assert min(x["val_loss"] for x in lines[1:]) < lines[0]["val_loss"]
    run = load_run(tmp_path)
    assert run.kind == "neural" and run.scaler is not None


def test_same_seed_same_weights(tmp_path, stack, tiny_model):
    """Two runs with the same seed give identical weights on CPU; another seed differs."""
    a = train(stack, tiny_model, CONFIG.replace(epochs=2), out_dir=tmp_path / "a",
              sample=SAMPLE, progress=False)
    b = train(stack, tiny_model, CONFIG.replace(epochs=2), out_dir=tmp_path / "b",
              sample=SAMPLE, progress=False)
    c = train(stack, tiny_model, CONFIG.replace(epochs=2, seed=1), out_dir=tmp_path / "c",
              sample=SAMPLE, progress=False)
    wa, wb, wc = _weights(a.run_dir), _weights(b.run_dir), _weights(c.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def _full_and_interrupted(tmp_path, stack, model) -> None:
    """A whole run in ``tmp_path/full`` and one interrupted after epoch 2 in ``tmp_path/cut``."""
    train(stack, model, CONFIG, out_dir=tmp_path / "full", sample=SAMPLE, progress=False)

    def interrupt(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(stack, model, CONFIG, out_dir=tmp_path / "cut", sample=SAMPLE, progress=False,
              on_epoch_end=interrupt)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, stack, tiny_model):
    """Interrupting after epoch 2 and re-running gives the uninterrupted run's final weights."""
    _full_and_interrupted(tmp_path, stack, tiny_model)
    assert torch.load(tmp_path / "cut" / CHECKPOINT_FILE, weights_only=True)["state"][
        "epoch"] == 2
    resumed = train(stack, tiny_model, CONFIG, out_dir=tmp_path / "cut",
                    sample=SAMPLE, progress=False)
    assert resumed.epochs_run == 4
    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)
    assert '"event": "resume"' in (tmp_path / "cut" / LOG_FILE).read_text()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, stack, tiny_model):
    """A NaN loss in epoch 2 raises with the reason; the epoch-1 checkpoint survives."""

    def poison(entry):
        TINY_STATE["factor"] = float("nan")

    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 2.*epoch 1"):
        train(stack, tiny_model, CONFIG, out_dir=tmp_path,
              sample=SAMPLE, progress=False, on_epoch_end=poison)
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)
    assert saved["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    assert "non_finite_loss" in (tmp_path / LOG_FILE).read_text()


def test_run_dir_of_another_run_is_refused(tmp_path, stack, tiny_model):
    """Re-using a run directory with another config names the differing field."""
    train(stack, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path,
          sample=SAMPLE, progress=False)
    with pytest.raises(ValueError, match=r"differs in: train_config.lr"):
        train(stack, tiny_model, CONFIG.replace(epochs=1, lr=0.1), out_dir=tmp_path,
              sample=SAMPLE, progress=False)


def test_model_that_uses_factors_needs_them(tmp_path, stack, tiny_model):
    """Training a factor model on data without factors, calendar features turned off, says
    to pass --factors."""
    bare = stack.drop_vars(["air_temperature", "thawing_degree_days", "freezing_degree_days"])
    with pytest.raises(ValueError, match=r"uses environmental factors.*--factors"):
        train(bare, tiny_model, CONFIG, out_dir=tmp_path,
              sample=SAMPLE.replace(calendar=False), progress=False)


def test_no_factor_gives_calendar_features(tmp_path, stack, tiny_model):
    """Without factors a neural model trains on the day-of-year sine and cosine, and the run
    forecasts a stack that has no factor either."""
    from gler.data.calendar import CALENDAR_FACTORS
    from gler.forecast import predict

    bare = stack.drop_vars(["air_temperature", "thawing_degree_days", "freezing_degree_days"])
    result = train(bare, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path,
                   sample=SAMPLE, progress=False)
    assert result.epochs_run == 1
    run = load_run(tmp_path)
    assert run.factors == CALENDAR_FACTORS
    assert np.isfinite(predict(run, bare, issues="last")["forecast"].values).any()


def test_cuda_request_without_cuda_is_refused(tmp_path, stack, tiny_model):
    """device='cuda' on a CPU-only machine is a clear error."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device"):
        train(stack, tiny_model, CONFIG.replace(device="cuda"), out_dir=tmp_path,
              sample=SAMPLE, progress=False)


def test_checkpoints_load_weights_only_and_older_ones_still_resume(tmp_path, stack, tiny_model):
    """Checkpoints hold tensors and plain values only; one written the older way (numpy
    scalars, Python's RNG state as a tuple) still resumes, to the same weights."""
    import random

    import numpy as np

    _full_and_interrupted(tmp_path, stack, tiny_model)
    path = tmp_path / "cut" / CHECKPOINT_FILE
    saved = torch.load(path, weights_only=True)
    rng = saved["rng"]
    rng["python"] = (rng.pop("python_version"), tuple(rng["python"].tolist()),
                     rng.pop("python_gauss"))
    for entry in saved["state"]["history"]:
        entry["lr"] = np.float64(entry["lr"])
    torch.save(saved, path)
    state = random.getstate()
    train(stack, tiny_model, CONFIG, out_dir=tmp_path / "cut", sample=SAMPLE, progress=False)
    random.setstate(state)
    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)


@pytest.mark.slow
def test_every_neural_model_trains_and_forecasts_without_factors(tmp_path, stack):
    """Deformation alone: every registered neural model trains one epoch on the calendar
    features and forecasts."""
    from gler.forecast import predict
    from gler.models import list_models
    from gler.profiles import get_profile

    bare = stack.drop_vars(["air_temperature", "thawing_degree_days", "freezing_degree_days"])
    config = CONFIG.replace(epochs=1, max_samples_per_epoch=128, max_val_samples=128)
    smoke = get_profile("smoke")
    for name in list_models("neural"):
        out = tmp_path / name
        train(bare, name, config, smoke.model_overrides(name), out_dir=out,
              sample=SAMPLE, progress=False)
        forecast = predict(out, bare, issues="last")["forecast"]
        assert np.isfinite(forecast.values).any(), name
