"""Training-period normalisation: the target, the inputs and their inverse, saved as JSON.

The target is a *residual over persistence*: the future displacement minus the last observed
value of the input window, divided by a displacement scale. The input window is expressed the
same way (relative to that last value, in the same scale), so the model sees a series that ends
near zero whatever the cumulative offset of the pixel. Factors are standardised per factor.

All statistics come from training samples only (inputs and targets dated up to the training cut
date, on the training pixels), so nothing of the validation or test period leaks into them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gler.data.multistack import MultiStackWindows
from gler.data.windows import Batch, WindowDataset


@dataclass(frozen=True)
class Scaler:
    """Normalisation constants.

    Attributes
    ----------
    scale
        Displacement scale in mm: the root mean square of the 1 … H-step displacement increments
        over the training period.
    factor_mean, factor_std
        Per-factor mean and standard deviation over the training period (std 1 where constant).
    factors
        Factor names, in the order of the last axis of ``ef``.
    """

    scale: float
    factor_mean: tuple[float, ...]
    factor_std: tuple[float, ...]
    factors: tuple[str, ...]

    @classmethod
    def fit(cls, windows: WindowDataset | MultiStackWindows,
            pixels: np.ndarray | None = None) -> Scaler:
        """Statistics from the training period of ``windows`` (optionally on ``pixels`` only).

        Windows pooled from several stacks (:class:`~gler.data.multistack.MultiStackWindows`)
        pool the training periods of those stacks: nothing of a stack left out of them (a
        held-out region) enters the statistics.

        Raises
        ------
        ValueError
            If the training period has no finite increment to set the scale.

        Example
        -------
        >>> scaler = Scaler.fit(WindowDataset(stack, window=30, horizon=6))  # doctest: +SKIP
        """
        parts = (windows.split_pixels(pixels) if isinstance(windows, MultiStackWindows) else
                 [(windows, windows.valid_pixels if pixels is None else np.asarray(pixels))])
        squares, count, ef_rows = 0.0, 0, []
        for part, part_pixels in parts:
            n_train = int((part.period_of(part.times) == 0).sum())
            values = part.values[part_pixels, :n_train]
            for step in range(1, part.horizon + 1):
                diff = values[:, step:] - values[:, :-step]
                finite = np.isfinite(diff)
                squares += float(np.sum(np.square(diff[finite], dtype=np.float64)))
                count += int(finite.sum())
            rows = part.ef if part.ef.shape[0] == 1 else part.ef[part_pixels]
            # Explicit row count: reshape(-1, 0) of an empty factor array is ambiguous.
            ef_rows.append(rows[:, :n_train].reshape(rows.shape[0] * n_train, part.ef.shape[-1]))
        if count == 0 or squares == 0.0:
            msg = ("The training period has no finite displacement increment to set the "
                   "normalisation scale (all NaN or constant). Check the data and the split "
                   "dates.")
            raise ValueError(msg)
        ef = np.concatenate(ef_rows).astype(np.float64)
        std = ef.std(axis=0) if ef.size else np.zeros(0)
        return cls(
            scale=float(np.sqrt(squares / count)),
            factor_mean=tuple(float(v) for v in (ef.mean(axis=0) if ef.size else [])),
            factor_std=tuple(float(v) if v > 0 else 1.0 for v in std),
            factors=tuple(windows.factors),
        )

    # -- transforms --------------------------------------------------------------------------

    def inputs(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalised ``(sd [B, L], ef [B, L, E], mask [B, L])``; gaps become 0 with mask False."""
        sd = (batch.sd - batch.anchor[:, None]) / self.scale
        sd = np.where(batch.mask, sd, 0.0).astype(np.float32)
        mean = np.asarray(self.factor_mean, dtype=np.float32)
        std = np.asarray(self.factor_std, dtype=np.float32)
        ef = ((batch.ef - mean) / std).astype(np.float32)
        return sd, ef, batch.mask

    def target(self, batch: Batch) -> np.ndarray:
        """Normalised target ``[B, H]``: (future − last observed) / scale, NaN kept."""
        return ((batch.target - batch.anchor[:, None]) / self.scale).astype(np.float32)

    def inverse(self, prediction: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        """Back to millimetres: ``prediction * scale + anchor``."""
        return (np.asarray(prediction, dtype=np.float64) * self.scale
                + np.asarray(anchor, dtype=np.float64)[:, None]).astype(np.float32)

    # -- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Scaler:
        """Inverse of :meth:`to_dict`."""
        return cls(scale=float(values["scale"]),
                   factor_mean=tuple(values["factor_mean"]),
                   factor_std=tuple(values["factor_std"]),
                   factors=tuple(values["factors"]))

    def save(self, path: str | Path) -> None:
        """Write the scaler as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Scaler:
        """Read a scaler written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
