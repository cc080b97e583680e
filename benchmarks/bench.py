"""Throughput of gler against the hardware: training, forecasting, FLOP/s and classical fits.

Usage::

    python benchmarks/bench.py                      # the published configuration
    python benchmarks/bench.py --tiny --out r.json  # seconds; what CI runs

Prints a table and writes JSON with

- ``machine``: CPU model, cores, torch/numpy versions, threads, GPU name, load average, whether
  :mod:`gler.kernels` are built and whether glibc keeps freed memory (:mod:`gler.allocator`,
  set here as :func:`gler.forecast.predict` and :func:`gler.train.train` set it);
- ``peak``: the measured float32 matrix-multiply rate of each device (``torch.matmul`` of
  two large square matrices of random values, best of several); ``run_peak``: the same in the
  precision the forward runs in (bf16 on CUDA, float32 on CPU), the denominator of the FLOP/s
  ratio;
- ``train``: training throughput (windows/s) of GLER and each neural baseline: the trainer's
  step (gather windows, normalise, forward, masked loss, backward, clip, AdamW);
  ``train_graphs`` (with ``--graph-batches``): the same at each of those batch sizes, eager and
  with the step replayed from a CUDA graph (:class:`gler.train.GraphedStep`; CUDA only), timed
  side by side, and their ratio;
- ``forecast``: GLER forward throughput (pixels/s) at the default size over a batch-size
  sweep (on CPU with gler's fused kernels, the default, and with PyTorch's operations only),
  the forward FLOPs per pixel (``torch.utils.flop_counter.FlopCounterMode``), the achieved
  FLOP/s and its ratio to the matmul peak; ``predict``: the whole
  :func:`gler.forecast.predict` path end to end (windowing, normalisation and transfers
  included; on CUDA over a 1,000,000-pixel scene, ``--predict-pixels``), its seconds per
  million pixels, its ratio to the forward rate at the same batch and ``stages_s``, the
  seconds of each of its stages (:data:`gler.forecast.STAGES`: host preparation, transfer to
  the device, forward, copy back, xarray output; timed in separate calls, synchronised);
- ``scores``: :func:`gler.scoring.probabilistic_scores` (split conformal) and
  :func:`gler.scoring.quantile_scores` (seven quantiles) of one region's test year (27 issue
  dates × 6 steps × the ``paper`` profile's 128 × 128 pixels; 32 × 32 with ``--tiny``) on
  each device: NumPy on the CPU, PyTorch on CUDA; the evaluation scores every calibrated model
  twice (observations and, on QTR-sim, the clean signal);
- ``classical``: each classical baseline over ``--classical-pixels`` pixels × ``--dates``
  dates with complete series, and over at most 65,536 pixels with 2 % missing values (these
  take another code path, a solve per pixel); ``--classical-pixels 0`` leaves them out.

On CUDA the neural parts run in bf16 autocast and, where it is faster, ``torch.compile``-d.
Timings are wall-clock medians over ``--repeats`` after a warm-up (CUDA synchronised).
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from gler import kernels
from gler.allocator import keep_freed_memory
from gler.config import TrainConfig
from gler.conformal import residual_calibration
from gler.data.device_windows import DeviceWindows
from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW, SampleSpec
from gler.data.synthetic import synthetic_stack
from gler.data.windows import WindowDataset
from gler.forecast import STAGES, _predict, predict
from gler.models import count_flops, create_model, list_models, model_info
from gler.run import Run, load_run
from gler.scoring import probabilistic_scores, quantile_scores
from gler.train import GraphedStep, Optimisation, train, train_step

#: Pixels of the classical fits with missing values (a per-pixel solve each: slow at 1 M).
GAPPY_PIXELS = 65_536
#: The neural models timed for training: GLER and the baselines (not the GLER ablations).
TRAIN_MODELS = ("gler", *list_models("neural", tag="baseline"))
WINDOW, HORIZON = DEFAULT_WINDOW, DEFAULT_HORIZON

CONFIGS = {
    # name: matmul size, forecast pixels per timing, batch sizes, train steps, classical pixels
    "tiny": {"matmul": 256, "pixels": 512, "batches": (128, 256), "train_steps": 2,
             "train_batch": 64, "classical_pixels": 2048, "stack": 16, "repeats": 2,
             "score_pixels": 32 * 32},
    "full": {"matmul": 2048, "pixels": 16384, "batches": (256, 1024, 2048, 4096, 16384),
             "train_steps": 10, "train_batch": 256, "classical_pixels": 1_000_000,
             "stack": 100, "repeats": 3, "score_pixels": 128 * 128},
}
CUDA_BATCHES = (4096, 16384, 65536, 262144)
#: Pixels of the end-to-end predict timing on CUDA (a Sentinel-1 scene's order).
CUDA_PREDICT_PIXELS = 1_000_000


# -- measuring ------------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_side_by_side(fns: dict[str, Callable[[], object]], *, device: torch.device,
                       repeats: int, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Best and median wall time of each of ``fns`` over ``repeats`` rounds after ``warmup``
    rounds; each round calls every function once, so a machine whose speed drifts (a shared
    VM) slows them all alike and the comparison between them holds."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: {"best_s": min(t), "median_s": statistics.median(t)}
            for name, t in times.items()}


def timed(fn: Callable[[], object], *, device: torch.device, repeats: int,
          warmup: int = 1) -> dict[str, float]:
    """Best and median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    return timed_side_by_side({"fn": fn}, device=device, repeats=repeats, warmup=warmup)["fn"]


def machine_info() -> dict:
    """CPU model, cores, versions, threads and GPU of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
        "platform": platform.platform(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gler_kernels": kernels.available(), "keep_freed_memory": keep_freed_memory(),
    }
    return info


def matmul_peak(device: torch.device, n: int, repeats: int,
                dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Measured ``dtype`` matmul rate (FLOP/s) of ``device``: 2 n³ / best time, on random
    data (never zeros: they run faster than real data on some GPUs)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device, dtype)
    b = torch.randn(n, n, generator=gen).to(device, dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    t = timed(lambda: torch.matmul(a, b, out=out), device=device, repeats=repeats)
    return {"n": n, "dtype": str(dtype).removeprefix("torch."),
            "flops": 2 * n**3 / t["best_s"], "median_flops": 2 * n**3 / t["median_s"]}


# -- neural models --------------------------------------------------------------------------------

def make_run(stack, model_name: str, device: torch.device) -> tuple[Run, WindowDataset]:
    """A run of ``model_name`` on ``stack`` (seed 0) after one optimiser step, loaded onto
    ``device``: what the timings need is its model, scaler and windows, not training."""
    factors = tuple(v for v in stack.data_vars if stack[v].dims == ("time",))
    config = TrainConfig(epochs=1, max_samples_per_epoch=64, max_val_samples=64, batch_size=64,
                         device="cpu")
    with tempfile.TemporaryDirectory() as run_dir:
        train(stack, model_name, config, out_dir=run_dir, progress=False,
              sample=SampleSpec(window=WINDOW, horizon=HORIZON, factors=factors))
        run = load_run(run_dir, map_location=device)
    run.model.to(device)
    return run, run.windows(stack)


def _autocast(device: torch.device) -> object:
    """bf16 autocast on CUDA (what the trainer uses there), nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _train_steps(model: torch.nn.Module, data: DeviceWindows, index, order: torch.Tensor,
                 step: Optimisation, graphed: GraphedStep | None, batch: int,
                 steps: int) -> None:
    """``steps`` training steps on full batches of ``order`` (replayed by ``graphed`` once it
    has captured the step)."""
    for k in range(steps):
        begin = (k * batch) % max(1, len(order) - batch + 1)
        picked = order[begin:begin + batch]
        if graphed is None or graphed(picked) is None:
            train_step(model, data.batch(index, picked), step)


def _training_data(stack, name: str, device: torch.device):
    run, windows = make_run(stack, name, device)
    data = DeviceWindows(windows, run.scaler, device)
    index = data.index(windows.indices("train"))
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(index))).to(device)
    return run.model.train(), data, index, order


def train_throughput(stack, device: torch.device, *, models: tuple[str, ...], batch: int,
                     steps: int, repeats: int) -> dict[str, dict]:
    """Windows per second of the trainer's step (:func:`gler.train.train_step`, window
    gathering and normalisation on the device included, as in the trainer:
    :class:`gler.data.device_windows.DeviceWindows`) of each model."""
    results = {}
    for name in models:
        model, data, index, order = _training_data(stack, name, device)
        step = Optimisation.create(model, TrainConfig(lr=1e-3, device=device.type), device)
        epoch = functools.partial(_train_steps, model, data, index, order, step, None, batch,
                                  steps)
        t = timed(epoch, device=device, repeats=repeats)
        results[name] = {"windows_per_s": steps * batch / t["median_s"],
                         "best_windows_per_s": steps * batch / t["best_s"], "batch": batch,
                         "parameters": sum(p.numel() for p in model.parameters())}
    return results


def train_graphs(stack, device: torch.device, *, models: tuple[str, ...],
                 batches: tuple[int, ...], steps: int, repeats: int) -> dict[str, dict]:
    """Windows per second of each model's training step at each of ``batches``: ``eager``
    (:func:`gler.train.train_step`) and ``graphs`` (the step captured once in a CUDA graph and
    replayed, :class:`gler.train.GraphedStep`: its warm-up and capture fall in the untimed first
    round when ``steps`` > 3), timed side by side from the same weights, and ``speedup``
    (graphs / eager); on CPU the eager rate only. ``captured`` is False where the capture
    failed (the step then ran eagerly, with a warning)."""
    results: dict[str, dict] = {}
    cuda = device.type == "cuda"
    for name in models:
        base, data, index, order = _training_data(stack, name, device)
        results[name] = {}
        for batch in batches:
            fns, graphed = {}, None
            for variant in ("eager", "graphs") if cuda else ("eager",):
                model = copy.deepcopy(base).to(device)  # .to: a GRU's weights in one chunk
                step = Optimisation.create(model, TrainConfig(lr=1e-3, device=device.type),
                                           device)
                if variant == "graphs":
                    graphed = GraphedStep(model, data, index, step, batch)
                fns[variant] = functools.partial(_train_steps, model, data, index, order, step,
                                                 graphed if variant == "graphs" else None,
                                                 batch, steps)
            t = timed_side_by_side(fns, device=device, repeats=repeats)
            entry = {v: steps * batch / t[v]["median_s"] for v in t}
            if graphed is not None:
                entry["speedup"] = entry["graphs"] / entry["eager"]
                entry["captured"] = graphed.graph is not None
            results[name][str(batch)] = entry
    return results


def flops_per_pixel(model: torch.nn.Module, batch: int, *, shared_factors: bool) -> float:
    """Forward FLOPs per pixel at ``batch``; with one shared factor window, the per-pixel part
    plus the once-per-batch factor part over ``batch`` (both counted exactly at batch 1 and 2)."""
    if not shared_factors:
        return count_flops(model)
    one, two = (count_flops(model, batch=b, shared_factors=True) for b in (1, 2))
    per_batch = 2 * (one - two)
    return one - per_batch + per_batch / batch


def forecast_sweep(stack, device: torch.device, *, batches: tuple[int, ...], pixels: int,
                   repeats: int, compile_model: bool, peak: float) -> dict:
    """GLER forward pixels/s per batch size, FLOPs per pixel and the fraction of the peak.

    Variants: ``eager`` (the default path: on CPU with :mod:`gler.kernels` when they are
    built), ``pytorch`` (CPU, PyTorch's operations only) and ``compiled`` (``torch.compile`` of
    PyTorch's operations), timed side by side at each batch size (:func:`timed_side_by_side`).
    Two factor inputs: one window per pixel (``per-pixel``: the whole model's work, as in
    training) and one window shared by the batch (``shared``: a map at one issue date, what
    :func:`gler.forecast.predict` passes with scene-wide factors).
    """
    run, _ = make_run(stack, "gler", device)
    model = run.model
    counting = create_model("gler", window=WINDOW, horizon=HORIZON, n_ef=model.n_ef).eval()
    gen = torch.Generator(device="cpu").manual_seed(1)
    # Fresh random normalised inputs (not zeros): a series near 0 at its end, factors ~N(0, 1).
    sd_all = torch.randn(pixels, WINDOW, generator=gen).cumsum(1).flip(1).to(device) * 0.3
    ef_all = torch.randn(pixels, WINDOW, model.n_ef, generator=gen).to(device)
    mask_all = (torch.rand(pixels, WINDOW, generator=gen) > 0.02).to(device)
    variants = {"eager": (model, nullcontext)}
    if device.type == "cpu" and kernels.available():
        variants["pytorch"] = (model, kernels.disabled)
    if compile_model:
        variants["compiled"] = (torch.compile(model, dynamic=False), kernels.disabled)
    sweep = []
    for factors, batch in itertools.product(("per-pixel", "shared"), batches):
        n = max(batch, pixels // batch * batch)
        if n > pixels:
            continue
        shared = factors == "shared"

        @torch.inference_mode()
        def run_all(fn, context, batch=batch, n=n, shared=shared) -> None:
            with _autocast(device), context():
                for start in range(0, n, batch):
                    ef = ef_all[start:start + (1 if shared else batch)]
                    fn(sd_all[start:start + batch], ef, mask_all[start:start + batch])

        times = timed_side_by_side({name: functools.partial(run_all, *v)
                                    for name, v in variants.items()},
                                   device=device, repeats=repeats)
        flops = flops_per_pixel(counting, batch, shared_factors=shared)
        for variant, t in times.items():
            rate = n / t["median_s"]
            sweep.append({"variant": variant, "factors": factors, "batch": batch,
                          "pixels_per_s": rate, "best_pixels_per_s": n / t["best_s"],
                          "flops_per_pixel": flops, "flops_per_s": rate * flops,
                          "peak_fraction": rate * flops / peak})
    sweep.sort(key=lambda r: list(variants).index(r["variant"]))  # stable: by variant, then as run
    best = max(sweep, key=lambda r: r["pixels_per_s"])
    return {"model": "gler", "n_ef": model.n_ef, "flops_per_pixel": count_flops(counting),
            "dtype": "bf16-autocast" if device.type == "cuda" else "float32",
            "sweep": sweep, "best": best}


def predict_throughput(stack, device: torch.device, *, batch: int, repeats: int,
                       pixels: int | None = None, forward: dict | None = None) -> dict:
    """Pixels/s of :func:`gler.forecast.predict` end to end (last issue date; from the stack
    to the ``xarray`` forecast: windowing, normalisation, transfers and the model; no writing).

    With ``pixels``, on a synthetic scene of about that many pixels (a square) with the
    dates of ``stack``, by the run trained on ``stack``; else on ``stack``. On CUDA in bf16
    autocast (``amp``), as :func:`forecast_sweep` times the model. ``forward`` (the result of
    :func:`forecast_sweep` in the same run) gives the ratio of predict's rate to the model's
    own forward rate at the same batch size with the same (scene-wide) factors.
    """
    run, windows = make_run(stack, "gler", device)
    if pixels:
        side = max(1, round(pixels ** 0.5))
        stack = synthetic_stack(ny=side, nx=side, nt=stack.sizes["time"])
        windows = run.windows(stack)
    n = len(windows.valid_pixels)
    amp = device.type == "cuda"
    t = timed(lambda: predict(run, stack, issues="last", batch_size=batch,
                              device=device.type, amp=amp),
              device=device, repeats=repeats)
    rate = n / t["median_s"]
    result = {"pixels": n, "batch": batch, "dtype": "bf16-autocast" if amp else "float32",
              "pixels_per_s": rate, "best_pixels_per_s": n / t["best_s"],
              "seconds_per_million_pixels": 1e6 / rate,
              "stages_s": predict_stages(run, stack, batch=batch, device=device, amp=amp,
                                         repeats=repeats)}
    if forward is not None:
        same = [s for s in forward["sweep"] if s["variant"] == "eager"
                and s["factors"] == "shared" and s["batch"] == batch]
        if same:
            result["forward_pixels_per_s"] = same[0]["pixels_per_s"]
            result["forward_ratio"] = rate / same[0]["pixels_per_s"]
    return result


def predict_stages(run: Run, stack, *, batch: int, device: torch.device, amp: bool,
                   repeats: int) -> dict[str, float]:
    """Median seconds of each of :data:`gler.forecast.STAGES` of ``predict(run, stack,
    issues="last")`` over ``repeats`` calls after a warm-up, the device synchronised at the end
    of each stage (in these calls only, not in those :func:`predict_throughput` times)."""
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for round_ in range(1 + repeats):
        seconds = dict.fromkeys(STAGES, 0.0)
        _sync(device)
        last = time.perf_counter()

        def mark(stage: str, seconds=seconds) -> None:
            nonlocal last
            _sync(device)
            now = time.perf_counter()
            seconds[stage] += now - last
            last = now

        _predict(run, stack, issues="last", batch_size=batch, device=device.type,
                 progress=False, amp=amp, mark=mark)
        if round_:
            for stage, value in seconds.items():
                times[stage].append(value)
    return {stage: statistics.median(values) for stage, values in times.items()}


# -- classical ----------------------------------------------------------------------------------

def classical_throughput(*, pixels: int, dates: int, repeats: int,
                         names: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Seconds for each classical baseline (or ``names``) over ``pixels`` × ``dates``."""
    stack = synthetic_stack(ny=1, nx=pixels, nt=dates + HORIZON, gap_probability=0.0)
    sd = stack["displacement"].values[:dates, 0].T  # [P, L], float32
    t = (stack["time"].values - stack["time"].values[0]) / np.timedelta64(1, "D") / 365.25
    rng = np.random.default_rng(0)
    gappy = sd[:GAPPY_PIXELS].copy()
    gappy[rng.random(gappy.shape) < 0.02] = np.nan
    gappy[:, -1] = sd[:GAPPY_PIXELS, -1]
    cpu = torch.device("cpu")
    results = {}
    for name in names or list_models("classical"):
        model = create_model(name, window=dates, horizon=HORIZON)
        kwargs = {key: stack[factor].values.astype(np.float64)
                  for key, factor in model_info(name).needs.items()}
        entry = {}
        for label, data in (("complete", sd), ("gaps_2pct", gappy)):
            timing = timed(lambda model=model, data=data, kwargs=kwargs:
                           model.predict(data, t, **kwargs), device=cpu, repeats=repeats,
                           warmup=0)
            entry[label] = {"pixels": len(data), "seconds": timing["median_s"],
                            "best_seconds": timing["best_s"],
                            "pixels_per_s": len(data) / timing["median_s"]}
        results[name] = entry
    return {"pixels": pixels, "dates": dates, "models": results}


def scores_throughput(device: torch.device, *, pixels: int, repeats: int,
                      issues: int = 27) -> dict:
    """Seconds of the probabilistic scores of one test year (``issues`` × horizon × ``pixels``
    targets, 5 % missing) on ``device``: split conformal and seven quantiles."""
    rng = np.random.default_rng(0)
    shape = (issues, HORIZON, pixels)
    obs = rng.normal(size=shape).astype(np.float32)
    obs[rng.random(shape) < 0.05] = np.nan
    pred = (obs + rng.normal(size=shape)).astype(np.float32)
    calibration = residual_calibration(rng.normal(size=shape), rng.normal(size=shape))
    levels = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    quantiles = np.stack([pred + 1.2 * statistics.NormalDist().inv_cdf(level)
                          for level in levels]).astype(np.float32)
    calls = {"split_conformal": lambda: probabilistic_scores(pred, obs, calibration,
                                                             device=device),
             "quantiles": lambda: quantile_scores(quantiles, levels, obs, device=device)}
    results = {"targets": int(np.isfinite(obs).sum()), "shape": list(shape)}
    for name, call in calls.items():
        timing = timed(call, device=device, repeats=repeats, warmup=1)
        results[name] = {"seconds": timing["median_s"], "best_seconds": timing["best_s"],
                         "targets_per_s": results["targets"] / timing["median_s"]}
    return results


# -- report ---------------------------------------------------------------------------------------

def table(results: dict) -> str:
    """The benchmark as a plain-text table."""
    lines = [f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
             f"torch {results['machine']['torch']}, {results['machine']['torch_threads']} "
             f"threads, load average "
             f"{', '.join(f'{v:.2f}' for v in results['machine']['loadavg_start'] or [])}"]
    for dev, r in results["devices"].items():
        lines.append(f"\n[{dev}] matmul peak {r['peak']['flops'] / 1e9:.1f} GFLOP/s (fp32, "
                     f"n={r['peak']['n']}); the forward's % peak is of "
                     f"{r['run_peak']['flops'] / 1e9:.1f} GFLOP/s ({r['run_peak']['dtype']})")
        lines.append(f"{'training':<24}{'windows/s':>12}")
        for name, v in r["train"].items():
            lines.append(f"  {name:<22}{v['windows_per_s']:>12,.0f}")
        if r.get("train_graphs"):
            lines.append(f"{'training, eager / graphs':<24}{'batch':>8}{'eager':>12}"
                         f"{'graphs':>12}{'x':>7}")
            for name, per_batch in r["train_graphs"].items():
                for batch, v in per_batch.items():
                    graphs = (f"{v['graphs']:>12,.0f}{v['speedup']:>7.2f}" if "graphs" in v
                              else f"{'-':>12}{'-':>7}")
                    lines.append(f"  {name:<22}{batch:>8}{v['eager']:>12,.0f}{graphs}")
        f = r["forecast"]
        lines.append(f"GLER forward ({f['flops_per_pixel'] / 1e6:.2f} MFLOP/pixel, {f['dtype']})")
        lines.append(f"  {'variant':<10}{'factors':<11}{'batch':>8}{'pixels/s':>12}"
                     f"{'MFLOP/px':>10}{'GFLOP/s':>10}{'% peak':>8}")
        for s in f["sweep"]:
            lines.append(f"  {s['variant']:<10}{s['factors']:<11}{s['batch']:>8}"
                         f"{s['pixels_per_s']:>12,.0f}{s['flops_per_pixel'] / 1e6:>10.3f}"
                         f"{s['flops_per_s'] / 1e9:>10.2f}{100 * s['peak_fraction']:>8.1f}")
        p = r["predict"]
        ratio = (f", {100 * p['forward_ratio']:.0f} % of the forward's rate"
                 if "forward_ratio" in p else "")
        lines.append(f"gler.forecast.predict (end to end, batch {p['batch']}, "
                     f"{p.get('dtype', 'float32')}): {p['pixels_per_s']:,.0f} pixels/s over "
                     f"{p['pixels']:,} pixels, {p.get('seconds_per_million_pixels', 0):.2f} s "
                     f"per million pixels{ratio}")
        if "stages_s" in p:
            lines.append("  stages (s, synchronised): " + ", ".join(
                f"{stage} {seconds:.3f}" for stage, seconds in p["stages_s"].items()))
        if "scores" in r:
            sc = r["scores"]
            lines.append(f"probabilistic scores of {sc['targets']:,} targets "
                         f"({' x '.join(map(str, sc['shape']))}): " + ", ".join(
                             f"{name} {sc[name]['seconds']:.3f} s"
                             for name in ("split_conformal", "quantiles")))
    c = results.get("classical")
    if c:
        lines.append(f"\nclassical over {c['pixels']:,} pixels x {c['dates']} dates (CPU)")
        gappy = next(iter(c["models"].values()))["gaps_2pct"]["pixels"]
        lines.append(f"  {'model':<16}{'complete s':>12}{f'{gappy:,} px, 2% gaps s':>26}")
        for name, v in c["models"].items():
            lines.append(f"  {name:<16}{v['complete']['seconds']:>12.3f}"
                         f"{v['gaps_2pct']['seconds']:>26.3f}")
    lines.append(f"wall time {results['wall_s']:.1f} s")
    return "\n".join(lines)


def run_benchmark(*, tiny: bool = False, devices: list[str] | None = None,
                  threads: int | None = None, compile_cpu: bool = False,
                  compile_cuda: bool = True,
                  classical_pixels: int | None = None, dates: int = 180,
                  models: tuple[str, ...] = TRAIN_MODELS,
                  predict_pixels: int | None = None,
                  graph_batches: tuple[int, ...] = ()) -> dict:
    """Run every measurement and return the results as a dict (see the module docstring).

    ``predict_pixels``: the scene size of the end-to-end predict timing (default
    :data:`CUDA_PREDICT_PIXELS` on CUDA outside ``tiny``, else the benchmark's own stack).
    ``graph_batches``: the batch sizes of ``train_graphs`` (none: not measured).
    """
    start = time.perf_counter()
    cfg = CONFIGS["tiny" if tiny else "full"]
    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()  # as gler.forecast.predict and gler.train.train do
    if devices is None:
        devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    stack = synthetic_stack(ny=cfg["stack"], nx=cfg["stack"], nt=dates)
    results = {"config": "tiny" if tiny else "full", "machine": machine_info(), "devices": {}}
    for name in devices:
        device = torch.device(name)
        cuda = device.type == "cuda"
        size = 8192 if cuda and not tiny else cfg["matmul"]
        peak = matmul_peak(device, size, cfg["repeats"])
        # The forward's FLOP ratio is to the peak of the precision it runs in: bf16 autocast
        # on CUDA, float32 on CPU.
        run_peak = matmul_peak(device, size, cfg["repeats"], torch.bfloat16) if cuda else peak
        results["devices"][name] = {
            "peak": peak, "run_peak": run_peak,
            "train": train_throughput(stack, device, models=models,
                                      batch=cfg["train_batch"] * (8 if cuda else 1),
                                      steps=cfg["train_steps"], repeats=cfg["repeats"]),
            "forecast": forecast_sweep(
                stack, device, batches=CUDA_BATCHES if cuda and not tiny else cfg["batches"],
                pixels=(1 << 20) if cuda and not tiny else cfg["pixels"],
                repeats=cfg["repeats"], compile_model=compile_cuda if cuda else compile_cpu,
                peak=run_peak["flops"]),
        }
        if graph_batches:
            results["devices"][name]["train_graphs"] = train_graphs(
                stack, device, models=models, batches=graph_batches,
                steps=max(cfg["train_steps"], 20 if cuda else 2), repeats=cfg["repeats"])
        best_batch = results["devices"][name]["forecast"]["best"]["batch"]
        scene = predict_pixels or (CUDA_PREDICT_PIXELS if cuda and not tiny else None)
        results["devices"][name]["predict"] = predict_throughput(
            stack, device, batch=best_batch, repeats=cfg["repeats"], pixels=scene,
            forward=results["devices"][name]["forecast"])
        results["devices"][name]["scores"] = scores_throughput(
            device, pixels=cfg["score_pixels"], repeats=cfg["repeats"])
    if classical_pixels != 0:
        results["classical"] = classical_throughput(
            pixels=classical_pixels or cfg["classical_pixels"], dates=dates,
            repeats=cfg["repeats"])
    results["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results["wall_s"] = time.perf_counter() - start
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="a configuration that runs in seconds (CI)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--device", action="append", choices=("cpu", "cuda"), default=None,
                        help="device(s) to measure (repeatable; default: CPU, and CUDA if present)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own setting)")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile on CPU (always on CUDA); compiling takes "
                             "minutes on a small CPU")
    parser.add_argument("--classical-pixels", type=int, default=None,
                        help="pixels for the classical baselines (default 1,000,000; tiny 2,048; "
                             "0 skips them)")
    parser.add_argument("--dates", type=int, default=180,
                        help="acquisition dates of the synthetic data (default 180)")
    parser.add_argument("--models", nargs="+", default=list(TRAIN_MODELS),
                        help="neural models whose training throughput is measured")
    parser.add_argument("--predict-pixels", type=int, default=None,
                        help="pixels of the scene of the end-to-end predict timing (default "
                             "1,000,000 on CUDA; the benchmark's stack on CPU and with --tiny)")
    parser.add_argument("--graph-batches", type=int, nargs="*", default=[],
                        help="batch sizes at which each neural model's training step is timed "
                             "eager and replayed from a CUDA graph (e.g. 512 2048)")
    args = parser.parse_args(argv)
    if args.device and "cuda" in args.device and not torch.cuda.is_available():
        parser.error("--device cuda was given but CUDA is not available")
    results = run_benchmark(tiny=args.tiny, devices=args.device, threads=args.threads,
                            compile_cpu=args.compile, classical_pixels=args.classical_pixels,
                            dates=args.dates, models=tuple(args.models),
                            predict_pixels=args.predict_pixels,
                            graph_batches=tuple(args.graph_batches))
    print(table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
