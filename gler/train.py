"""Train a forecaster on a stack: seeded, resumable, with early stopping on validation.

A *run directory* holds everything needed to forecast again and to check what was done:

- ``run.json``: run format, gler version, model name/kind/config, the :class:`TrainConfig`,
  split dates, factor names and a fingerprint of the training data;
- ``scaler.json``: the training-period normalisation (:class:`gler.data.scaling.Scaler`);
- ``checkpoint.pt``: the last completed epoch (model, optimiser, RNG states, early-stopping
  state), rewritten atomically after every epoch; ``best.pt``: the best validation weights;
- ``train_log.jsonl``: one JSON line per epoch (losses, timings) and per event.

Classical baselines have nothing to train: their run holds ``run.json`` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler import __version__
from gler.allocator import keep_freed_memory
from gler.data.calendar import with_calendar
from gler.data.model import DISPLACEMENT, factor_names
from gler.data.multistack import (
    MultiStackIndex,
    MultiStackWindows,
    common_factors,
    pool_windows,
)
from gler.data.scaling import Scaler
from gler.data.windows import SampleIndex, SplitDates, WindowDataset, resolve_split_dates
from gler.models._registry import create_model, model_info

logger = logging.getLogger(__name__)

#: Version of the run-directory layout; a run of another format is refused (retrain it).
RUN_FORMAT = 1
RUN_FILE, SCALER_FILE, CHECKPOINT_FILE, BEST_FILE, LOG_FILE = (
    "run.json", "scaler.json", "checkpoint.pt", "best.pt", "train_log.jsonl")
LOSSES = ("mse", "huber")
DEVICES = ("auto", "cpu", "cuda")
LR_SCHEDULES = ("cosine", "constant")
#: Degree-day factors the Stefan-type classical baselines read.
DEGREE_DAY_FACTORS = ("thawing_degree_days", "freezing_degree_days")
#: The daily temperatures the degree-days are computed from, by default.
DEGREE_DAY_HINT = "air_temperature or ground_surface_temperature in degC"


class NonFiniteLossError(ValueError):
    """Training produced a NaN/inf loss; the last good checkpoint was kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that controls training (the model architecture is the model's config).

    Parameters
    ----------
    window, horizon
        Input window L and horizon H in acquisitions.
    epochs
        Maximum number of epochs.
    batch_size
        Samples per optimiser step.
    lr, weight_decay
        AdamW peak learning rate and decoupled weight decay.
    lr_schedule
        ``"cosine"`` (decay from ``lr`` to ``lr / 20`` over ``epochs``, set per epoch so a
        resumed run follows the same schedule) or ``"constant"``.
    patience
        Epochs without validation improvement before stopping early.
    seed
        Seed of pixel sampling, shuffling, initialisation and dropout.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    amp
        Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling); ignored
        on CPU.
    loss
        ``"mse"`` or ``"huber"`` on normalised targets; ``huber_delta`` is Huber's threshold.
    pixel_fraction
        Fraction of valid pixels sampled (seeded) for training and validation windows.
    max_samples_per_epoch
        Cap on training samples per epoch (a fresh seeded subset each epoch); None: all.
    max_val_samples
        Cap on validation samples (one fixed seeded subset); None: all.
    grad_clip
        Gradient-norm clipping threshold (0 disables it).
    num_threads
        Torch CPU threads (None: leave torch's setting).
    train_end, val_end
        Cut dates of the split (ISO strings); None: :func:`gler.data.windows.default_split_dates`.
    factors
        Factor names to use, in order; None: all factors in the data; ``()``: none of them.
    calendar
        Calendar features (day-of-year sine and cosine of the acquisition dates,
        :mod:`gler.data.calendar`) for the neural models: None (default) adds them when the
        model gets no other factor (said in one log line), True always, False never.
    min_observed
        Minimum observed fraction of an input window for a sample to count.

    Raises
    ------
    ValueError
        On an out-of-range value, naming the field.
    """

    window: int = 30
    horizon: int = 6
    epochs: int = 50
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"
    patience: int = 8
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    loss: str = "mse"
    huber_delta: float = 1.0
    pixel_fraction: float = 0.25
    max_samples_per_epoch: int | None = None
    max_val_samples: int | None = None
    grad_clip: float = 1.0
    num_threads: int | None = None
    train_end: str | None = None
    val_end: str | None = None
    factors: tuple[str, ...] | None = None
    min_observed: float = 0.5
    calendar: bool | None = None

    def __post_init__(self) -> None:
        positive = ("window", "horizon", "epochs", "batch_size", "patience")
        bad = [f"{n}={getattr(self, n)!r}" for n in positive if getattr(self, n) < 1]
        if self.lr <= 0 or self.weight_decay < 0:
            bad.append(f"lr={self.lr!r}, weight_decay={self.weight_decay!r}")
        for name in ("pixel_fraction", "min_observed"):
            if not 0 < getattr(self, name) <= 1:
                bad.append(f"{name}={getattr(self, name)!r} (in (0, 1])")
        if self.lr_schedule not in LR_SCHEDULES:
            bad.append(f"lr_schedule={self.lr_schedule!r} (one of {LR_SCHEDULES})")
        if self.device not in DEVICES or self.loss not in LOSSES:
            bad.append(f"device={self.device!r} (one of {DEVICES}), loss={self.loss!r} "
                       f"(one of {LOSSES})")
        if bad:
            msg = f"Invalid TrainConfig: {'; '.join(bad)}."
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        values = dataclasses.asdict(self)
        if values["factors"] is not None:
            values["factors"] = list(values["factors"])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused by name.

        Raises
        ------
        ValueError
            If ``values`` has keys that are not TrainConfig fields.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            msg = f"Unknown TrainConfig field(s) {unknown}. Valid: {', '.join(sorted(names))}."
            raise ValueError(msg)
        values = dict(values)
        if values.get("factors") is not None:
            values["factors"] = tuple(values["factors"])
        return cls(**values)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (1-based) under :attr:`lr_schedule`."""
        if self.lr_schedule == "constant" or self.epochs == 1:
            return self.lr
        progress = (epoch - 1) / (self.epochs - 1)
        floor = self.lr / 20
        return float(floor + 0.5 * (self.lr - floor) * (1 + np.cos(np.pi * progress)))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


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


@dataclass
class Run:
    """A loaded run directory: the model (best weights) and what it needs to forecast."""

    run_dir: Path | None
    model_name: str
    kind: str
    model: Any
    train_config: TrainConfig
    split: SplitDates
    factors: tuple[str, ...]
    scaler: Scaler | None
    info: dict


# -- helpers ------------------------------------------------------------------------------------

def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU.

    Raises
    ------
    ValueError
        If ``"cuda"`` is requested on a machine without CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        msg = "device='cuda' was requested but no CUDA device is available; use 'auto' or 'cpu'."
        raise ValueError(msg)
    return torch.device(device)


def data_fingerprint(stack: xr.Dataset | Sequence[xr.Dataset]) -> str:
    """SHA-256 (first 16 hex digits) of the displacement, dates and factor values (of each
    stack in turn, for several)."""
    digest = hashlib.sha256()
    if not isinstance(stack, xr.Dataset):
        for each in stack:
            digest.update(data_fingerprint(each).encode())
        return digest.hexdigest()[:16]
    digest.update(np.ascontiguousarray(stack[DISPLACEMENT].values).tobytes())
    digest.update(np.asarray(stack["time"].values, dtype="datetime64[ns]").tobytes())
    for name in factor_names(stack):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(stack[name].values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def check_factors(model_name: str, factors: list[str]) -> None:
    """Refuse a model that uses factors when none (or not the degree-days it needs) are given.

    Raises
    ------
    ValueError
        If the model uses factors and they are missing.
    """
    info = model_info(model_name)
    if not info.uses_ef:
        return
    if info.kind == "classical":
        missing = [f for f in DEGREE_DAY_FACTORS if f not in factors]
        remedy = (f"The degree-days come from a daily temperature: give one in --factors "
                  f"({DEGREE_DAY_HINT}), or name it with --degree-days-from NAME; or choose "
                  "a model that does not use factors.")
    else:
        missing = [] if factors else ["any environmental factor"]
        remedy = ("Pass a factor file with --factors, or leave out --no-calendar (the "
                  "calendar features stand in for factors).")
    if missing:
        msg = (f"Model {model_name!r} uses environmental factors, but {', '.join(missing)} "
               f"{'is' if len(missing) == 1 else 'are'} missing from the data (factors present: "
               f"{', '.join(factors) or 'none'}). {remedy}")
        raise ValueError(msg)


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


#: Numpy scalars (plain numbers, no code), which checkpoints written before gler stored only
#: tensors and plain values hold: allowed, so those still resume.
_NUMPY_SCALARS = [np._core.multiarray.scalar, np.dtype,
                  *(getattr(np.dtypes, name) for name in ("Float64DType", "Float32DType",
                                                          "Int64DType", "BoolDType"))]


def load_file(path: Path, remedy: str, *, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` of a run file with ``weights_only=True``: tensors and plain values only.

    A file that needs anything else (a planted pickle would run code), or that is damaged,
    truncated or not a torch file, is refused by name, and nothing in it is executed.

    Raises
    ------
    ValueError
        One line: the file, what is wrong with it and ``remedy``.
    """
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_NUMPY_SCALARS):
            warnings.simplefilter("ignore")  # torch warns about the pickle protocol of odd files
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        # torch's own message recommends weights_only=False, which is what must not be done.
        if isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err):
            kind = ("refers to code, not only to tensors and plain values (refused unread: "
                    "loading it could run that code; do not use this file)")
        else:
            kind = f"is damaged, truncated or not a PyTorch file ({type(err).__name__})"
        msg = f"{path} {kind}; {remedy}"
        raise ValueError(msg) from None


def _atomic_save(obj: Any, path: Path) -> None:
    """Write then rename, so an interruption never leaves a half-written checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _log(run_dir: Path, record: dict) -> None:
    with open(run_dir / LOG_FILE, "a") as stream:
        stream.write(json.dumps(record) + "\n")


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


def to_tensors(scaler: Scaler, batch: Any, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Normalised ``(sd, ef, mask)`` tensors of a :class:`~gler.data.windows.Batch`."""
    sd, ef, mask = scaler.inputs(batch)
    return (torch.from_numpy(sd).to(device), torch.from_numpy(ef).to(device),
            torch.from_numpy(mask).to(device))


def _autocast(device: torch.device, amp: bool) -> tuple[contextlib.AbstractContextManager,
                                                         torch.amp.GradScaler]:
    use = amp and device.type == "cuda"
    dtype = torch.bfloat16 if use and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use and dtype == torch.float16)
    ctx = torch.autocast(device_type=device.type, dtype=dtype) if use else contextlib.nullcontext()
    return ctx, scaler


# -- the run directory ----------------------------------------------------------------------------

def _run_record(model_name: str, kind: str, model_config: dict, config: TrainConfig,
                split: SplitDates, factors: list[str], fingerprint: str) -> dict:
    return {
        "format": RUN_FORMAT, "gler_version": __version__, "model": model_name, "kind": kind,
        "model_config": model_config, "train_config": config.to_dict(),
        "split": split.to_dict(), "factors": list(factors), "data_fingerprint": fingerprint,
    }


def _check_same_run(run_dir: Path, record: dict) -> None:
    """Refuse to resume into a run directory written for another model, config or data."""
    old = read_run_record(run_dir)
    ignore = {"device", "num_threads", "amp"}  # where to run, not what to compute
    keys = ("model", "model_config", "factors", "data_fingerprint", "split")
    diff = [k for k in keys if old.get(k) != record[k]]
    old_cfg = {k: v for k, v in old["train_config"].items() if k not in ignore}
    new_cfg = {k: v for k, v in record["train_config"].items() if k not in ignore}
    diff += [f"train_config.{k}" for k in sorted(set(old_cfg) | set(new_cfg))
             if old_cfg.get(k) != new_cfg.get(k)]
    if diff:
        msg = (f"{run_dir} already holds a different run (differs in: {', '.join(diff)}). "
               "Use a new --out directory, or delete this one to start over.")
        raise ValueError(msg)


def read_run_record(run_dir: str | Path) -> dict:
    """The ``run.json`` of a run directory, checked for a compatible format.

    Raises
    ------
    FileNotFoundError
        If the directory has no ``run.json``.
    ValueError
        If the run was written in another run format, or by another gler minor release
        (``gler_version`` 0.1.x is read by gler 0.1.y only), or the file is damaged.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        msg = f"{run_dir} is not a gler run directory (no {RUN_FILE}); train one with gler train."
        raise FileNotFoundError(msg)
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = (f"{path} is damaged ({type(err).__name__}: {_first_line(err)}); restore it from "
               "a copy, or retrain (gler train with a new --out).")
        raise ValueError(msg) from None
    if not isinstance(record, dict):
        msg = f"{path} is not a gler run record (a JSON object); retrain (gler train)."
        raise ValueError(msg)
    if record.get("format") != RUN_FORMAT:
        msg = (f"{run_dir} was written by gler {record.get('gler_version', '?')} in run format "
               f"{record.get('format')!r}; this gler {__version__} reads format {RUN_FORMAT}. "
               "Retrain the model with this version (gler train).")
        raise ValueError(msg)
    written = str(record.get("gler_version", ""))
    if _release(written) != _release(__version__):
        msg = (f"{run_dir} was written by gler {written or '(no version)'}; this gler "
               f"{__version__} reads runs of gler {'.'.join(map(str, _release(__version__)))}.x "
               f"only. Retrain the model with this version (gler train), or install gler "
               f"{written} to use it.")
        raise ValueError(msg)
    missing = [k for k in ("model", "kind", "model_config", "train_config", "split", "factors")
               if k not in record]
    if missing:
        msg = (f"{path} lacks {', '.join(missing)}; it is damaged. Restore it from a copy, or "
               "retrain (gler train with a new --out).")
        raise ValueError(msg)
    return record


def _release(version: str) -> tuple[int, ...] | None:
    """(major, minor) of a version string; runs keep their format within a minor release."""
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def load_run(run_dir: str | Path, *, map_location: str | torch.device = "cpu") -> Run:
    """Load a run directory written by :func:`train` (best weights for neural models).

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` is not a run directory or has no weights.
    ValueError
        If the run format or model config is incompatible with this gler.

    Example
    -------
    >>> run = load_run("runs/beiluhe-gler")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    config = TrainConfig.from_dict(record["train_config"])
    try:
        model = create_model(record["model"], window=config.window, horizon=config.horizon,
                             n_ef=len(record["factors"]), **_overrides(record["model_config"]))
    except (TypeError, ValueError) as err:
        msg = (f"The model config in {run_dir / RUN_FILE} does not fit this gler "
               f"{__version__} ({err}). Retrain the model with this version.")
        raise ValueError(msg) from err
    scaler = None
    if record["kind"] == "neural":
        weights = run_dir / BEST_FILE
        if not weights.is_file():
            failure = _failure(run_dir)
            if failure:
                msg = (f"{run_dir}: training failed before its first epoch ({failure}). Fix "
                       "the cause and run gler train again with this --out.")
                raise ValueError(msg)
            msg = (f"{run_dir} has no {BEST_FILE}: training has not finished an epoch yet "
                   "(still running, or interrupted: run gler train again with this --out to "
                   "resume).")
            raise FileNotFoundError(msg)
        remedy = ("retrain the model (gler train with a new --out), or restore the run "
                  "directory from a copy")
        state = load_file(weights, remedy, map_location=map_location)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            msg = (f"{weights} does not fit the model described in {run_dir / RUN_FILE} "
                   f"({record['model']}, {_describe(record['model_config'])}): "
                   f"{_first_line(err)}; retrain with that config, or restore the matching "
                   f"{RUN_FILE}.")
            raise ValueError(msg) from None
        model.eval()
        scaler = Scaler.load(run_dir / SCALER_FILE)
        n = len(record["factors"])
        if (list(scaler.factors) != list(record["factors"]) or len(scaler.factor_mean) != n
                or len(scaler.factor_std) != n):
            msg = (f"{run_dir / SCALER_FILE} is for the factors {list(scaler.factors)}, but "
                   f"{run_dir / RUN_FILE} names {record['factors']}: the files are from "
                   "different runs. Restore the run directory from a copy, or retrain.")
            raise ValueError(msg)
    return Run(run_dir=run_dir, model_name=record["model"], kind=record["kind"], model=model,
               train_config=config, split=SplitDates.from_dict(record["split"]),
               factors=tuple(record["factors"]), scaler=scaler, info=record)


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message, shortened (torch's run to many lines)."""
    line = (str(err).strip().splitlines() or [""])[0]
    return line if len(line) <= 200 else line[:197] + "..."


def _describe(model_config: dict) -> str:
    shown = [f"{k}={v}" for k, v in model_config.items() if isinstance(v, int | float | str)]
    return ", ".join(shown[:6]) or "default config"
def _failure(run_dir: Path) -> str | None:
    """The error of the last failed training attempt in the run's log, if it failed last."""
    path = run_dir / LOG_FILE
    if not path.is_file():
        return None
    last = None
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            last = record.get("error") if record.get("event") == "failed" else None
    return last


def _overrides(model_config: dict) -> dict:
    """Model config without the fields create_model takes as its own arguments."""
    return {k: v for k, v in model_config.items() if k not in ("window", "horizon", "n_ef")}


def classical_run(stack: xr.Dataset, model_name: str, config: TrainConfig,
                  model_overrides: dict | None = None) -> Run:
    """An in-memory run for a classical baseline (nothing to train), e.g. for evaluation."""
    factors = list(config.factors) if config.factors is not None else factor_names(stack)
    check_factors(model_name, factors)
    model = create_model(model_name, window=config.window, horizon=config.horizon,
                         n_ef=len(factors), **(model_overrides or {}))
    split = resolve_split_dates(stack["time"].values, config.train_end, config.val_end)
    return Run(run_dir=None, model_name=model_name, kind="classical", model=model,
               train_config=config, split=split, factors=tuple(factors), scaler=None,
               info={"model": model_name, "kind": "classical"})


# -- training -------------------------------------------------------------------------------------

def train(stack: xr.Dataset | Sequence[xr.Dataset], model_name: str = "gler",
          train_config: TrainConfig | None = None, model_overrides: dict | None = None,
          out_dir: str | Path = "run", *, progress: bool = True,
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
        Training settings (default :class:`TrainConfig()`).
    model_overrides
        Model config fields (e.g. ``{"d_model": 16}``).
    out_dir
        The run directory. If it holds a checkpoint of the same run, training resumes from it
        and ends with the same weights as an uninterrupted run (on CPU).
    progress
        Show a tqdm progress bar.
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
    out_dir = Path(out_dir)
    keep_freed_memory()
    info = model_info(model_name)
    if not isinstance(stack, xr.Dataset):  # a list of one stack is that stack
        stack = stack[0] if len(stack) == 1 else list(stack)
    if info.kind == "classical" and config.factors is not None:
        # A classical baseline reads the degree-days it needs, whatever factors a profile
        # prefers for the neural models (as gler.evaluate does).
        config = dataclasses.replace(config, factors=None)
    windows = _training_windows(stack, config, calendar=info.kind == "neural")
    factors = list(windows.factors)
    check_factors(model_name, factors)
    _seed_everything(config.seed)
    model = create_model(model_name, window=config.window, horizon=config.horizon,
                         n_ef=len(factors), **(model_overrides or {}))
    model_config = model.config.to_dict() if hasattr(model, "config") else dict(
        model_overrides or {})
    record = _run_record(model_name, info.kind, model_config, config, windows.split, factors,
                         data_fingerprint(stack))
    if isinstance(windows, MultiStackWindows):
        record["stacks"] = [{"name": name, "data_fingerprint": data_fingerprint(each)}
                            for name, each in zip(windows.names, stack, strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / RUN_FILE).is_file():
        _check_same_run(out_dir, record)
    else:
        (out_dir / RUN_FILE).write_text(json.dumps(record, indent=2))
    if info.kind == "classical":
        logger.info("%s is a classical baseline: nothing to train, config saved", model_name)
        return TrainResult(run_dir=out_dir, model_name=model_name)
    try:
        return _fit(model, windows, config, out_dir, model_name, progress, on_epoch_end)
    except Exception as err:
        # Recorded so that predict/evaluate can say why the run has no weights.
        _log(out_dir, {"event": "failed", "error": f"{type(err).__name__}: {err}"})
        raise


def _training_windows(stack: xr.Dataset | Sequence[xr.Dataset], config: TrainConfig, *,
                      calendar: bool = True) -> WindowDataset | MultiStackWindows:
    """The windows of one stack, or pooled windows of several (checked to fit together);
    with ``calendar``, the factors follow ``config.calendar`` (:func:`with_calendar`)."""
    settings = {"window": config.window, "horizon": config.horizon,
                "min_observed": config.min_observed}
    if isinstance(stack, xr.Dataset):
        factors = list(config.factors) if config.factors is not None else factor_names(stack)
        if calendar:
            factors = with_calendar(factors, config.calendar)
        split = resolve_split_dates(stack["time"].values, config.train_end, config.val_end)
        return WindowDataset(stack, factors=factors, split=split, **settings)
    if not stack:
        msg = "train needs a stack, or a non-empty sequence of stacks."
        raise ValueError(msg)
    factors = config.factors
    if calendar:
        factors = with_calendar(common_factors(stack, factors), config.calendar)
    return pool_windows(stack, factors=factors, train_end=config.train_end,
                        val_end=config.val_end, **settings)


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
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    autocast, grad_scaler = _autocast(device, config.amp)
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
            optimiser.load_state_dict(saved["optimizer"])
            grad_scaler.load_state_dict(saved["grad_scaler"])
            _set_rng_state(saved["rng"])
            state = saved["state"]
            int(state["epoch"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
            msg = (f"{checkpoint_path} does not fit the run in {out_dir / RUN_FILE} "
                   f"({type(err).__name__}: {_first_line(err)}); {remedy}.")
            raise ValueError(msg) from None
        logger.info("Resuming %s from epoch %d", out_dir, state["epoch"])
        _log(out_dir, {"event": "resume", "epoch": state["epoch"]})
    logger.info("Training %s on %d samples (%d pixels), validating on %d, device %s",
                model_name, len(train_index), len(pixels), len(val_index), device)
    while not state["finished"] and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        lr = config.lr_at(epoch)
        for group in optimiser.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, windows, train_index, scaler, optimiser, grad_scaler,
                                  autocast, config, device, epoch, progress, out_dir)
        t1 = time.perf_counter()
        val_loss = evaluate_loss(model, windows, val_index, scaler, config, device, autocast)
        improved = val_loss < state["best_val"]
        if improved:
            state.update(best_val=val_loss, best_epoch=epoch, bad_epochs=0)
            _atomic_save(model.state_dict(), out_dir / BEST_FILE)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["finished"] = state["bad_epochs"] >= config.patience or epoch >= config.epochs
        # Plain floats only: the checkpoint must load with weights_only=True.
        entry = {"epoch": epoch, "train_loss": float(train_loss), "val_loss": float(val_loss),
                 "best": bool(improved), "train_s": round(t1 - t0, 3),
                 "val_s": round(time.perf_counter() - t1, 3), "lr": float(lr)}
        state["history"].append(entry)
        _atomic_save({"model": model.state_dict(), "optimizer": optimiser.state_dict(),
                      "grad_scaler": grad_scaler.state_dict(), "rng": _rng_state(),
                      "state": state}, checkpoint_path)
        _log(out_dir, entry)
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
                 index: SampleIndex | MultiStackIndex,
                 scaler: Scaler, optimiser: torch.optim.Optimizer,
                 grad_scaler: torch.amp.GradScaler, autocast: contextlib.AbstractContextManager,
                 config: TrainConfig, device: torch.device, epoch: int, progress: bool,
                 out_dir: Path) -> float:
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
        sd, ef, mask = to_tensors(scaler, batch, device)
        target = torch.from_numpy(scaler.target(batch)).to(device)
        with autocast:
            pred = model(sd, ef, mask)
        loss = masked_loss(pred.float(), target, config.loss, config.huber_delta)
        if not torch.isfinite(loss):
            _log(out_dir, {"event": "non_finite_loss", "epoch": epoch, "batch": batch_no})
            msg = (f"The training loss became {loss.item()} at epoch {epoch}, batch {batch_no}; "
                   f"training stopped. The last good checkpoint (epoch {epoch - 1}) is kept in "
                   f"{out_dir}. Lower the learning rate (lr={config.lr}) or check the data for "
                   "extreme values.")
            raise NonFiniteLossError(msg)
        optimiser.zero_grad(set_to_none=True)
        grad_scaler.scale(loss).backward()
        if config.grad_clip:
            grad_scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        grad_scaler.step(optimiser)
        grad_scaler.update()
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
