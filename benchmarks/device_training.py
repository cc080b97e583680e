"""Check training that lives on the device: the in-run rate against the bench step rate.

Run on a CUDA machine (a few minutes; CPU works too, for a dry run with ``--small``)::

    python benchmarks/device_training.py --out device_training.json

It checks, and prints as JSON:

* ``batches_equal``: :class:`~gler.data.device_windows.DeviceWindows` batches on the device
  equal the host batches (``WindowDataset.batch`` + ``Scaler``) moved there (max difference).
* ``bench``: the step rate of :func:`benchmarks.bench.train_throughput` (GLER, batch 2,048 on
  CUDA).
* ``in_run``: :func:`gler.train.train` of the same model and batch, its epochs' logged
  ``windows_per_s`` and their ratio to the bench rate (the target: at least 0.8 after the
  first epoch).
* ``in_run_graphs``: the best in-run windows/s after the first epoch of GLER at the paper's
  batch (512) and at the batch above, with the training step in a CUDA graph (the default)
  and without (``cuda_graphs=False``), and their ratio; whether a capture failed (the log's
  ``cuda_graphs_off``).
* ``syncs``: host-device synchronisations counted by ``torch.cuda.set_sync_debug_mode`` in
  one training epoch, per step (a read every 64 steps: about 1/64 plus a few per epoch).
* ``step_syncs``: the same counted over 20 training steps alone (eager, and replayed from a
  CUDA graph after its warm-up and capture); the target is 0 for both.
* ``non_finite_skipped``: on the device, a NaN loss leaves weights, optimiser state and
  weight average untouched (fused AdamW's ``found_inf``).
* ``out_of_memory``: a simulated out-of-memory error in training falls back to two
  micro-batches (warning and log entry) and ends with a loss close to the full batch's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench import HORIZON, WINDOW, train_throughput

from gler.config import TrainConfig
from gler.data.device_windows import DeviceWindows, TensorBatch
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.synthetic import synthetic_stack
from gler.data.windows import WindowDataset
from gler.models import create_model
from gler.run import LOG_FILE
from gler.train import GRAPH_WARMUP_STEPS, GraphedStep, Optimisation, train, train_step


def _sample(stack) -> SampleSpec:
    factors = tuple(v for v in stack.data_vars if stack[v].dims == ("time",))
    return SampleSpec(window=WINDOW, horizon=HORIZON, factors=factors)


def batches_equal(stack, device: torch.device) -> dict:
    windows = WindowDataset.from_spec(stack, _sample(stack))
    pixels = windows.pixels(0.5, seed=0)
    scaler = Scaler.fit(windows, pixels)
    data = DeviceWindows(windows, scaler, device, pixels)
    index = windows.indices("train", pixels)
    order = np.random.default_rng(0).permutation(len(index))[:4096]
    host = TensorBatch.from_batch(windows.batch(index, order), scaler, device)
    got = data.batch(data.index(index), torch.from_numpy(order).to(device))
    out = {}
    for name, a, b in zip(TensorBatch._fields, host, got, strict=True):
        same_nan = bool(torch.equal(a.isnan(), b.isnan())) if a.is_floating_point() else True
        diff = float((a.float().nan_to_num() - b.float().nan_to_num()).abs().max())
        out[name] = {"max_abs_diff": diff, "same_nan": same_nan}
    return out


def in_run(stack, device: torch.device, batch: int, epochs: int, samples: int, *,
           cuda_graphs: bool = True) -> dict:
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=1e-3, device=device.type,
                         max_samples_per_epoch=samples, max_val_samples=samples // 4,
                         early_stopping=False, cuda_graphs=cuda_graphs)
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(stack, "gler", config, out_dir=run_dir, progress=False,
                       sample=_sample(stack))
        graphs_off = "cuda_graphs_off" in (Path(run_dir) / LOG_FILE).read_text()
    return {"epochs": [{k: e[k] for k in ("epoch", "train_windows", "train_s",
                                            "windows_per_s", "val_s", "train_loss")}
                       for e in result.history], "cuda_graphs_off": graphs_off}


def in_run_graphs(stack, device: torch.device, batches: tuple[int, ...], epochs: int,
                  steps: int) -> dict:
    """GLER's in-run rate (best epoch after the first) with and without CUDA graphs."""
    out = {}
    for batch in batches:
        entry = {}
        for name, on in (("graphs", True), ("eager", False)):
            run = in_run(stack, device, batch, epochs, batch * steps, cuda_graphs=on)
            entry[name] = max(e["windows_per_s"] for e in run["epochs"][1:])
            entry[f"{name}_train_loss"] = run["epochs"][-1]["train_loss"]
            if on:
                entry["cuda_graphs_off"] = run["cuda_graphs_off"]
        entry["ratio"] = round(entry["graphs"] / entry["eager"], 3)
        out[str(batch)] = entry
    return out


def step_syncs(stack, device: torch.device, batch: int, steps: int = 20) -> dict:
    """Synchronisations over ``steps`` GLER training steps alone: eager, and replayed from a
    CUDA graph (counted after its warm-up and capture)."""
    if device.type != "cuda":
        return {"skipped": "not CUDA"}
    windows = WindowDataset.from_spec(stack, _sample(stack))
    scaler = Scaler.fit(windows)
    data = DeviceWindows(windows, scaler, device)
    index = data.index(windows.indices("train"))
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(index))).to(device)
    out = {}
    for name in ("eager", "graphs"):
        model = create_model("gler", window=WINDOW, horizon=HORIZON,
                             n_ef=len(windows.factors)).to(device).train()
        step = Optimisation.create(model, TrainConfig(lr=1e-3, ema_decay=0.99,
                                                      factor_dropout=0.1, device="cuda"),
                                   device)
        graphed = GraphedStep(model, data, index, step, batch) if name == "graphs" else None

        def one(k: int, step=step, model=model, graphed=graphed) -> None:
            picked = order[(k * batch) % (len(order) - batch):][:batch]
            if graphed is None or graphed(picked) is None:
                train_step(model, data.batch(index, picked), step)

        for k in range(GRAPH_WARMUP_STEPS + 2):  # warm-up (and capture) first
            one(k)
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for k in range(steps):
                    one(k)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        out[name] = {"steps": steps, "syncs": sum("synchroniz" in str(w.message) for w in seen),
                     "captured": None if graphed is None else graphed.graph is not None}
    return out


def syncs(stack, device: torch.device, batch: int, samples: int) -> dict:
    if device.type != "cuda":
        return {"skipped": "not CUDA"}
    config = TrainConfig(epochs=1, batch_size=batch, lr=1e-3, device="cuda",
                         max_samples_per_epoch=samples, max_val_samples=batch,
                         early_stopping=False)
    with tempfile.TemporaryDirectory() as run_dir, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train(stack, "gler", config, out_dir=run_dir, progress=False, sample=_sample(stack))
        finally:
            torch.cuda.set_sync_debug_mode(0)
    steps = -(-samples // batch)
    count = sum("synchroniz" in str(w.message) for w in seen)
    return {"steps": steps, "syncs": count, "per_step": round(count / steps, 3),
            "note": "includes setup (data to the device), validation and checkpoint syncs"}


def non_finite_skipped(stack, device: torch.device) -> dict:
    windows = WindowDataset.from_spec(stack, _sample(stack))
    scaler = Scaler.fit(windows)
    data = DeviceWindows(windows, scaler, device, windows.valid_pixels[:256])
    index = data.index(windows.indices("train", windows.valid_pixels[:256]))
    model = create_model("gler", window=WINDOW, horizon=HORIZON,
                         n_ef=len(windows.factors)).to(device)
    step = Optimisation.create(model, TrainConfig(ema_decay=0.9, grad_clip=1.0,
                                                  device=device.type), device)
    batch = data.batch(index, torch.arange(256, device=device))
    train_step(model, batch, step)

    def snap():
        return [t.clone() for t in (*model.state_dict().values(),
                                    *step.average.average.values(),
                                    *(v for s in step.optimiser.state.values()
                                      for v in s.values()))]

    before = snap()
    loss = train_step(model, batch._replace(sd=torch.full_like(batch.sd, torch.nan)), step)
    after = snap()
    unchanged = all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    finite_after = bool(torch.isfinite(train_step(model, batch, step)))
    changed_after = not all(torch.equal(a, b) for a, b in zip(after, snap(), strict=True))
    return {"skip_on_device": step.skip_on_device, "loss": float(loss),
            "unchanged": unchanged, "next_step_updates": finite_after and changed_after}


def out_of_memory(stack, device: torch.device, batch: int) -> dict:
    config = TrainConfig(epochs=1, batch_size=batch, lr=1e-3, device=device.type,
                         max_samples_per_epoch=batch * 8, max_val_samples=batch,
                         early_stopping=False, seed=3)
    losses = {}
    for mode in ("full", "oom"):
        original = torch.nn.Module.__call__
        raised = {"n": 0}

        def call(self, *args, _orig=original, _raised=raised, _mode=mode, **kwargs):
            if (_mode == "oom" and not _raised["n"] and self.training and args
                    and torch.is_tensor(args[0]) and args[0].shape[0] > batch // 2):
                _raised["n"] += 1
                msg = "CUDA out of memory (simulated)"
                raise torch.cuda.OutOfMemoryError(msg)
            return _orig(self, *args, **kwargs)

        torch.nn.Module.__call__ = call
        try:
            with tempfile.TemporaryDirectory() as run_dir, warnings.catch_warnings(
                    record=True) as seen:
                warnings.simplefilter("always")
                result = train(stack, "gler", config, out_dir=run_dir, progress=False,
                               sample=_sample(stack))
                log = (Path(run_dir) / LOG_FILE).read_text()
        finally:
            torch.nn.Module.__call__ = original
        losses[mode] = {"train_loss": result.history[-1]["train_loss"],
                        "raised": raised["n"], "logged": "out_of_memory" in log,
                        "warned": any("Out of device memory" in str(w.message) for w in seen)}
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="a dry run in seconds (CPU)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    size, batch = (16, 64) if args.small else (100, 2048 if cuda else 256)
    samples = batch * (4 if args.small else 200)
    start = time.perf_counter()
    stack = synthetic_stack(ny=size, nx=size, nt=180)
    report: dict = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "batch": batch}
    report["batches_equal"] = batches_equal(stack, device)
    report["bench"] = train_throughput(stack, device, models=("gler",), batch=batch,
                                       steps=4 if args.small else 50, repeats=3)["gler"]
    report["in_run"] = in_run(stack, device, batch, 2 if args.small else 3, samples)
    bench_rate = report["bench"]["windows_per_s"]
    later = [e["windows_per_s"] for e in report["in_run"]["epochs"][1:]]
    report["in_run"]["ratio_to_bench"] = round(max(later) / bench_rate, 3)
    report["in_run_graphs"] = in_run_graphs(stack, device, (64,) if args.small else (512, batch),
                                            2 if args.small else 3, 4 if args.small else 100)
    report["syncs"] = syncs(stack, device, batch, samples)
    report["step_syncs"] = step_syncs(stack, device, batch)
    report["non_finite_skipped"] = non_finite_skipped(stack, device)
    report["out_of_memory"] = out_of_memory(stack, device, batch)
    report["wall_s"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
