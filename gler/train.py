"""Train a forecaster on a stack: seeded, resumable, with early stopping on validation.

:func:`train` writes a run directory (:mod:`gler.run` describes and reads it): the samples come
from a :class:`~gler.data.sample.SampleSpec`, the optimiser's settings from a
:class:`~gler.config.TrainConfig`, the architecture from the model's config. :func:`train_step`
is the one optimiser step, shared with the benchmark.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler.allocator import keep_freed_memory
from gler.config import TrainConfig
from gler.data.calendar import with_calendar
from gler.data.model import factor_names
from gler.data.multistack import (
    MultiStackIndex,
    MultiStackWindows,
    common_factors,
    pool_windows,
)
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.windows import Batch, SampleIndex, WindowDataset
from gler.models._registry import create_model, model_info
from gler.run import (
    BEST_FILE,
    CHECKPOINT_FILE,
    RUN_FILE,
    SCALER_FILE,
    atomic_save,
    check_model_factors,
    check_same_run,
    data_fingerprint,
    first_line,
    load_file,
    log_event,
    resolve_device,
    run_record,
    to_tensors,
)

__all__ = ["NonFiniteLossError", "SampleSpec", "TrainConfig", "TrainResult", "evaluate_loss",
           "masked_loss", "train", "train_step"]

logger = logging.getLogger(__name__)


class NonFiniteLossError(ValueError):
    """Training produced a NaN/inf loss; the last good checkpoint was kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    model_name: str
    best_epoch: int | None = None
    best_val_loss: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    wall_time_s: float = 0.0
    history: list[dict] = field(default_factory=list)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    # numpy draws come from per-epoch Generators, so only torch's and Python's states matter.
    # Python's state (version, 625 ints, None) is stored as a tensor of those ints, so that the
    # checkpoint holds only tensors and plain values and loads with weights_only=True.
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python_version": int(version),
             "python": torch.tensor(internal, dtype=torch.int64), "python_gauss": gauss}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "python_version" in state:
        random.setstate((state["python_version"],
                         tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
    else:  # checkpoints written before the state became a tensor: the tuple itself
        random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def masked_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse",
                delta: float = 1.0) -> torch.Tensor:
    """Mean loss over the finite targets (NaN targets are gaps and do not count)."""
    valid = torch.isfinite(target)
    target = torch.where(valid, target, torch.zeros_like(target))
    if kind == "huber":
        err = torch.nn.functional.huber_loss(pred, target, reduction="none", delta=delta)
    else:
        err = (pred - target) ** 2
    return (err * valid).sum() / valid.sum().clamp(min=1)


@dataclass
class Optimisation:
    """The optimiser side of training: AdamW, loss scaling, autocast, the config and device."""

    optimiser: torch.optim.Optimizer
    grad_scaler: torch.amp.GradScaler
    autocast: contextlib.AbstractContextManager
    config: TrainConfig
    device: torch.device

    @classmethod
    def create(cls, model: torch.nn.Module, config: TrainConfig,
               device: torch.device) -> Optimisation:
        """AdamW over ``model``'s parameters; mixed precision on CUDA when ``config.amp``
        (bf16 where supported, else fp16 with loss scaling)."""
        use = config.amp and device.type == "cuda"
        dtype = torch.bfloat16 if use and torch.cuda.is_bf16_supported() else torch.float16
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay)
        grad_scaler = torch.amp.GradScaler("cuda", enabled=use and dtype == torch.float16)
        autocast = (torch.autocast(device_type=device.type, dtype=dtype) if use
                    else contextlib.nullcontext())
        return cls(optimiser, grad_scaler, autocast, config, device)


def train_step(model: torch.nn.Module, batch: Batch, scaler: Scaler,
               step: Optimisation) -> torch.Tensor:
    """Forward, masked loss, backward and one optimiser step on ``batch``; the loss.

    A non-finite loss is returned before anything is updated (the caller decides what to do).
    """
    config = step.config
    sd, ef, mask = to_tensors(scaler, batch, step.device)
    target = torch.from_numpy(scaler.target(batch)).to(step.device)
    with step.autocast:
        pred = model(sd, ef, mask)
    loss = masked_loss(pred.float(), target, config.loss, config.huber_delta)
    if not torch.isfinite(loss):
        return loss
    step.optimiser.zero_grad(set_to_none=True)
    step.grad_scaler.scale(loss).backward()
    if config.grad_clip:
        step.grad_scaler.unscale_(step.optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    step.grad_scaler.step(step.optimiser)
    step.grad_scaler.update()
    return loss


# -- training -------------------------------------------------------------------------------------

def train(stack: xr.Dataset | Sequence[xr.Dataset], model_name: str = "gler",
          train_config: TrainConfig | None = None, model_overrides: dict | None = None,
          out_dir: str | Path = "run", *, sample: SampleSpec | None = None,
          progress: bool = True,
          on_epoch_end: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model_name`` on ``stack`` and write a run directory (resuming one if present).

    Parameters
    ----------
    stack
        A stack in the data model with the factors the model needs, or several (e.g. three
        regions, for the spatial-transfer experiment): one model is then trained on windows of
        all of them (:func:`gler.data.multistack.pool_windows`), under the same split dates,
        with the pixel fraction sampled in each stack and the normalisation fitted on their
        training periods only. Evaluate it on another stack with :func:`gler.evaluate.evaluate`.
    model_name
        A name from :func:`gler.models.list_models`.
    train_config
        The optimiser's settings (default :class:`TrainConfig()`).
    model_overrides
        Model config fields (e.g. ``{"d_model": 16}``).
    out_dir
        The run directory. If it holds a checkpoint of the same run, training resumes from it
        and ends with the same weights as an uninterrupted run (on CPU).
    progress
        Show a tqdm progress bar.
    sample
        Window, horizon, factors, cut dates and gap rule (default :class:`SampleSpec()`: L and
        H of :mod:`gler.data.sample`, all factors, the data's default cut dates); written to
        ``run.json`` resolved (the factors and cut dates actually used).
    on_epoch_end
        Called with each epoch's log record (after the checkpoint is written).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        Bad data or settings (too few dates, missing factors, a run directory of another run;
        for several stacks also different factor sets or default split dates, naming the
        stack).
    NonFiniteLossError
        When a loss becomes NaN/inf; the last good checkpoint is kept.

    Example
    -------
    >>> result = train(stack, "gler", TrainConfig(epochs=5), out_dir="runs/demo")  # doctest: +SKIP
    >>> pooled = train([xidatan, wudaoliang, tuotuohe], "gler",
    ...                out_dir="runs/to-beiluhe")  # doctest: +SKIP
    """
    config = train_config or TrainConfig()
    sample = sample or SampleSpec()
    out_dir = Path(out_dir)
    keep_freed_memory()
    info = model_info(model_name)
    if not isinstance(stack, xr.Dataset):  # a list of one stack is that stack
        stack = stack[0] if len(stack) == 1 else list(stack)
    if info.kind == "classical" and sample.factors is not None:
        # A classical baseline reads the factors it declares, whatever factors a profile
        # prefers for the neural models (as gler.evaluate does).
        sample = dataclasses.replace(sample, factors=None)
    windows = training_windows(stack, sample, calendar=info.kind == "neural")
    factors = list(windows.factors)
    check_model_factors(model_name, factors)
    _seed_everything(config.seed)
    model = create_model(model_name, window=sample.window, horizon=sample.horizon,
                         n_ef=len(factors), **(model_overrides or {}))
    model_config = model.config.to_dict() if hasattr(model, "config") else dict(
        model_overrides or {})
    record = run_record(model_name, info.kind, model_config, config,
                        sample.resolved(factors, windows.split), data_fingerprint(stack))
    if isinstance(windows, MultiStackWindows):
        record["stacks"] = [{"name": name, "data_fingerprint": data_fingerprint(each)}
                            for name, each in zip(windows.names, stack, strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / RUN_FILE).is_file():
        check_same_run(out_dir, record)
    else:
        (out_dir / RUN_FILE).write_text(json.dumps(record, indent=2))
    if info.kind == "classical":
        logger.info("%s is a classical baseline: nothing to train, config saved", model_name)
        return TrainResult(run_dir=out_dir, model_name=model_name)
    try:
        return _fit(model, windows, config, out_dir, model_name, progress, on_epoch_end)
    except Exception as err:
        # Recorded so that predict/evaluate can say why the run has no weights.
        log_event(out_dir, {"event": "failed", "error": f"{type(err).__name__}: {err}"})
        raise


def training_windows(stack: xr.Dataset | Sequence[xr.Dataset], sample: SampleSpec, *,
                     calendar: bool = True) -> WindowDataset | MultiStackWindows:
    """The windows ``sample`` describes on one stack, or pooled over several (checked to fit
    together); with ``calendar``, the factors follow ``sample.calendar`` (:func:`with_calendar`).

    Raises
    ------
    ValueError
        An empty sequence of stacks, or data that do not fit the sample specification.
    """
    if isinstance(stack, xr.Dataset):
        factors = list(sample.factors) if sample.factors is not None else factor_names(stack)
        if calendar:
            factors = with_calendar(factors, sample.calendar)
        return WindowDataset.from_spec(stack, sample.replace(factors=tuple(factors)))
    if not stack:
        msg = "train needs a stack, or a non-empty sequence of stacks."
        raise ValueError(msg)
    factors = sample.factors
    if calendar:
        factors = with_calendar(common_factors(stack, factors), sample.calendar)
    return pool_windows(stack, window=sample.window, horizon=sample.horizon, factors=factors,
                        train_end=sample.train_end, val_end=sample.val_end,
                        min_observed=sample.min_observed)


def _fit(model: torch.nn.Module, windows: WindowDataset | MultiStackWindows,
         config: TrainConfig, out_dir: Path,
         model_name: str, progress: bool, on_epoch_end: Callable[[dict], None] | None,
         ) -> TrainResult:
    start = time.perf_counter()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    pixels = windows.pixels(config.pixel_fraction, seed=config.seed)
    train_index, val_index = windows.indices("train", pixels), windows.indices("val", pixels)
    if not len(train_index) or not len(val_index):
        msg = (f"No usable {'training' if not len(train_index) else 'validation'} sample "
               f"(pixels sampled: {len(pixels)}); the windows have too many gaps. Lower "
               "min_observed or raise pixel_fraction.")
        raise ValueError(msg)
    if config.max_val_samples and len(val_index) > config.max_val_samples:
        rng = np.random.default_rng([config.seed, 0])
        val_index = val_index.subset(
            np.sort(rng.choice(len(val_index), config.max_val_samples, replace=False)))
    scaler_path = out_dir / SCALER_FILE
    scaler = Scaler.fit(windows, pixels)
    scaler.save(scaler_path)
    model.to(device)
    step = Optimisation.create(model, config, device)
    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": None, "bad_epochs": 0,
             "finished": False, "history": []}
    checkpoint_path = out_dir / CHECKPOINT_FILE
    if checkpoint_path.is_file():
        remedy = (f"delete it to train {out_dir} from the start, or use a new --out "
                  "directory")
        saved = load_file(checkpoint_path, remedy, map_location=device)
        if (out_dir / BEST_FILE).is_file():  # resuming keeps it: refuse a damaged or planted one
            load_file(out_dir / BEST_FILE, remedy, map_location="cpu")
        try:
            model.load_state_dict(saved["model"])
            step.optimiser.load_state_dict(saved["optimizer"])
            step.grad_scaler.load_state_dict(saved["grad_scaler"])
            _set_rng_state(saved["rng"])
            state = saved["state"]
            int(state["epoch"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            msg = (f"{checkpoint_path} does not fit the run in {out_dir / RUN_FILE} "
                   f"({type(err).__name__}: {first_line(err)}); {remedy}.")
            raise ValueError(msg) from None
        logger.info("Resuming %s from epoch %d", out_dir, state["epoch"])
        log_event(out_dir, {"event": "resume", "epoch": state["epoch"]})
    logger.info("Training %s on %d samples (%d pixels), validating on %d, device %s",
                model_name, len(train_index), len(pixels), len(val_index), device)
    while not state["finished"] and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        lr = config.lr_at(epoch)
        for group in step.optimiser.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, windows, train_index, scaler, step, epoch, progress,
                                  out_dir)
        t1 = time.perf_counter()
        val_loss = evaluate_loss(model, windows, val_index, scaler, config, device,
                                 step.autocast)
        improved = val_loss < state["best_val"]
        if improved:
            state.update(best_val=val_loss, best_epoch=epoch, bad_epochs=0)
            atomic_save(model.state_dict(), out_dir / BEST_FILE)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["finished"] = state["bad_epochs"] >= config.patience or epoch >= config.epochs
        # Plain floats only: the checkpoint must load with weights_only=True.
        entry = {"epoch": epoch, "train_loss": float(train_loss), "val_loss": float(val_loss),
                 "best": bool(improved), "train_s": round(t1 - t0, 3),
                 "val_s": round(time.perf_counter() - t1, 3), "lr": float(lr)}
        state["history"].append(entry)
        atomic_save({"model": model.state_dict(), "optimizer": step.optimiser.state_dict(),
                     "grad_scaler": step.grad_scaler.state_dict(), "rng": _rng_state(),
                     "state": state}, checkpoint_path)
        log_event(out_dir, entry)
        logger.info("epoch %d: train %.4f, val %.4f%s", epoch, train_loss, val_loss,
                    " (best)" if improved else "")
        if on_epoch_end is not None:
            on_epoch_end(entry)
    stopped_early = state["bad_epochs"] >= config.patience and state["epoch"] < config.epochs
    return TrainResult(run_dir=out_dir, model_name=model_name, best_epoch=state["best_epoch"],
                       best_val_loss=state["best_val"], epochs_run=state["epoch"],
                       stopped_early=stopped_early,
                       wall_time_s=time.perf_counter() - start, history=state["history"])


def _train_epoch(model: torch.nn.Module, windows: WindowDataset | MultiStackWindows,
                 index: SampleIndex | MultiStackIndex, scaler: Scaler, step: Optimisation,
                 epoch: int, progress: bool, out_dir: Path) -> float:
    config = step.config
    # Every epoch re-seeds from (seed, epoch): a resumed run draws exactly the same batches
    # and dropout masks as an uninterrupted one.
    rng = np.random.default_rng([config.seed, epoch])
    torch.manual_seed(config.seed * 100_003 + epoch)
    order = rng.permutation(len(index))
    if config.max_samples_per_epoch:
        order = order[:config.max_samples_per_epoch]
    model.train()
    total, count = 0.0, 0
    starts = range(0, len(order), config.batch_size)
    bar = tqdm(starts, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
               disable=not progress)
    for batch_no, begin in enumerate(bar):
        batch = windows.batch(index, order[begin:begin + config.batch_size])
        loss = train_step(model, batch, scaler, step)
        if not torch.isfinite(loss):
            log_event(out_dir, {"event": "non_finite_loss", "epoch": epoch, "batch": batch_no})
            msg = (f"The training loss became {loss.item()} at epoch {epoch}, batch {batch_no}; "
                   f"training stopped. The last good checkpoint (epoch {epoch - 1}) is kept in "
                   f"{out_dir}. Lower the learning rate (lr={config.lr}) or check the data for "
                   "extreme values.")
            raise NonFiniteLossError(msg)
        total += loss.item() * len(batch.pixel)
        count += len(batch.pixel)
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    return total / max(count, 1)


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, windows: WindowDataset | MultiStackWindows,
                  index: SampleIndex | MultiStackIndex,
                  scaler: Scaler, config: TrainConfig, device: torch.device,
                  autocast: contextlib.AbstractContextManager | None = None) -> float:
    """Mean masked loss over all samples of ``index`` (sample-weighted over batches)."""
    model.eval()
    total, count = 0.0, 0
    batch_size = config.batch_size * 4
    for begin in range(0, len(index), batch_size):
        batch = windows.batch(index, slice(begin, begin + batch_size))
        sd, ef, mask = to_tensors(scaler, batch, device)
        target = torch.from_numpy(scaler.target(batch)).to(device)
        with autocast or contextlib.nullcontext():
            pred = model(sd, ef, mask)
        loss = masked_loss(pred.float(), target, config.loss, config.huber_delta)
        total += loss.item() * len(batch.pixel)
        count += len(batch.pixel)
    return total / max(count, 1)
