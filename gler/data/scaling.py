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

from gler.data.checks import MAX_STEP_MM
from gler.data.multistack import MultiStackWindows
from gler.data.windows import Batch, WindowDataset

#: Increments further than this many robust standard deviations (1.4826 MAD) from their median
#: are left out of the displacement scale: on clean data none is, while one corrupt cell
#: (say 1e30 mm) would otherwise set the scale and every forecast.
ROBUST_LIMIT = 10.0


def _typical(diff: np.ndarray) -> np.ndarray:
    """Mask of the finite increments within :data:`ROBUST_LIMIT` robust deviations."""
    finite = np.isfinite(diff)
    if not finite.any():
        return finite
    values = diff[finite].astype(np.float64)
    centre = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - centre))
    if spread == 0:  # quantised or constant increments: nothing to call an outlier by MAD
        return finite
    with np.errstate(invalid="ignore"):
        return finite & (np.abs(diff - centre) <= ROBUST_LIMIT * spread)


@dataclass(frozen=True)
class Scaler:
    """Normalisation constants.

    Attributes
    ----------
    scale
        Displacement scale in mm: the root mean square of the 1 … H-step displacement increments
        over the training period, leaving out increments further than :data:`ROBUST_LIMIT`
        robust deviations from their median (outliers, which no clean stack has).
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
                kept = _typical(diff)
                squares += float(np.sum(np.square(diff[kept], dtype=np.float64)))
                count += int(kept.sum())
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

    def check_factors(self, windows: WindowDataset | MultiStackWindows) -> None:
        """Refuse windows whose factors are not the ones this scaler normalises, in order.

        Raises
        ------
        ValueError
            Naming both factor lists.
        """
        if tuple(windows.factors) != self.factors:
            msg = (f"The windows carry the factors {list(windows.factors)}, but the scaler "
                   f"normalises {list(self.factors)}: they belong to different runs or data. "
                   "Give the data the run was trained with (--factors), or retrain.")
            raise ValueError(msg)

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
        """Read a scaler written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            If the file is damaged or holds a scale that no clean training data give (not in
            (0, :data:`~gler.data.checks.MAX_STEP_MM`]) or non-finite factor statistics.
        """
        path = Path(path)
        if not path.is_file():
            msg = f"{path} is missing; retrain the model (gler train with a new --out)."
            raise FileNotFoundError(msg)
        try:
            scaler = cls.from_dict(json.loads(path.read_text()))
            numbers = np.array([scaler.scale, *scaler.factor_mean, *scaler.factor_std],
                               dtype=np.float64)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
            msg = (f"{path} is damaged ({type(err).__name__}); restore it from a copy, or "
                   "retrain the model (gler train with a new --out).")
            raise ValueError(msg) from None
        if not np.isfinite(numbers).all() or not 0 < scaler.scale <= MAX_STEP_MM:
            msg = (f"{path} holds a displacement scale of {scaler.scale} mm (or non-finite "
                   "factor statistics): the training data had implausible values. Retrain on "
                   "checked data (gler train refuses such data now).")
            raise ValueError(msg)
        return scaler
