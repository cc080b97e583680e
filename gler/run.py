"""The run directory: what a trained (or configured) forecaster leaves behind, and reading it.

A *run directory* holds everything needed to forecast again and to check what was done:

- ``run.json``: run format, gler version, model name/kind/config, the
  :class:`~gler.config.TrainConfig`, the :class:`~gler.data.sample.SampleSpec` the model was
  trained on (window, horizon, factors, cut dates: written once, here) and a fingerprint of the
  training data;
- ``scaler.json``: the training-period normalisation (:class:`gler.data.scaling.Scaler`);
- ``checkpoint.pt``: the last completed epoch (model, optimiser, RNG states, early-stopping
  state), rewritten atomically after every epoch; ``best.pt``: the best validation weights;
- ``train_log.jsonl``: one JSON line per epoch (losses, timings) and per event.

Classical baselines have nothing to train: their run holds ``run.json`` only. Forecasting,
evaluation and inspection read runs through this module; only :mod:`gler.train` writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from gler import __version__
from gler.config import HEAD_SUFFIX, TrainConfig
from gler.data.degree_days import DEGREE_DAY_FACTORS, DEGREE_DAY_HINT
from gler.data.model import DISPLACEMENT, factor_names
from gler.data.sample import SampleSpec, SplitDates
from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset
from gler.models._registry import create_model, model_info

#: Version of the run-directory layout; a run of another format is refused (retrain it).
#: Format 2 writes the sample specification once (key ``sample``).
RUN_FORMAT = 2
RUN_FILE, SCALER_FILE, CHECKPOINT_FILE, BEST_FILE, LOG_FILE = (
    "run.json", "scaler.json", "checkpoint.pt", "best.pt", "train_log.jsonl")
#: The command that trains a quantile head, named where one is missing.
TRAIN_QUANTILES = "gler train --quantiles 0.05,0.1,0.25,0.5,0.75,0.9,0.95 ..."
#: The fields of run.json that a damaged file may lack.
_REQUIRED = ("model", "kind", "model_config", "train_config", "sample")


@dataclass
class Run:
    """A loaded run directory: the model (best weights) and what it needs to forecast."""

    run_dir: Path | None
    model_name: str
    kind: str
    model: Any
    train_config: TrainConfig
    sample: SampleSpec
    scaler: Scaler | None
    info: dict

    @property
    def split(self) -> SplitDates:
        """The cut dates the model was trained under."""
        return self.sample.split

    @property
    def factors(self) -> tuple[str, ...]:
        """The factors the model reads, in order."""
        return self.sample.factors

    def windows(self, stack: xr.Dataset) -> WindowDataset:
        """This run's samples of ``stack``: its window, horizon, factors, split and gap rule."""
        return WindowDataset.from_spec(stack, self.sample)

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The levels of the model's quantile head; ``()`` for a point forecaster."""
        return tuple(getattr(getattr(self.model, "config", None), "quantiles", ()))

    @property
    def label(self) -> str:
        """The model's name, with :data:`HEAD_SUFFIX` for a quantile head (so that a point run
        and a quantile-head run of one model are told apart in a comparison)."""
        return f"{self.model_name}{HEAD_SUFFIX}" if self.quantiles else self.model_name

    def check_quantile_head(self, what: str) -> tuple[float, ...]:
        """The levels of the model's quantile head, or a ValueError saying that ``what``
        needs one and which command trains one."""
        if not self.quantiles:
            where = f"the run {self.run_dir}" if self.run_dir else "this run"
            msg = (f"{what} needs a quantile head, but {where} ({self.model_name}) gives point "
                   f"forecasts. Train a neural model with one: {TRAIN_QUANTILES} (or ask this "
                   "run for levels, which split conformal calibrates for any run).")
            raise ValueError(msg)
        return self.quantiles


def check_model_factors(model_name: str, factors: Sequence[str]) -> None:
    """Refuse a model that uses factors when none (or not the ones it needs) are given.

    A neural model that uses factors needs at least one; a classical baseline needs the
    factors it declares in the registry (:attr:`gler.models.ModelInfo.needs`).

    Raises
    ------
    ValueError
        If the model uses factors and they are missing, saying which flag supplies them.
    """
    info = model_info(model_name)
    if not info.uses_ef:
        return
    if info.kind == "classical":
        missing = [f for f in info.needs.values() if f not in factors]
        remedy = "Give them in --factors, or choose a model that does not use factors."
        if set(missing) & set(DEGREE_DAY_FACTORS):
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


def run_record(model_name: str, kind: str, model_config: dict, config: TrainConfig,
               sample: SampleSpec, fingerprint: str) -> dict:
    """The content of ``run.json`` (the model config without the sample's L, H and E)."""
    return {
        "format": RUN_FORMAT, "gler_version": __version__, "model": model_name, "kind": kind,
        "model_config": _overrides(model_config), "train_config": config.to_dict(),
        "sample": sample.to_dict(), "data_fingerprint": fingerprint,
    }


def atomic_save(obj: Any, path: Path) -> None:
    """Write then rename, so an interruption never leaves a half-written checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def log_event(run_dir: Path, record: dict) -> None:
    """Append one JSON line to the run's training log."""
    with open(run_dir / LOG_FILE, "a") as stream:
        stream.write(json.dumps(record) + "\n")


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


def to_tensors(scaler: Scaler, batch: Any, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Normalised ``(sd, ef, mask)`` tensors of a :class:`~gler.data.windows.Batch`."""
    sd, ef, mask = scaler.inputs(batch)
    return (torch.from_numpy(sd).to(device), torch.from_numpy(ef).to(device),
            torch.from_numpy(mask).to(device))


def check_same_run(run_dir: Path, record: dict) -> None:
    """Refuse to resume into a run directory written for another model, config or data."""
    old = read_run_record(run_dir)
    ignore = {"device", "num_threads", "amp", "cuda_graphs"}  # where, not what
    keys = ("model", "model_config", "sample", "data_fingerprint")
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
        msg = (f"{path} is damaged ({type(err).__name__}: {first_line(err)}); restore it from "
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
    if release_of(written) != release_of(__version__):
        release = ".".join(map(str, release_of(__version__)))
        msg = (f"{run_dir} was written by gler {written or '(no version)'}; this gler "
               f"{__version__} reads runs of gler {release}.x only. Retrain the model with this "
               f"version (gler train), or install gler "
               f"{written} to use it.")
        raise ValueError(msg)
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        msg = (f"{path} lacks {', '.join(missing)}; it is damaged. Restore it from a copy, or "
               "retrain (gler train with a new --out).")
        raise ValueError(msg)
    return record


def release_of(version: str) -> tuple[int, ...] | None:
    """(major, minor) of a version string (None if it has none); runs and tuned settings
    keep their meaning within a minor release."""
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
        sample = SampleSpec.from_dict(record["sample"])
        model = create_model(record["model"], window=sample.window, horizon=sample.horizon,
                             n_ef=len(sample.factors), **record["model_config"])
    except (TypeError, ValueError) as err:
        msg = (f"The model config in {run_dir / RUN_FILE} does not fit this gler "
               f"{__version__} ({err}). Retrain the model with this version.")
        raise ValueError(msg) from err
    scaler = None
    if record["kind"] == "neural":
        weights = run_dir / BEST_FILE
        if not weights.is_file():
            failure = failure_of(run_dir)
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
                   f"{first_line(err)}; retrain with that config, or restore the matching "
                   f"{RUN_FILE}.")
            raise ValueError(msg) from None
        model.eval()
        scaler = Scaler.load(run_dir / SCALER_FILE)
        n = len(sample.factors)
        if (tuple(scaler.factors) != sample.factors or len(scaler.factor_mean) != n
                or len(scaler.factor_std) != n):
            msg = (f"{run_dir / SCALER_FILE} is for the factors {list(scaler.factors)}, but "
                   f"{run_dir / RUN_FILE} names {list(sample.factors)}: the files are from "
                   "different runs. Restore the run directory from a copy, or retrain.")
            raise ValueError(msg)
    return Run(run_dir=run_dir, model_name=record["model"], kind=record["kind"], model=model,
               train_config=config, sample=sample, scaler=scaler, info=record)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, shortened (torch's run to many lines)."""
    line = (str(err).strip().splitlines() or [""])[0]
    return line if len(line) <= 200 else line[:197] + "..."


def _describe(model_config: dict) -> str:
    shown = [f"{k}={v}" for k, v in model_config.items() if isinstance(v, int | float | str)]
    return ", ".join(shown[:6]) or "default config"
def failure_of(run_dir: Path) -> str | None:
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


def classical_run(stack: xr.Dataset, model_name: str, sample: SampleSpec | None = None,
                  model_overrides: dict | None = None) -> Run:
    """An in-memory run for a classical baseline (nothing to train), e.g. for evaluation.

    Its factors are ``sample.factors``, or all of the data's (None); its cut dates are the
    sample's, or the data's default ones.
    """
    sample = sample or SampleSpec()
    factors = list(sample.factors) if sample.factors is not None else factor_names(stack)
    check_model_factors(model_name, factors)
    model = create_model(model_name, window=sample.window, horizon=sample.horizon,
                         n_ef=len(factors), **(model_overrides or {}))
    resolved = sample.resolved(factors, sample.split_for(stack["time"].values))
    return Run(run_dir=None, model_name=model_name, kind="classical", model=model,
               train_config=TrainConfig(), sample=resolved, scaler=None,
               info={"model": model_name, "kind": "classical"})
