"""Training settings: :class:`TrainConfig`, the optimiser's side of a run.

What a sample is (window, horizon, factors, split) is :class:`gler.data.sample.SampleSpec`; the
architecture is the model's own config. All three are written to a run's ``run.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

#: The levels of a quantile head that the book trains (``gler train --quantiles``): the median
#: and the bounds of the central 50, 80 and 90 % intervals.
HEAD_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
#: Label suffix of a run with a quantile head (``gler+quantiles``), next to the point runs.
HEAD_SUFFIX = "+quantiles"



def digest(value: object) -> str:
    """The first 8 hex digits of the SHA-256 of ``value`` as JSON (sorted keys; other types as
    ``str``): the short key of a cache folder, a tuned profile or a study.

    Example
    -------
    >>> digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    True
    """
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


LOSSES = ("mse", "huber")
DEVICES = ("auto", "cpu", "cuda")
LR_SCHEDULES = ("cosine", "constant")
#: Options added after run format 2, with their default value: written only when not that.
WRITTEN_WHEN_SET = {"early_stopping": True, "warmup_epochs": 0, "ema_decay": 0.0,
                    "factor_dropout": 0.0, "cuda_graphs": True}

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """``to_dict`` / ``from_dict`` / JSON / ``replace`` for frozen dataclasses, fields checked
    by name: the base of every config that a run directory writes."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON types (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a mapping such as ``json.loads(config.to_json())`` (lists become tuples).

        Raises
        ------
        ValueError
            If ``data`` has keys that are not fields of this config.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            msg = (f"Unknown {cls.__name__} field(s) {unknown}. Valid fields: "
                   f"{', '.join(sorted(names))}.")
            raise ValueError(msg)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """The optimiser's settings: everything that controls training but the samples (a
    :class:`~gler.data.sample.SampleSpec`) and the architecture (the model's config).

    Parameters
    ----------
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
    early_stopping
        Stop after ``patience`` epochs without improvement and keep the best validation
        weights (the default). False: train exactly ``epochs`` epochs and keep the last
        weights; the validation period may then be empty (a *final fit* on training plus
        validation data, :func:`gler.data.folds.final_fit_sample`, with the epoch count the
        folds chose).
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
    warmup_epochs
        Linear learning-rate warm-up over this many epochs, step by step from ``lr / steps``
        (0: none).
    ema_decay
        Exponential moving average of the weights with this decay (0: none); validation,
        ``best.pt`` and the forecasts use the averaged weights. The decay is
        ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first steps are not
        tied to the initial weights.
    factor_dropout
        Probability with which each factor channel of a training sample is replaced by its
        training mean (0 in normalised units), so that the model cannot lean on one factor
        alone (0: none).
    cuda_graphs
        On CUDA (with bf16 or without mixed precision), capture the training step in a CUDA
        graph and replay it for every full batch (:class:`gler.train.GraphedStep`); an epoch's
        last, smaller batch, gradient accumulation and a failed capture train eagerly. Ignored
        on CPU. Where to run, not what to compute: a run may resume with the other setting.

    The last five options are written to ``run.json`` only when not at their default, so runs
    and caches written before they existed keep their meaning.

    Raises
    ------
    ValueError
        On an out-of-range value, naming the field.
    """

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
    early_stopping: bool = True
    warmup_epochs: int = 0
    ema_decay: float = 0.0
    factor_dropout: float = 0.0
    cuda_graphs: bool = True

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "patience")
        bad = [f"{n}={getattr(self, n)!r}" for n in positive if getattr(self, n) < 1]
        if self.warmup_epochs < 0:
            bad.append(f"warmup_epochs={self.warmup_epochs!r} (at least 0)")
        bad += [f"{n}={getattr(self, n)!r} (in [0, 1))" for n in ("ema_decay", "factor_dropout")
                if not 0 <= getattr(self, n) < 1]
        if self.lr <= 0 or self.weight_decay < 0:
            bad.append(f"lr={self.lr!r}, weight_decay={self.weight_decay!r}")
        if not 0 < self.pixel_fraction <= 1:
            bad.append(f"pixel_fraction={self.pixel_fraction!r} (in (0, 1])")
        if self.lr_schedule not in LR_SCHEDULES:
            bad.append(f"lr_schedule={self.lr_schedule!r} (one of {LR_SCHEDULES})")
        if self.device not in DEVICES or self.loss not in LOSSES:
            bad.append(f"device={self.device!r} (one of {DEVICES}), loss={self.loss!r} "
                       f"(one of {LOSSES})")
        if bad:
            msg = f"Invalid TrainConfig: {'; '.join(bad)}."
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the options of :data:`WRITTEN_WHEN_SET` only when not off."""
        return {k: v for k, v in super().to_dict().items()
                if k not in WRITTEN_WHEN_SET or v != WRITTEN_WHEN_SET[k]}

    def lr_at(self, epoch: int, done: float = 1.0) -> float:
        """Learning rate of ``epoch`` (1-based) under :attr:`lr_schedule`, after the fraction
        ``done`` of the epoch's steps (which only matters during the warm-up)."""
        warmup = min(1.0, (epoch - 1 + done) / self.warmup_epochs) if self.warmup_epochs else 1.0
        if self.lr_schedule == "constant" or self.epochs == 1:
            return self.lr * warmup
        progress = (epoch - 1) / (self.epochs - 1)
        floor = self.lr / 20
        return float(floor + 0.5 * (self.lr - floor) * (1 + np.cos(np.pi * progress))) * warmup
