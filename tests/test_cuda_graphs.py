"""Tests for the training step in a CUDA graph (gler.train.GraphedStep): the switch is ignored
on CPU, a failed capture and running out of memory fall back to the eager step; on CUDA, a
graphed step equals the eager one, a graphed run trains like an eager run (its last, smaller
batch included) and resumes."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest
import torch
from _pipeline_stack import TinyForecaster, interrupt_after

import gler.train
from gler.averaging import WeightAverage
from gler.data.device_windows import DeviceWindows
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset
from gler.models import create_model
from gler.run import CHECKPOINT_FILE, LOG_FILE, RUN_FILE
from gler.train import GraphedStep, Optimisation, TrainConfig, train, train_step

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=2, batch_size=64, patience=10, device="cpu", pixel_fraction=1.0)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _setup(stack, device: str, model: torch.nn.Module, config: TrainConfig):
    windows = WindowDataset.from_spec(stack, SAMPLE)
    data = DeviceWindows(windows, Scaler.fit(windows), device)
    index = data.index(windows.indices("train"))
    model = model.to(device).train()
    return data, index, model, Optimisation.create(model, config, torch.device(device))


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]


def test_the_switch_is_ignored_on_cpu(tmp_path, stack, tiny_model, monkeypatch):
    """On CPU no step is graphed: the same weights, bit for bit, with the switch on or off;
    ``run.json`` names the switch only when off, and a run resumes with the other setting."""

    def refuse(*args, **kwargs):
        msg = "GraphedStep built on CPU"
        raise AssertionError(msg)

    monkeypatch.setattr(gler.train, "GraphedStep", refuse)
    runs = {}
    for on in (True, False):
        config = CONFIG.replace(cuda_graphs=on, ema_decay=0.9, factor_dropout=0.3)
        train(stack, tiny_model, config, out_dir=tmp_path / str(on), sample=SAMPLE,
              progress=False)
        runs[on] = torch.load(tmp_path / str(on) / CHECKPOINT_FILE, weights_only=True)
        written = json.loads((tmp_path / str(on) / RUN_FILE).read_text())["train_config"]
        assert ("cuda_graphs" in written) is not on
    for part in ("model", "average"):
        a, b = runs[True][part], runs[False][part]
        a, b = (a["average"], b["average"]) if part == "average" else (a, b)
        assert all(torch.equal(a[k], b[k]) for k in a)

    # A run interrupted with the switch off goes on with it on.
    with pytest.raises(KeyboardInterrupt):
        train(stack, tiny_model, CONFIG.replace(cuda_graphs=False), out_dir=tmp_path / "r",
              sample=SAMPLE, progress=False, on_epoch_end=interrupt_after(1))
    result = train(stack, tiny_model, CONFIG, out_dir=tmp_path / "r", sample=SAMPLE,
                   progress=False)
    assert result.epochs_run == 2


class Refused:
    """A stand-in for ``torch.cuda.CUDAGraph`` whose construction fails (a mocked capture
    failure, as on a machine whose driver refuses graphs)."""

    def __init__(self) -> None:
        msg = "graphs refused (mocked)"
        raise RuntimeError(msg)


def test_a_failed_capture_trains_eagerly(tmp_path, stack, monkeypatch):
    """Capture fails: a warning and a log entry say so, the step returns None from then on and
    the trainer's step trains eagerly, with the same bits as the eager step (CPU)."""
    monkeypatch.setattr(gler.train, "GRAPH_WARMUP_STEPS", 0)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Refused)
    torch.manual_seed(0)
    model = TinyForecaster(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3)
    twin = copy.deepcopy(model)
    data, index, model, step = _setup(stack, "cpu", model, CONFIG)
    _, _, twin, twin_step = _setup(stack, "cpu", twin, CONFIG)
    graphed = GraphedStep(model, data, index, step, 64, out_dir=tmp_path)
    positions = torch.arange(64)
    with pytest.warns(RuntimeWarning, match="CUDA graphs off: capturing the training step "
                                            "failed .RuntimeError: graphs refused"):
        assert graphed(positions) is None
    assert graphed.stopped and graphed(positions) is None
    assert [e["event"] for e in _log(tmp_path)] == ["cuda_graphs_off"]
    for begin in (0, 64):
        positions = torch.arange(begin, begin + 64)
        torch.manual_seed(begin)
        loss = gler.train._fitted_step(model, data, index, positions, step, tmp_path, 1, 0,
                                       graphed)
        torch.manual_seed(begin)
        assert torch.equal(loss, train_step(twin, data.batch(index, positions), twin_step))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 twin.state_dict().values(), strict=True))


def test_out_of_memory_stops_the_graphs_and_accumulates(tmp_path, stack):
    """Out of memory in a graphed step: a warning says that the graphs are off, and the batch
    trains eagerly over two micro-batches (gradient accumulation)."""

    class OutOfMemoryOnce(GraphedStep):
        def __call__(self, positions):
            if not self.stopped:
                msg = "CUDA out of memory (simulated)"
                raise torch.cuda.OutOfMemoryError(msg)
            return super().__call__(positions)

    torch.manual_seed(0)
    model = TinyForecaster(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3)
    data, index, model, step = _setup(stack, "cpu", model, CONFIG)
    graphed = OutOfMemoryOnce(model, data, index, step, 64, out_dir=tmp_path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loss = gler.train._fitted_step(model, data, index, torch.arange(64), step, tmp_path,
                                       1, 0, graphed)
    assert torch.isfinite(loss) and step.micro_batches == 2 and graphed.stopped
    said = [str(w.message) for w in seen]
    assert any("CUDA graphs off: out of device memory" in s for s in said)
    assert any("Out of device memory" in s for s in said)
    assert [e["event"] for e in _log(tmp_path)] == ["cuda_graphs_off", "out_of_memory"]


def test_weight_average_counts_on_the_device_as_on_the_host():
    """Counted in a tensor, the average's warmed-up decay and its state match the count kept
    on the host (to float rounding), and a loaded state sets the tensor count."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    host, device = WeightAverage(model, 0.9), WeightAverage(model, 0.9)
    device.count_on_device(torch.device("cpu"))
    counter = device.count
    for _ in range(30):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        host.update(model)
        device.update(model, keep=torch.tensor(True))
    assert device.count is counter and device.state_dict()["updates"] == 30 == host.updates
    for name, value in host.average.items():
        torch.testing.assert_close(device.average[name], value, rtol=1e-6, atol=1e-6)
    device.load_state_dict({**host.state_dict(), "updates": 7})
    assert float(device.count) == 7.0 and device.count is counter


def test_prepare_graphs_puts_the_rate_on_the_device(stack):
    """After prepare_graphs the learning rate is a tensor set in place (a captured step reads
    it); before, a plain number as ever."""
    model = TinyForecaster(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3)
    *_, step = _setup(stack, "cpu", model, CONFIG.replace(ema_decay=0.9))
    step.set_lr(0.5)
    assert step.optimiser.param_groups[0]["lr"] == 0.5
    step.prepare_graphs()
    rate = step.optimiser.param_groups[0]["lr"]
    step.set_lr(0.25)
    assert step.optimiser.param_groups[0]["lr"] is rate and float(rate) == 0.25
    assert step.average.count is not None


# -- CUDA -------------------------------------------------------------------------------------


@pytest.mark.cuda
@needs_cuda
def test_cuda_graphed_step_equals_the_eager_step(stack):
    """GLER (cuDNN GRU, fused attention) under bf16 autocast with clipping, weight averaging
    and a learning rate changed between replays: three warm-up steps, the capture and three
    replays give the eager steps' losses, weights and average (rtol 1e-3, atol 1e-5)."""
    config = CONFIG.replace(device="cuda", ema_decay=0.9, grad_clip=1.0)
    torch.manual_seed(0)
    model = create_model("gler", window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3,
                         dropout=0.0)
    twin = copy.deepcopy(model)
    data, index, model, step = _setup(stack, "cuda", model, config)
    _, _, twin, twin_step = _setup(stack, "cuda", twin, config)
    graphed = GraphedStep(model, data, index, step, 64)
    for k in range(7):
        if k >= 5:
            step.set_lr(1e-3 * k)
            twin_step.set_lr(1e-3 * k)
        positions = torch.arange(64 * k, 64 * (k + 1), device="cuda") % len(index)
        loss = graphed(positions)
        expected = train_step(twin, data.batch(index, positions), twin_step)
        torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-5)
    assert graphed.graph is not None and not graphed.stopped
    for a, b in ((model.state_dict(), twin.state_dict()),
                 (step.average.average, twin_step.average.average)):
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-5)
    assert step.average.state_dict()["updates"] == twin_step.average.updates == 7


@pytest.mark.cuda
@needs_cuda
def test_cuda_graphed_run_trains_like_eager_and_resumes(tmp_path, stack, tiny_model,
                                                        monkeypatch):
    """A graphed run of three epochs (cosine rate, a warm-up epoch, weight averaging) gives
    the eager run's training and validation losses (rtol 1e-2), trains each epoch's last,
    smaller batch eagerly, and a run interrupted after two epochs resumes to the same losses
    (rtol 1e-2)."""
    config = CONFIG.replace(device="cuda", epochs=3, early_stopping=False, warmup_epochs=1,
                            ema_decay=0.9, batch_size=48)
    sizes = []
    original = gler.train.train_step

    def counted(model, batch, step):
        sizes.append(batch.size)
        return original(model, batch, step)

    monkeypatch.setattr(gler.train, "train_step", counted)
    histories = {}
    for name, on in (("graphs", True), ("eager", False)):
        result = train(stack, tiny_model, config.replace(cuda_graphs=on),
                       out_dir=tmp_path / name, sample=SAMPLE, progress=False)
        histories[name] = result.history
        if on:
            windows = result.history[0]["train_windows"]
            assert windows % 48, "the test needs a last, smaller batch"
            # Eager: three warm-up steps, the capture, and each epoch's last batch.
            assert sorted(sizes) == sorted([48] * 4 + [windows % 48] * 3)
            assert "cuda_graphs_off" not in (tmp_path / name / LOG_FILE).read_text()
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose([e[key] for e in histories["graphs"]],
                                   [e[key] for e in histories["eager"]], rtol=1e-2)

    with pytest.raises(KeyboardInterrupt):
        train(stack, tiny_model, config, out_dir=tmp_path / "resumed", sample=SAMPLE,
              progress=False, on_epoch_end=interrupt_after(2))
    result = train(stack, tiny_model, config, out_dir=tmp_path / "resumed", sample=SAMPLE,
                   progress=False)
    assert result.epochs_run == 3
    assert '"event": "resume"' in (tmp_path / "resumed" / LOG_FILE).read_text()
    np.testing.assert_allclose([e["train_loss"] for e in result.history],
                               [e["train_loss"] for e in histories["graphs"]], rtol=1e-2)


@pytest.mark.cuda
@needs_cuda
def test_cuda_a_syncing_model_is_not_captured_and_trains_eagerly(tmp_path, stack):
    """A model that reads a value on the host in its forward cannot be captured: the last
    warm-up step sees it, a warning says so, no capture is tried, and training goes on
    eagerly on the same device (dropout included: its random generator stays usable)."""

    class Syncing(TinyForecaster):
        def forward(self, sd, ef=None, mask=None):
            out = super().forward(sd, ef, mask)
            return out * (1.0 + 0.0 * float(out.detach().sum()))

    torch.manual_seed(0)
    model = Syncing(window=SAMPLE.window, horizon=SAMPLE.horizon, n_ef=3)
    data, index, model, step = _setup(stack, "cuda", model, CONFIG.replace(device="cuda"))
    graphed = GraphedStep(model, data, index, step, 64, out_dir=tmp_path)
    positions = torch.arange(64, device="cuda")
    with pytest.warns(RuntimeWarning, match="CUDA graphs off: the training step waits"):
        for _ in range(gler.train.GRAPH_WARMUP_STEPS):
            assert torch.isfinite(graphed(positions))
    assert graphed(positions) is None and graphed.graph is None
    loss = gler.train._fitted_step(model, data, index, positions, step, tmp_path, 1, 0, graphed)
    assert torch.isfinite(loss)
