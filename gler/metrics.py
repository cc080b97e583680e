"""Error metrics on forecasts with gaps: RMSE, MAE, R², skill, trend consistency, seed spread.

Every function takes ``pred`` and ``obs`` arrays of the same shape (NaN = no value) and counts
only the positions where both are finite, or an explicit boolean ``mask`` of the positions to
score (the evaluation passes one common mask so all models are scored on the same targets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pairs(pred: np.ndarray, obs: np.ndarray, mask: np.ndarray | None,
           axis: int | tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, obs = np.asarray(pred, dtype=np.float64), np.asarray(obs, dtype=np.float64)
    if pred.shape != obs.shape:
        msg = f"pred has shape {pred.shape} but obs has {obs.shape}; they must match."
        raise ValueError(msg)
    valid = np.isfinite(pred) & np.isfinite(obs)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return pred, obs, valid


def _mean(values: np.ndarray, valid: np.ndarray, axis) -> np.ndarray:
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def rmse(pred: np.ndarray, obs: np.ndarray, *, mask: np.ndarray | None = None,
         axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Root mean square error over the valid positions (reduced over ``axis``; all by default).

    Example
    -------
    >>> float(rmse(np.array([1.0, 2.0, np.nan]), np.array([0.0, 2.0, 5.0])))
    0.7071067811865476
    """
    pred, obs, valid = _pairs(pred, obs, mask, axis)
    return np.sqrt(_mean((pred - obs) ** 2, valid, axis))


def mae(pred: np.ndarray, obs: np.ndarray, *, mask: np.ndarray | None = None,
        axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Mean absolute error over the valid positions."""
    pred, obs, valid = _pairs(pred, obs, mask, axis)
    return _mean(np.abs(pred - obs), valid, axis)


def r2(pred: np.ndarray, obs: np.ndarray, *, mask: np.ndarray | None = None,
       axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Coefficient of determination ``1 − SSE / SST`` (SST about the mean of ``obs``)."""
    pred, obs, valid = _pairs(pred, obs, mask, axis)
    mean_obs = _mean(obs, valid, axis)
    if axis is not None:
        mean_obs = np.expand_dims(mean_obs, axis)
    sse = np.where(valid, (pred - obs) ** 2, 0.0).sum(axis=axis)
    sst = np.where(valid, (obs - mean_obs) ** 2, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.nan)


def skill(error: float, reference_error: float) -> float:
    """Skill score ``1 − error / reference_error`` (positive: better than the reference)."""
    if not reference_error > 0:
        return float("nan")
    return float(1.0 - error / reference_error)


def trend(values: np.ndarray, years: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Least-squares slope (units per year) along ``axis``, NaN values skipped."""
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    years = np.broadcast_to(np.asarray(years, dtype=np.float64), values.shape)
    valid = np.isfinite(values) & np.isfinite(years)
    count = valid.sum(axis=-1)
    t_mean = _mean(years, valid, -1)[..., None]
    y_mean = _mean(values, valid, -1)[..., None]
    dt = np.where(valid, years - t_mean, 0.0)
    cov = (dt * np.where(valid, values - y_mean, 0.0)).sum(axis=-1)
    var = (dt**2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((count >= 2) & (var > 0), cov / np.where(var > 0, var, 1.0), np.nan)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the positions where both are finite (NaN if < 3)."""
    a, b = np.ravel(np.asarray(a, dtype=np.float64)), np.ravel(np.asarray(b, dtype=np.float64))
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of finite ``values``."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not arr.size:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}
