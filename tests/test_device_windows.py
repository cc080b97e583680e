"""Tests for gler.data.device_windows and the device-resident training loop of gler.train:
batches equal the host ones bit for bit, a non-finite loss skipped on the device, and the
out-of-memory fallback to gradient accumulation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from _pipeline_stack import TinyForecaster, interrupt_after, make_stack

from gler.data.device_windows import DeviceWindows, TensorBatch
from gler.data.multistack import pool_windows
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset
from gler.run import LOG_FILE
from gler.train import Optimisation, TrainConfig, train, train_step

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=2, batch_size=64, patience=10, device="cpu", pixel_fraction=1.0)


def _per_pixel(stack, seed: int = 0):
    """``stack`` with a per-pixel factor (a factor that varies in space) besides the others."""
    rng = np.random.default_rng(seed)
    disp = stack["displacement"]
    noise = xr.DataArray(rng.normal(0, 1, disp.shape).astype(np.float32), dims=disp.dims)
    ground = (stack["air_temperature"] * 0.5 + noise).transpose(*disp.dims)
    return stack.assign(ground_temperature=ground.assign_attrs(role="factor", units="degC"))


def _same(host, device) -> None:
    for name, a, b in zip(TensorBatch._fields, host, device, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert torch.equal(torch.isnan(a), torch.isnan(b)) if a.is_floating_point() else True
        assert torch.equal(torch.nan_to_num(a, 7.0), torch.nan_to_num(b, 7.0)), name


@pytest.mark.parametrize("per_pixel", [False, True], ids=["scene-wide", "per-pixel"])
@pytest.mark.parametrize("pooled", [False, True], ids=["one-stack", "multi-stack"])
def test_device_batches_equal_the_host_batches(per_pixel, pooled):
    """Every split, a shuffled subset and a slice: the same sd, ef, mask and target bits as
    WindowDataset/MultiStackWindows.batch normalised by the scaler, on sampled pixels."""
    stacks = [make_stack(seed=1), make_stack(seed=2, ny=2, end="2022-06-30")]
    if per_pixel:
        stacks = [_per_pixel(s, k) for k, s in enumerate(stacks)]
    if pooled:
        windows = pool_windows(stacks, window=SAMPLE.window, horizon=SAMPLE.horizon)
    else:
        windows = WindowDataset.from_spec(stacks[0], SAMPLE)
    assert (windows.parts[0] if pooled else windows).ef.shape[0] == (12 if per_pixel else 1)
    pixels = windows.pixels(0.7, seed=1)
    scaler = Scaler.fit(windows, pixels)
    data = DeviceWindows(windows, scaler, "cpu", pixels)
    for split in ("train", "val", "test"):
        index = windows.indices(split, pixels)
        samples = data.index(index)
        assert len(samples) == len(index)
        order = np.random.default_rng(0).permutation(len(index))[:150]
        _same(TensorBatch.from_batch(windows.batch(index, order), scaler, "cpu"),
              data.batch(samples, torch.from_numpy(order)))
        _same(TensorBatch.from_batch(windows.batch(index, slice(5, 40)), scaler, "cpu"),
              data.batch(samples, slice(5, 40)))


def test_an_index_on_pixels_not_held_is_refused(stack):
    windows = WindowDataset.from_spec(stack, SAMPLE)
    scaler = Scaler.fit(windows)
    data = DeviceWindows(windows, scaler, "cpu", windows.valid_pixels[:3])
    with pytest.raises(ValueError, match="pixels that these device windows do not hold"):
        data.index(windows.indices("train"))


def test_a_non_finite_loss_is_skipped_on_the_device(stack):
    """The CUDA path (fused AdamW told by a device flag, no read of the loss), run on CPU: a
    NaN loss changes neither the weights, nor the optimiser's state, nor the weight average;
    the next finite batch updates all three."""
    windows = WindowDataset.from_spec(stack, SAMPLE)
    scaler = Scaler.fit(windows)
    data = DeviceWindows(windows, scaler, "cpu")
    index = data.index(windows.indices("train"))
    torch.manual_seed(0)
    model = TinyForecaster(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3)
    config = CONFIG.replace(ema_decay=0.9, grad_clip=1.0)
    step = Optimisation.create(model, config, torch.device("cpu"))
    step.optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                       weight_decay=config.weight_decay, fused=True)
    step.skip_on_device = True
    batch = data.batch(index, torch.arange(64))
    train_step(model, batch, step)

    def snapshot():
        return ({k: v.clone() for k, v in model.state_dict().items()},
                {k: v.clone() for k, v in step.average.average.items()},
                [{k: v.clone() for k, v in s.items()} for s in step.optimiser.state.values()])

    before = snapshot()
    poisoned = batch._replace(sd=batch.sd.clone().fill_(torch.nan))
    loss = train_step(model, poisoned, step)
    assert not torch.isfinite(loss)
    after = snapshot()
    for old, new in zip(before[:2], after[:2], strict=True):
        assert all(torch.equal(old[k], new[k]) for k in old)
    for old, new in zip(before[2], after[2], strict=True):
        assert all(torch.equal(old[k], new[k]) for k in old)
    assert torch.isfinite(train_step(model, batch, step))
    updated = snapshot()
    assert not all(torch.equal(before[0][k], updated[0][k]) for k in before[0])
    assert not all(torch.equal(before[1][k], updated[1][k]) for k in before[1])


def test_out_of_memory_falls_back_to_gradient_accumulation(tmp_path, stack, tiny_model,
                                                           monkeypatch):
    """One CUDA out-of-memory error (simulated on CPU): the batch is retried as two
    micro-batches with gradient accumulation from then on, said in a warning and in the run
    log; the losses and weights are those of full batches within float tolerance."""
    original = TinyForecaster.forward
    calls = {"oom": 0}

    def forward(self, sd, ef=None, mask=None):
        self.dropout.p = 0.0  # the same weights need the same (no) dropout in both runs
        if len(sd) > 32 and self.training and calls["oom"] == 0 and calls.get("armed"):
            calls["oom"] += 1
            msg = "CUDA out of memory (simulated)"
            raise torch.cuda.OutOfMemoryError(msg)
        return original(self, sd, ef, mask)

    monkeypatch.setattr(TinyForecaster, "forward", forward)
    full = train(stack, tiny_model, CONFIG, out_dir=tmp_path / "full", sample=SAMPLE,
                 progress=False)
    calls["armed"] = True
    with pytest.warns(ResourceWarning, match=r"Out of device memory at epoch 1, batch 0.*2 "
                                             r"micro-batches of up to 32"):
        cut = train(stack, tiny_model, CONFIG, out_dir=tmp_path / "cut", sample=SAMPLE,
                    progress=False)
    assert calls["oom"] == 1
    events = [json.loads(line) for line in (tmp_path / "cut" / LOG_FILE).read_text().splitlines()]
    oom = [e for e in events if e.get("event") == "out_of_memory"]
    assert oom == [{"event": "out_of_memory", "epoch": 1, "batch": 0, "micro_batches": 2,
                    "micro_batch_size": 32}]
    for a, b in zip(full.history, cut.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    wa = torch.load(tmp_path / "full" / "best.pt", weights_only=True)
    wb = torch.load(tmp_path / "cut" / "best.pt", weights_only=True)
    assert all(torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-6) for k in wa)


def test_epochs_log_the_windows_and_their_rate(tmp_path, stack, tiny_model):
    """Each epoch's log entry holds the windows trained on and the in-run windows/s."""
    config = CONFIG.replace(max_samples_per_epoch=100)
    result = train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False)
    for entry in result.history:
        assert entry["train_windows"] == 100
        assert entry["windows_per_s"] > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("per_pixel", [False, True], ids=["scene-wide", "per-pixel"])
def test_cuda_batches_equal_the_cpu_batches(per_pixel):
    """Gathered and normalised on the GPU, the batches hold the CPU's bits."""
    stack = make_stack(seed=3)
    stack = _per_pixel(stack) if per_pixel else stack
    windows = WindowDataset.from_spec(stack, SAMPLE)
    scaler = Scaler.fit(windows)
    index = windows.indices("train")
    order = torch.from_numpy(np.random.default_rng(1).permutation(len(index))[:200])
    on_cpu = DeviceWindows(windows, scaler, "cpu")
    on_gpu = DeviceWindows(windows, scaler, "cuda")
    _same(on_cpu.batch(on_cpu.index(index), order),
          TensorBatch(*(t.cpu() for t in on_gpu.batch(on_gpu.index(index), order.cuda()))))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_skips_a_non_finite_step_on_the_device(stack):
    """On CUDA under bf16 autocast the step is skipped by the fused optimiser's flag, with no
    read of the loss: a NaN batch leaves the weights as they were, the next batch trains."""
    windows = WindowDataset.from_spec(stack, SAMPLE)
    scaler = Scaler.fit(windows)
    data = DeviceWindows(windows, scaler, "cuda")
    index = data.index(windows.indices("train"))
    torch.manual_seed(0)
    model = TinyForecaster(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3).cuda()
    step = Optimisation.create(model, CONFIG.replace(device="cuda"), torch.device("cuda"))
    assert step.skip_on_device
    batch = data.batch(index, torch.arange(64, device="cuda"))
    train_step(model, batch, step)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not torch.isfinite(train_step(model, batch._replace(sd=batch.sd.clone().fill_(
        torch.nan)), step))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.isfinite(train_step(model, batch, step))
    assert not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_run_trains_and_resumes(tmp_path, stack, tiny_model):
    """A whole run on CUDA (bf16 autocast, losses read every few steps): the loss falls, the
    log holds the in-run rate, and a resumed run continues to the same epoch count."""
    config = CONFIG.replace(device="cuda", epochs=3, early_stopping=False)

    with pytest.raises(KeyboardInterrupt):
        train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False,
              on_epoch_end=interrupt_after(2))
    result = train(stack, tiny_model, config, out_dir=tmp_path, sample=SAMPLE, progress=False)
    assert result.epochs_run == 3
    losses = [entry["train_loss"] for entry in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert all(entry["windows_per_s"] > 0 for entry in result.history)
    assert '"event": "resume"' in (tmp_path / LOG_FILE).read_text()
