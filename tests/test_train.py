"""Tests for gler.train: config round-trip, determinism, resume, bad inputs, run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _pipeline_stack import TINY_STATE, interrupt_after

from gler.data.sample import SampleSpec
from gler.run import BEST_FILE, CHECKPOINT_FILE, LOG_FILE, RUN_FILE, load_run, read_run_record
from gler.train import NonFiniteLossError, TrainConfig, train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=4, batch_size=64, patience=10, device="cpu",
                     pixel_fraction=1.0)
#: Every remedy of issue 18 on at once.
REMEDIES = CONFIG.replace(warmup_epochs=2, ema_decay=0.9, factor_dropout=0.3)


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


def _best(run_dir):
    return torch.load(run_dir / BEST_FILE, weights_only=True)


def _full_and_interrupted(tmp_path, stack, model, config=CONFIG) -> None:
    """A whole run in ``tmp_path/full`` and one interrupted after epoch 2 in ``tmp_path/cut``."""
    train(stack, model, config, out_dir=tmp_path / "full", sample=SAMPLE, progress=False)

    with pytest.raises(KeyboardInterrupt):
        train(stack, model, config, out_dir=tmp_path / "cut", sample=SAMPLE, progress=False,
              on_epoch_end=interrupt_after(2))


@pytest.mark.parametrize("config", [CONFIG, REMEDIES], ids=["plain", "remedies"])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, stack, tiny_model, config):
    """Interrupting after epoch 2 and re-running gives the uninterrupted run's final weights;
    with warm-up, weight averaging and factor dropout, the averaged weights (best.pt) too."""
    _full_and_interrupted(tmp_path, stack, tiny_model, config)
    assert torch.load(tmp_path / "cut" / CHECKPOINT_FILE, weights_only=True)["state"][
        "epoch"] == 2
    resumed = train(stack, tiny_model, config, out_dir=tmp_path / "cut",
                    sample=SAMPLE, progress=False)
    assert resumed.epochs_run == 4
    for weights in (_weights, _best):
        full, cut = weights(tmp_path / "full"), weights(tmp_path / "cut")
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


# -- what helps a model generalise (all off by default) --------------------------------------

def test_each_remedy_is_seeded_and_changes_the_weights(tmp_path, stack, tiny_model):
    """Warm-up, weight averaging and factor dropout each give the same weights twice with one
    seed, and other weights than plain training."""
    plain = _best(train(stack, tiny_model, CONFIG.replace(epochs=2), out_dir=tmp_path / "plain",
                        sample=SAMPLE, progress=False).run_dir)
    for name, change in (("warmup", {"warmup_epochs": 1}), ("ema", {"ema_decay": 0.9}),
                         ("dropout", {"factor_dropout": 0.5})):
        config = CONFIG.replace(epochs=2, **change)
        runs = [_best(train(stack, tiny_model, config, out_dir=tmp_path / f"{name}{k}",
                            sample=SAMPLE, progress=False).run_dir) for k in (1, 2)]
        assert all(torch.equal(runs[0][k], runs[1][k]) for k in plain), name
        assert not all(torch.equal(runs[0][k], plain[k]) for k in plain), name


def test_warmup_raises_the_rate_step_by_step(tmp_path, stack, tiny_model):
    """During the warm-up the rate climbs linearly to lr at the end of the last warm-up epoch."""
    config = CONFIG.replace(warmup_epochs=2, lr_schedule="constant")
    assert config.lr_at(1, 0.5) == pytest.approx(config.lr / 4)
    assert config.lr_at(2) == config.lr_at(3) == config.lr
    result = train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False)
    assert [h["lr"] for h in result.history] == [config.lr / 2, config.lr, config.lr, config.lr]


def test_weight_averaging_validates_and_keeps_the_average(tmp_path, stack, tiny_model):
    """best.pt holds the average stored in the checkpoint, not the live weights."""
    config = CONFIG.replace(ema_decay=0.9, patience=100)
    result = train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False)
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert result.best_epoch == 4
    best, average = _best(tmp_path), saved["average"]["average"]
    assert all(torch.equal(best[k], average[k]) for k in best)
    assert not all(torch.equal(best[k], saved["model"][k]) for k in best)
    assert saved["average"]["updates"] > 0


def test_factor_dropout_sets_whole_channels_to_the_training_mean(stack, tiny_model):
    """Each factor channel of a sample is either kept over the whole window or 0 throughout."""
    from gler.data.device_windows import TensorBatch
    from gler.data.scaling import Scaler
    from gler.data.windows import WindowDataset
    from gler.train import Optimisation, train_step

    seen = {}

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(SAMPLE.horizon))

        def forward(self, sd, ef, mask):
            seen["ef"] = ef
            return self.weight.expand(len(sd), -1)

    windows = WindowDataset.from_spec(stack, SAMPLE)
    scaler = Scaler.fit(windows)
    batch = windows.batch(windows.indices("train"), np.arange(64))
    model = Spy()
    step = Optimisation.create(model, CONFIG.replace(factor_dropout=0.5), torch.device("cpu"))
    torch.manual_seed(0)
    train_step(model, TensorBatch.from_batch(batch, scaler, "cpu"), step)
    full = torch.from_numpy(scaler.inputs(batch)[1])
    dropped = (seen["ef"] == 0).all(dim=1)
    kept = (seen["ef"] == full).all(dim=1)
    assert (dropped | kept).all() and dropped.any() and kept.any()


def test_final_fit_trains_a_fixed_count_without_validation(tmp_path, stack, tiny_model):
    """early_stopping=False on the final-fit sample trains every epoch on training and
    validation targets and keeps the last weights; early stopping there is refused."""
    from gler.data.folds import final_fit_sample

    sample = final_fit_sample(SAMPLE, stack["time"].values)
    with pytest.raises(ValueError, match=r"needs a validation.*none.*early_stopping=False"):
        train(stack, tiny_model, CONFIG, out_dir=tmp_path / "refused", sample=sample,
              progress=False)
    config = CONFIG.replace(epochs=3, early_stopping=False, patience=1)
    result = train(stack, tiny_model, config, out_dir=tmp_path / "final", sample=sample,
                   progress=False)
    assert (result.epochs_run, result.best_epoch, result.best_val_loss) == (3, 3, None)
    assert [h["val_loss"] for h in result.history] == [None] * 3
    best, last = _best(tmp_path / "final"), _weights(tmp_path / "final")
    assert all(torch.equal(best[k], last[k]) for k in best)
    record = read_run_record(tmp_path / "final")
    assert record["sample"]["train_end"] == record["sample"]["val_end"]
    assert record["train_config"]["early_stopping"] is False


def test_without_early_stopping_every_epoch_runs(tmp_path, stack, tiny_model):
    """A fixed-count run with a validation period validates each epoch but never stops."""
    config = CONFIG.replace(early_stopping=False, patience=1, lr=1.0)
    result = train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False)
    assert result.epochs_run == result.best_epoch == 4 and not result.stopped_early
    assert all(h["val_loss"] is not None for h in result.history)


def test_options_off_are_not_written(tmp_path, stack, tiny_model):
    """run.json of a run without the new options reads as before they existed."""
    train(stack, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path, sample=SAMPLE,
          progress=False)
    written = read_run_record(tmp_path)["train_config"]
    assert not {"early_stopping", "warmup_epochs", "ema_decay", "factor_dropout"} & set(written)
