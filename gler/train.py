"""Train a forecaster on a stack: seeded, resumable, with early stopping on validation.

:func:`train` writes a run directory (:mod:`gler.run` describes and reads it): the samples come
from a :class:`~gler.data.sample.SampleSpec`, the optimiser's settings from a
:class:`~gler.config.TrainConfig`, the architecture from the model's config. :func:`train_step`
is the one optimiser step, shared with the benchmark.

Besides early stopping, :class:`~gler.config.TrainConfig` holds what helps a model generalise
beyond its validation season, all off by default: a learning-rate warm-up, an average of the
weights (:mod:`gler.averaging`), dropout of whole factor channels, and a *final fit* with a
fixed epoch count and no validation (``early_stopping=False``, on the sample of
:func:`gler.data.folds.final_fit_sample`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler.allocator import keep_freed_memory
from gler.averaging import WeightAverage
from gler.checkpoint import fresh_state, restore_checkpoint, seed_everything, write_checkpoint
from gler.config import TrainConfig
from gler.data.calendar import with_calendar
from gler.data.device_windows import DeviceIndex, DeviceWindows, TensorBatch
from gler.data.model import factor_names
from gler.data.multistack import (
    MultiStackIndex,
    MultiStackWindows,
    common_factors,
    pool_windows,
)
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.windows import SampleIndex, WindowDataset
from gler.layers.quantile import pinball
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
    log_event,
    resolve_device,
    run_record,
)
from gler.turns import pass_turn

__all__ = ["GraphedStep", "NonFiniteLossError", "SampleSpec", "TrainConfig", "TrainResult",
           "evaluate_loss", "masked_loss", "quantile_levels", "train", "train_step"]

logger = logging.getLogger(__name__)


class NonFiniteLossError(ValueError):
    """Training produced a NaN/inf loss; the last good checkpoint was kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns; without early stopping ``best_epoch`` is the last epoch
    (whose weights are kept) and ``best_val_loss`` its validation loss (None without a
    validation period)."""

    run_dir: Path
    model_name: str
    best_epoch: int | None = None
    best_val_loss: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    wall_time_s: float = 0.0
    history: list[dict] = field(default_factory=list)


def masked_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "mse",
                delta: float = 1.0, count: torch.Tensor | None = None,
                levels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss over the finite targets (NaN targets are gaps and do not count); with
    ``count``, the sum over them divided by ``count`` instead (a micro-batch's share of a
    batch's loss).

    With ``levels`` (a quantile head's, :func:`quantile_levels`), ``pred`` holds quantiles
    ``[..., Q]`` of ``target [...]`` and the loss of a target is the pinball loss averaged over
    the levels, whatever ``kind`` says (Koenker and Bassett 1978, Regression quantiles,
    Econometrica 46, 33-50).
    """
    valid = torch.isfinite(target)
    target = torch.where(valid, target, torch.zeros_like(target))
    if levels is not None:
        err = pinball(pred, target, levels).mean(dim=-1)
    elif kind == "huber":
        err = torch.nn.functional.huber_loss(pred, target, reduction="none", delta=delta)
    else:
        err = (pred - target) ** 2
    if count is not None:
        return (err * valid).sum() / count
    return (err * valid).sum() / valid.sum().clamp(min=1)


def quantile_levels(model: torch.nn.Module) -> torch.Tensor | None:
    """The levels of ``model``'s quantile head (on its device), None for a point model."""
    head = getattr(model, "quantile_output", None)
    return None if head is None else head.levels


@dataclass
class Optimisation:
    """The optimiser side of training: AdamW, loss scaling, autocast, the config and device,
    the weight average when ``config.ema_decay`` asks for one, and the micro-batches a batch
    is cut into (more than one after the device ran out of memory: gradient accumulation, the
    same effective batch).

    On CUDA without loss scaling (``skip_on_device``), AdamW is the fused one and a
    non-finite loss skips the update on the device (its ``found_inf``), with no wait for the
    device; elsewhere the step reads the loss first, as it always did (on CPU that costs
    nothing, and the weights are the same bits as ever). After :meth:`prepare_graphs` (a
    :class:`GraphedStep` calls it), the learning rate and the weight average's update count
    live on the device."""

    optimiser: torch.optim.Optimizer
    grad_scaler: torch.amp.GradScaler
    autocast: contextlib.AbstractContextManager
    config: TrainConfig
    device: torch.device
    average: WeightAverage | None = None
    micro_batches: int = 1
    skip_on_device: bool = False
    graphs_ready: bool = False

    @classmethod
    def create(cls, model: torch.nn.Module, config: TrainConfig,
               device: torch.device) -> Optimisation:
        """AdamW over ``model``'s parameters; mixed precision on CUDA when ``config.amp``
        (bf16 where supported, else fp16 with loss scaling)."""
        use = config.amp and device.type == "cuda"
        dtype = torch.bfloat16 if use and torch.cuda.is_bf16_supported() else torch.float16
        grad_scaler = torch.amp.GradScaler("cuda", enabled=use and dtype == torch.float16)
        skip_on_device = device.type == "cuda" and not grad_scaler.is_enabled()
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay,
                                      **({"fused": True} if skip_on_device else {}))
        # Casts cached across a captured region are not safe in a CUDA graph: without the
        # cache each forward casts the weights itself (the same values).
        autocast = (torch.autocast(device_type=device.type, dtype=dtype,
                                   cache_enabled=not (skip_on_device and config.cuda_graphs))
                    if use else contextlib.nullcontext())
        average = WeightAverage(model, config.ema_decay) if config.ema_decay else None
        return cls(optimiser, grad_scaler, autocast, config, device, average,
                   skip_on_device=skip_on_device)

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group (in place on the device once
        :meth:`prepare_graphs` was called, so that a captured step reads it)."""
        for group in self.optimiser.param_groups:
            if self.graphs_ready:
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def prepare_graphs(self) -> None:
        """Make the step capturable (call it outside a capture, after any checkpoint was
        restored): AdamW's learning rate becomes a tensor on the device, and the weight
        average counts its updates on the device."""
        if self.graphs_ready:
            return
        for group in self.optimiser.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        if self.average is not None:
            self.average.count_on_device(self.device)
        self.graphs_ready = True

    def judged(self, model: torch.nn.Module) -> contextlib.AbstractContextManager:
        """The weights to validate and keep: the average inside the block, if there is one."""
        return self.average.applied(model) if self.average else contextlib.nullcontext()


def train_step(model: torch.nn.Module, batch: TensorBatch, step: Optimisation) -> torch.Tensor:
    """Forward, masked loss, backward, one optimiser step and the weight average's update on
    ``batch`` (normalised tensors on the device: :meth:`DeviceWindows.batch
    <gler.data.device_windows.DeviceWindows.batch>`, or :meth:`TensorBatch.from_batch
    <gler.data.device_windows.TensorBatch.from_batch>` of a host batch); the loss, a tensor
    on the device (nothing here waits for the device on CUDA). With ``factor_dropout``, each
    factor channel of each sample is set to its training mean (0) with that probability
    first. With ``step.micro_batches`` > 1 the gradient of the whole batch is accumulated
    over that many micro-batches.

    A non-finite loss never updates anything: the step returns before the update, or, on
    CUDA (``step.skip_on_device``), the fused optimiser skips it on the device and the weight
    average stays; the caller reads the loss when it chooses and decides what to do. The loss
    comes detached: holding it does not keep the step's autograd graph alive.
    """
    config = step.config
    sd, ef, mask, target = batch
    if config.factor_dropout and ef.shape[-1]:
        keep = torch.rand(ef.shape[0], 1, ef.shape[-1], device=ef.device) >= config.factor_dropout
        ef = ef * keep
    if step.micro_batches == 1:
        with step.autocast:
            pred = model(sd, ef, mask)
        loss = masked_loss(pred.float(), target, config.loss, config.huber_delta,
                           levels=quantile_levels(model))
        if not step.skip_on_device and not torch.isfinite(loss):
            return loss.detach()
        step.optimiser.zero_grad(set_to_none=True)
        step.grad_scaler.scale(loss).backward()
    else:
        loss = _accumulate(model, TensorBatch(sd, ef, mask, target), step)
        if not step.skip_on_device and not torch.isfinite(loss):
            return loss.detach()
    if config.grad_clip:
        step.grad_scaler.unscale_(step.optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    if step.skip_on_device:
        finite = torch.isfinite(loss.detach())
        step.optimiser.found_inf = (~finite).float()
        step.optimiser.step()
        if step.average is not None:
            step.average.update(model, keep=finite)
        return loss.detach()
    step.grad_scaler.step(step.optimiser)
    step.grad_scaler.update()
    if step.average is not None:
        step.average.update(model)
    return loss.detach()


#: Eager steps on a side stream before the training step is captured (PyTorch's recipe for
#: CUDA graphs: the libraries, autograd and the optimiser's state set themselves up there).
GRAPH_WARMUP_STEPS = 3


class GraphedStep:
    """:func:`train_step` on full batches of ``index``, captured in a CUDA graph and replayed.

    Called with the positions of a batch, it copies them into its static positions and returns
    the loss (a tensor on the device, read whenever the caller chooses). The first
    :data:`GRAPH_WARMUP_STEPS` calls train eagerly on a side stream (steps of the run, not
    extra ones); the next one captures the whole step on the positions (the batch gathered on
    the device, factor dropout, forward, loss, backward, clipping, fused AdamW with its
    on-device skip of a non-finite loss, the weight average's update) and every call from then
    on replays it. The random numbers come from the default CUDA generator, which a replay
    advances as the eager step does. It returns None, for the caller to train eagerly, on a
    batch of another size (an epoch's last), with gradient accumulation, and for good once
    :meth:`stop` was called or the capture failed (said in a warning and the run's log).

    Needs ``step.skip_on_device`` (CUDA, fused AdamW, no loss scaling); build it after any
    checkpoint was restored: the graph holds the tensors of the model, the optimiser and the
    weight average as they are at capture.
    """

    def __init__(self, model: torch.nn.Module, data: DeviceWindows, index: DeviceIndex,
                 step: Optimisation, batch_size: int, out_dir: Path | None = None) -> None:
        self.model, self.data, self.index, self.step = model, data, index, step
        self.out_dir = out_dir
        self.positions = torch.zeros(batch_size, dtype=torch.long, device=data.device)
        self.warm_steps = 0
        self.waits: list[bool] = []  # whether each watched warm-up step synchronised
        self.stream: torch.cuda.Stream | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.stopped = False

    def __call__(self, positions: torch.Tensor) -> torch.Tensor | None:
        if (self.stopped or len(positions) != len(self.positions)
                or self.step.micro_batches > 1):
            return None
        self.positions.copy_(positions)
        if self.graph is None:
            if self.warm_steps < GRAPH_WARMUP_STEPS:
                return self._warm_up()
            self._capture()
            if self.graph is None:
                return None
        self.graph.replay()
        return self.loss.clone()

    def stop(self, reason: str) -> None:
        """Train eagerly from now on, saying why (once), and free the graph's memory."""
        if self.stopped:
            return
        self.stopped, self.graph, self.loss = True, None, None
        text = f"CUDA graphs off: {reason}; the training step runs eagerly from now on."
        warnings.warn(text, RuntimeWarning, stacklevel=2)
        logger.warning(text)
        if self.out_dir is not None:
            log_event(self.out_dir, {"event": "cuda_graphs_off", "reason": reason})

    def _step(self) -> torch.Tensor:
        return train_step(self.model, self.data.batch(self.index, self.positions), self.step)

    def _warm_up(self) -> torch.Tensor:
        """An eager step on the side stream. The steps after the first are watched for host
        synchronisations (a value read on the host, a copy back): a graph cannot hold them, and
        a capture that fails half-way leaves the CUDA random generator unusable for the eager
        steps after it. A step that waits in every watched warm-up step is never captured; a
        wait in one of them only (a library setting itself up on first use) is not held
        against it."""
        self.warm_steps += 1
        if self.warm_steps == 1:
            return self._on_side_stream()
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                loss = self._on_side_stream()
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        syncs = [w for w in caught if "synchronizing" in str(w.message)]
        for w in caught:  # the step's other warnings, as they would have been shown
            if w not in syncs:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.waits.append(bool(syncs))
        if self.warm_steps == GRAPH_WARMUP_STEPS and all(self.waits):
            self.stop("the training step waits for the device (a value read on the host) in "
                      "every warm-up step, which a CUDA graph cannot hold")
        return loss

    def _on_side_stream(self) -> torch.Tensor:
        self.stream = self.stream or torch.cuda.Stream(self.data.device)
        current = torch.cuda.current_stream(self.data.device)
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            loss = self._step()
        current.wait_stream(self.stream)
        return loss

    def _capture(self) -> None:
        groups = self.step.optimiser.param_groups
        capturable = [group["capturable"] for group in groups]
        try:
            graph = torch.cuda.CUDAGraph()
            self.step.prepare_graphs()
            # The gradients are then allocated in the graph's memory and written by each replay.
            self.step.optimiser.zero_grad(set_to_none=True)
            # AdamW refuses a capture unless its groups say "capturable"; the fused AdamW
            # runs the same either way (only the flag is checked), so it is set for the
            # capture alone and eager steps are not warned about it.
            for group in groups:
                group["capturable"] = True
            with torch.cuda.graph(graph, stream=self.stream):
                loss = self._step()
        except Exception as err:  # whatever stops the capture, the run goes on eagerly
            self.step.optimiser.zero_grad(set_to_none=True)
            self.stop(f"capturing the training step failed ({type(err).__name__}: "
                      f"{first_line(err)})")
            return
        finally:
            for group, flag in zip(groups, capturable, strict=True):
                group["capturable"] = flag
        self.graph, self.loss = graph, loss


def _accumulate(model: torch.nn.Module, batch: TensorBatch, step: Optimisation) -> torch.Tensor:
    """The gradients of the whole batch's masked loss, accumulated over ``step.micro_batches``
    micro-batches (each one's loss sum over the whole batch's count of targets); that loss."""
    config = step.config
    count = torch.isfinite(batch.target).sum().clamp(min=1)
    step.optimiser.zero_grad(set_to_none=True)
    loss = torch.zeros((), device=batch.sd.device)
    for part in batch.split(step.micro_batches):
        with step.autocast:
            pred = model(part.sd, part.ef, part.mask)
        share = masked_loss(pred.float(), part.target, config.loss, config.huber_delta,
                            count=count, levels=quantile_levels(model))
        step.grad_scaler.scale(share).backward()
        loss = loss + share.detach()
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
        Model config fields (e.g. ``{"d_model": 16}``); ``{"quantiles": (0.05, ..., 0.95)}``
        gives a neural model a quantile head, trained on the mean pinball loss over its levels
        (validation and early stopping too) and calibrated later by
        :func:`gler.conformal.calibrate_quantiles`.
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
    if info.kind == "classical" and (model_overrides or {}).get("quantiles"):
        msg = (f"{model_name} is a classical baseline: it gives point forecasts and has no "
               "quantile head (leave out --quantiles; gler predict --quantiles calibrates its "
               "intervals by split conformal). Quantile heads are for the neural models.")
        raise ValueError(msg)
    if info.kind == "classical" and sample.factors is not None:
        # A classical baseline reads the factors it declares, whatever factors a profile
        # prefers for the neural models (as gler.evaluate does).
        sample = dataclasses.replace(sample, factors=None)
    windows = training_windows(stack, sample, calendar=info.kind == "neural")
    factors = list(windows.factors)
    check_model_factors(model_name, factors)
    seed_everything(config.seed)
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
    train_index = windows.indices("train", pixels)
    val_index = _validation_index(windows, pixels, config)
    if not len(train_index) or (val_index is not None and not len(val_index)):
        msg = (f"No usable {'training' if not len(train_index) else 'validation'} sample "
               f"(pixels sampled: {len(pixels)}); the windows have too many gaps. Lower "
               "min_observed or raise pixel_fraction.")
        raise ValueError(msg)
    if val_index is not None and config.max_val_samples and len(
            val_index) > config.max_val_samples:
        rng = np.random.default_rng([config.seed, 0])
        val_index = val_index.subset(
            np.sort(rng.choice(len(val_index), config.max_val_samples, replace=False)))
    scaler_path = out_dir / SCALER_FILE
    scaler = Scaler.fit(windows, pixels)
    scaler.save(scaler_path)
    # The sampled pixels, their normalisation and both sample indices live on the device.
    data = DeviceWindows(windows, scaler, device, pixels)
    train_samples = data.index(train_index)
    val_samples = None if val_index is None else data.index(val_index)
    model.to(device)
    step = Optimisation.create(model, config, device)
    state = fresh_state()
    if (out_dir / CHECKPOINT_FILE).is_file():
        state = restore_checkpoint(out_dir, model, step.optimiser, step.grad_scaler,
                                   step.average, device)
        logger.info("Resuming %s from epoch %d", out_dir, state["epoch"])
        log_event(out_dir, {"event": "resume", "epoch": state["epoch"]})
    graphed = None
    if config.cuda_graphs and step.skip_on_device:  # CUDA, fused AdamW, no loss scaling
        graphed = GraphedStep(model, data, train_samples, step, config.batch_size, out_dir)
    logger.info("Training %s on %d samples (%d pixels), validating on %d, device %s",
                model_name, len(train_index), len(pixels),
                len(val_index) if val_index is not None else 0, device)
    while not state["finished"] and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        lr = config.lr_at(epoch)
        step.set_lr(lr)
        t0 = time.perf_counter()
        train_loss, n_windows = _train_epoch(model, data, train_samples, step, epoch, progress,
                                             out_dir, graphed)
        t1 = time.perf_counter()
        with step.judged(model):  # the averaged weights, when averaging
            val_loss = None if val_samples is None else float(evaluate_loss(
                model, data, val_samples, config, step.autocast, out_dir=out_dir))
            # Without early stopping, the weights kept are the latest ones.
            improved = not config.early_stopping or val_loss < state["best_val"]
            if improved:
                atomic_save(model.state_dict(), out_dir / BEST_FILE)
        if improved:
            state.update(best_val=val_loss, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        stop = config.early_stopping and state["bad_epochs"] >= config.patience
        state["finished"] = stop or epoch >= config.epochs
        # Plain floats only: the checkpoint must load with weights_only=True.
        entry = {"epoch": epoch, "train_loss": float(train_loss), "val_loss": val_loss,
                 "best": bool(improved), "train_s": round(t1 - t0, 3),
                 "train_windows": n_windows,
                 "windows_per_s": round(n_windows / max(t1 - t0, 1e-9), 1),
                 "val_s": round(time.perf_counter() - t1, 3), "lr": float(lr)}
        state["history"].append(entry)
        write_checkpoint(out_dir, model, step.optimiser, step.grad_scaler, step.average, state)
        log_event(out_dir, entry)
        logger.info("epoch %d: train %.4f, val %s%s", epoch, train_loss,
                    "-" if val_loss is None else f"{val_loss:.4f}", " (best)" if improved else "")
        if on_epoch_end is not None:
            on_epoch_end(entry)
    stopped_early = (config.early_stopping and state["bad_epochs"] >= config.patience
                     and state["epoch"] < config.epochs)
    return TrainResult(run_dir=out_dir, model_name=model_name, best_epoch=state["best_epoch"],
                       best_val_loss=state["best_val"], epochs_run=state["epoch"],
                       stopped_early=stopped_early,
                       wall_time_s=time.perf_counter() - start, history=state["history"])


def _validation_index(windows: WindowDataset | MultiStackWindows, pixels: np.ndarray,
                      config: TrainConfig) -> SampleIndex | MultiStackIndex | None:
    """The validation samples on ``pixels``; None where a fixed-count run has no validation
    period (a final fit).

    Raises
    ------
    ValueError
        If early stopping is asked for without a validation period.
    """
    split = windows.split
    if split.val_end > split.train_end:
        return windows.indices("val", pixels)
    if config.early_stopping:
        msg = (f"Early stopping needs a validation period, but this split has none "
               f"(train_end = val_end = {split.val_end.date()}). For a final fit on training "
               "and validation data with a fixed number of epochs, set early_stopping=False "
               "(gler train --final-fit); otherwise give a validation period (train_end before "
               "val_end).")
        raise ValueError(msg)
    return None


#: How many steps a CUDA epoch runs between two reads of the losses (a read waits for the
#: device); on CPU every step's loss is read at once, as it costs nothing there.
CHECK_EVERY = 64


def _train_epoch(model: torch.nn.Module, data: DeviceWindows, index: DeviceIndex,
                 step: Optimisation, epoch: int, progress: bool, out_dir: Path,
                 graphed: GraphedStep | None = None) -> tuple[float, int]:
    """One epoch over ``index`` in a seeded order (full batches by ``graphed``, when given);
    the mean training loss and the number of windows trained on.

    The losses stay on the device and are read every :data:`CHECK_EVERY` steps on CUDA (every
    step elsewhere) and at the end; the first non-finite one raises, naming its batch (its
    update, and those of any later batch before the read, were skipped or are discarded with
    the run: the last checkpoint is that of the previous epoch).
    """
    config = step.config
    # Every epoch re-seeds from (seed, epoch): a resumed run draws exactly the same batches
    # and dropout masks as an uninterrupted one.
    rng = np.random.default_rng([config.seed, epoch])
    torch.manual_seed(config.seed * 100_003 + epoch)
    order = rng.permutation(len(index))
    if config.max_samples_per_epoch:
        order = order[:config.max_samples_per_epoch]
    order = torch.from_numpy(order).to(data.device)  # one copy per epoch
    model.train()
    check_every = CHECK_EVERY if data.device.type == "cuda" else 1
    total, count = 0.0, 0
    pending: list[tuple[int, torch.Tensor, int]] = []  # (batch, loss on the device, windows)
    starts = range(0, len(order), config.batch_size)
    bar = tqdm(starts, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
               disable=not progress)
    for batch_no, begin in enumerate(bar):
        if epoch <= config.warmup_epochs:  # the warm-up raises the rate step by step
            step.set_lr(config.lr_at(epoch, (batch_no + 1) / len(starts)))
        positions = order[begin:begin + config.batch_size]
        loss = _fitted_step(model, data, index, positions, step, out_dir, epoch, batch_no,
                            graphed)
        pending.append((batch_no, loss.detach(), len(positions)))
        pass_turn()  # to the next run training beside this one (gler.turns), if any
        if len(pending) >= check_every or batch_no == len(starts) - 1:
            # One read of the pending losses: the same float sums as a read per step.
            values = torch.stack([loss for _, loss, _ in pending]).tolist()
            for (number, _, size), value in zip(pending, values, strict=True):
                if not math.isfinite(value):
                    _non_finite(value, epoch, number, config, out_dir)
                total += value * size
                count += size
            pending.clear()
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    return total / max(count, 1), count


def _non_finite(value: float, epoch: int, batch_no: int, config: TrainConfig,
                out_dir: Path) -> None:
    log_event(out_dir, {"event": "non_finite_loss", "epoch": epoch, "batch": batch_no})
    msg = (f"The training loss became {value} at epoch {epoch}, batch {batch_no}; "
           f"training stopped. The last good checkpoint (epoch {epoch - 1}) is kept in "
           f"{out_dir}. Lower the learning rate (lr={config.lr}) or check the data for "
           "extreme values.")
    raise NonFiniteLossError(msg)


def _out_of_memory(out_dir: Path, record: dict, text: str) -> None:
    """Say in a warning and in the run log that the device ran out of memory, and what now."""
    warnings.warn(text, ResourceWarning, stacklevel=3)
    logger.warning(text)
    log_event(out_dir, {"event": "out_of_memory", **record})
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _fitted_step(model: torch.nn.Module, data: DeviceWindows, index: DeviceIndex,
                 positions: torch.Tensor, step: Optimisation, out_dir: Path, epoch: int,
                 batch_no: int, graphed: GraphedStep | None = None) -> torch.Tensor:
    """:func:`train_step` on ``positions`` (replayed by ``graphed`` where it takes the batch);
    out of device memory, the batch is cut into twice as many micro-batches (gradient
    accumulation: the same effective batch, eagerly) from then on."""
    while True:
        try:
            loss = None if graphed is None else graphed(positions)
            return train_step(model, data.batch(index, positions), step) if loss is None else loss
        except torch.cuda.OutOfMemoryError:
            step.optimiser.zero_grad(set_to_none=True)
            if step.micro_batches >= len(positions):
                raise
            if graphed is not None:
                graphed.stop("out of device memory (gradient accumulation is not captured)")
            step.micro_batches *= 2
            size = -(-len(positions) // step.micro_batches)
            _out_of_memory(out_dir, {"epoch": epoch, "batch": batch_no,
                                     "micro_batches": step.micro_batches,
                                     "micro_batch_size": size},
                           f"Out of device memory at epoch {epoch}, batch {batch_no}: "
                           f"training on {step.micro_batches} micro-batches of up to {size} "
                           f"windows with gradient accumulation from now on (the same "
                           f"effective batch of {step.config.batch_size}).")


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, data: DeviceWindows, index: DeviceIndex,
                  config: TrainConfig,
                  autocast: contextlib.AbstractContextManager | None = None, *,
                  out_dir: Path | None = None) -> float:
    """Mean masked loss over all samples of ``index`` (sample-weighted over batches of
    4 × ``config.batch_size``, halved while the device runs out of memory, said in a warning
    and, with ``out_dir``, in the run log), gathered on the device and read once."""
    model.eval()
    losses: list[tuple[torch.Tensor, int]] = []
    batch_size = config.batch_size * 4
    begin = 0
    while begin < len(index):
        try:
            batch = data.batch(index, slice(begin, begin + batch_size))
            with autocast or contextlib.nullcontext():
                pred = model(batch.sd, batch.ef, batch.mask)
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            text = (f"Out of device memory in validation: batches of {batch_size} windows "
                    "from now on.")
            if out_dir is None:
                warnings.warn(text, ResourceWarning, stacklevel=2)
            else:
                _out_of_memory(out_dir, {"validation_batch_size": batch_size}, text)
            continue
        loss = masked_loss(pred.float(), batch.target, config.loss, config.huber_delta,
                           levels=quantile_levels(model))
        losses.append((loss, batch.size))
        begin += batch.size
    values = torch.stack([loss for loss, _ in losses]).tolist() if losses else []
    total, count = 0.0, 0
    for value, (_, size) in zip(values, losses, strict=True):  # the float sums of old
        total += value * size
        count += size
    return total / max(count, 1)
