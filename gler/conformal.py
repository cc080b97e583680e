"""Predictive distributions for every model: split-conformal calibration per horizon step.

A run's point forecasts become quantile forecasts by adding the quantiles of its own signed
residuals (observed minus forecast) over the validation period, one set per horizon step.
With the finite-sample order statistic of split-conformal prediction (Vovk et al. 2005; Lei et
al. 2018), a central interval at level ``1 - a`` then covers new observations at least
``1 - a`` of the time when validation and test errors are exchangeable. Neural runs and
classical baselines are calibrated alike, so every model of a comparison has intervals, and
nothing of the test period enters: the residuals come from the run's validation issues only.

Shapes: I issue dates, H steps, P pixels (or points), Q quantile levels.

References
----------
Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J., Wasserman, L. (2018). Distribution-free
predictive inference for regression. JASA 113(523), 1094-1111.

Example
-------
>>> cal = calibrate("runs/beiluhe-gler", stack)  # doctest: +SKIP
>>> fc = predict_quantiles("runs/beiluhe-gler", stack, (0.05, 0.95),
...                        calibration=cal)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.model import DISPLACEMENT
from gler.forecast import FORECAST, predict
from gler.run import Run, load_run

QUANTILE = "forecast_quantile"
#: Central intervals scored by :mod:`gler.scoring`: 50, 80 and 90 %.
LEVELS = (0.5, 0.8, 0.9)


def check_quantiles(quantiles: Sequence[float] | str) -> tuple[float, ...]:
    """Quantile levels as a tuple, from numbers or a comma-separated string.

    Raises
    ------
    ValueError
        If a level is not a number strictly between 0 and 1, or the levels do not increase.

    Example
    -------
    >>> check_quantiles("0.05,0.5,0.95")
    (0.05, 0.5, 0.95)
    """
    text = quantiles if isinstance(quantiles, str) else ",".join(map(str, quantiles))
    try:
        levels = tuple(float(q) for q in text.split(","))
    except ValueError:
        levels = ()
    if not levels or not all(0.0 < q < 1.0 for q in levels):
        msg = (f"Quantiles {text!r} (--quantiles): give levels strictly between 0 and 1, "
               "comma-separated, e.g. 0.05,0.5,0.95.")
        raise ValueError(msg)
    if any(b <= a for a, b in itertools.pairwise(levels)):
        msg = (f"Quantiles {text!r} (--quantiles) must increase strictly, e.g. 0.05,0.5,0.95.")
        raise ValueError(msg)
    return levels


def needed_points(level: float) -> int:
    """Calibration points per step that the conformal quantile at ``level`` needs.

    The order statistic ``ceil((n + 1) q)`` (upper levels) or ``floor((n + 1) q)`` (lower
    levels) must lie within ``1..n``, i.e. ``n >= 1 / min(q, 1 - q) - 1``.

    Example
    -------
    >>> needed_points(0.95)
    19
    """
    tail = min(level, 1.0 - level)
    return max(1, math.ceil(round(1.0 / tail, 9) - 1))


@dataclass(frozen=True)
class Calibration:
    """Signed validation residuals (observed minus forecast, mm) of one run, per step.

    Attributes
    ----------
    residuals
        One sorted array per horizon step (H arrays; lengths may differ where targets are
        missing).
    period
        First and last target date of the calibration period (ISO dates).
    model
        The calibrated model's name.
    """

    residuals: tuple[np.ndarray, ...]
    period: tuple[str, str]
    model: str = ""

    @property
    def horizon(self) -> int:
        """Number of steps H."""
        return len(self.residuals)

    @property
    def n_points(self) -> list[int]:
        """Calibration points per step."""
        return [len(r) for r in self.residuals]

    def offsets(self, levels: Sequence[float]) -> np.ndarray:
        """Conformal quantiles of the residuals, ``[Q, H]`` mm, to add to the forecast.

        Raises
        ------
        ValueError
            If a step has too few calibration points for a level (the message gives how many
            it has and how many the level needs).
        """
        levels = check_quantiles(levels)
        out = np.empty((len(levels), self.horizon))
        for h, res in enumerate(self.residuals):
            n = len(res)
            for i, q in enumerate(levels):
                if n < needed_points(q):
                    msg = (f"The calibration period {self.period[0]} to {self.period[1]} has "
                           f"{n} points at step {h + 1}; the {q:g} quantile needs at least "
                           f"{needed_points(q)}. Give a longer validation period (--val-end, "
                           "--train-end) or less extreme --quantiles.")
                    raise ValueError(msg)
                rank = math.ceil((n + 1) * q) if q >= 0.5 else math.floor((n + 1) * q)
                out[i, h] = res[rank - 1]
        return out

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper offsets ``[H]`` (mm) of the central interval at ``level``."""
        lo, hi = self.offsets(((1 - level) / 2, (1 + level) / 2))
        return lo, hi

    def cdf(self, step: int, x: np.ndarray) -> np.ndarray:
        """Empirical probability that the residual at ``step`` (1-based) is at most ``x``."""
        res = self.residuals[step - 1]
        return np.searchsorted(res, x, side="right") / len(res)


def residual_calibration(pred: np.ndarray, obs: np.ndarray, *,
                         period: tuple[str, str] = ("", ""), model: str = "") -> Calibration:
    """:class:`Calibration` from forecasts and observations ``[I, H, P]`` (NaN: missing).

    Example
    -------
    >>> pred = np.zeros((4, 2, 10)); obs = np.ones((4, 2, 10))
    >>> residual_calibration(pred, obs).n_points
    [40, 40]
    """
    if pred.shape != obs.shape or pred.ndim != 3:
        msg = f"pred {pred.shape} and obs {obs.shape} must both be [I, H, P]."
        raise ValueError(msg)
    res = (obs - pred).transpose(1, 0, 2).reshape(pred.shape[1], -1)
    steps = tuple(np.sort(r[np.isfinite(r)]).astype(np.float64) for r in res)
    return Calibration(residuals=steps, period=period, model=model)


def observed_targets(forecast: xr.Dataset, stack: xr.Dataset,
                     variable: str = DISPLACEMENT) -> np.ndarray:
    """``stack[variable]`` at each forecast's target date, ``[I, H, P]``; NaN past the data."""
    spatial = [d for d in forecast[FORECAST].dims if d not in ("issue_time", "horizon")]
    grid = stack[variable].transpose("time", *spatial).values
    grid = grid.reshape(grid.shape[0], -1)
    times = pd.DatetimeIndex(stack["time"].values)
    target = pd.DatetimeIndex(forecast["target_time"].values.ravel())
    index = times.get_indexer(target)
    out = np.where((index >= 0)[:, None], grid[np.maximum(index, 0)], np.nan)
    return out.reshape(*forecast["target_time"].shape, -1).astype(np.float64)


def flat(forecast: xr.Dataset, variable: str = FORECAST) -> np.ndarray:
    """``forecast[variable]`` as ``[I, H, P]`` (spatial dims flattened)."""
    values = forecast[variable].values
    return values.reshape(*values.shape[:2], -1).astype(np.float64)


def calibrate(run: Run | str | Path, stack: xr.Dataset, *, split: str = "val",
              device: str = "auto", batch_size: int | None = None) -> Calibration:
    """Calibrate ``run`` on its validation issues of ``stack`` (no test target enters).

    Parameters
    ----------
    run
        A run directory or a loaded run (neural or classical).
    stack
        The data the run forecasts; its validation period (the run's split dates) gives the
        residuals.
    split
        The period to calibrate on; ``"val"`` unless you know why.
    device, batch_size
        Passed to :func:`gler.forecast.predict`.

    Raises
    ------
    ValueError
        If the period holds no issue date or no observed target.
    """
    run = run if isinstance(run, Run) else load_run(run)
    try:
        forecast = predict(run, stack, issues=split, device=device, batch_size=batch_size)
    except ValueError as err:
        msg = (f"No calibration data: the {split} period of {run.split} holds no issue date "
               f"with all {run.sample.horizon} targets in these data ({err}). Give data "
               "that cover the validation period, or other --train-end/--val-end.")
        raise ValueError(msg) from err
    pred, obs = flat(forecast), observed_targets(forecast, stack)
    target = pd.DatetimeIndex(forecast["target_time"].values.ravel())
    cal = residual_calibration(pred, obs, period=(str(target.min().date()),
                                                  str(target.max().date())),
                               model=run.model_name)
    if min(cal.n_points) == 0:
        msg = (f"The calibration period {cal.period[0]} to {cal.period[1]} has no observed "
               "target with a forecast; check the data for gaps there.")
        raise ValueError(msg)
    return cal


def add_quantiles(forecast: xr.Dataset, calibration: Calibration,
                  quantiles: Sequence[float]) -> xr.Dataset:
    """``forecast`` with ``forecast_quantile`` (quantile, issue_time, horizon, *spatial), mm.

    Raises
    ------
    ValueError
        For invalid levels, a calibration of another horizon, or too few calibration points.
    """
    levels = check_quantiles(quantiles)
    horizon = forecast.sizes["horizon"]
    if calibration.horizon != horizon:
        msg = (f"The calibration has {calibration.horizon} steps but the forecast {horizon}; "
               "calibrate the same run.")
        raise ValueError(msg)
    offsets = calibration.offsets(levels)  # [Q, H]
    point = forecast[FORECAST]
    shift = xr.DataArray(offsets, dims=("quantile", "horizon"))
    values = (point + shift).transpose("quantile", *point.dims)
    values.attrs = {
        "units": "mm", "long_name": "quantile of the forecast cumulative surface displacement",
        "comment": (f"split-conformal: forecast plus the conformal quantile of the signed "
                    f"validation residuals of each step ({calibration.period[0]} to "
                    f"{calibration.period[1]}, {min(calibration.n_points)}-"
                    f"{max(calibration.n_points)} points per step)"),
    }
    out = forecast.assign({QUANTILE: values})
    out = out.assign_coords(quantile=("quantile", np.asarray(levels), {
        "long_name": "quantile level (probability of non-exceedance)", "units": "1"}))
    out.attrs["calibration_period"] = f"{calibration.period[0]}/{calibration.period[1]}"
    return out


def predict_quantiles(run: Run | str | Path, stack: xr.Dataset, quantiles: Sequence[float], *,
                      issues: str | Sequence | None = None,
                      calibration: Calibration | None = None, device: str = "auto",
                      batch_size: int | None = None) -> xr.Dataset:
    """:func:`gler.forecast.predict` plus calibrated quantiles (see :func:`add_quantiles`).

    The levels are checked before any forecast is made; without ``calibration`` the run is
    calibrated on its validation period of ``stack`` (:func:`calibrate`).

    Example
    -------
    >>> fc = predict_quantiles(run, stack, (0.1, 0.9), issues="last")  # doctest: +SKIP
    >>> fc.forecast_quantile.sel(quantile=0.9)  # doctest: +SKIP
    """
    levels = check_quantiles(quantiles)
    run = run if isinstance(run, Run) else load_run(run)
    calibration = calibration or calibrate(run, stack, device=device, batch_size=batch_size)
    calibration.offsets(levels)  # too few points: say so before forecasting
    forecast = predict(run, stack, issues=issues, device=device, batch_size=batch_size)
    return add_quantiles(forecast, calibration, levels)
