"""Predictive distributions for every model, calibrated per horizon step on the validation
period: split conformal around point forecasts, conformalised quantile regression (CQR) for
runs with a quantile head.

**Split conformal** (:func:`calibrate`, :class:`Calibration`). A run's point forecasts become
quantile forecasts by adding the quantiles of its own signed residuals (observed minus
forecast) over the validation period, one set per horizon step. With the finite-sample order
statistic of split-conformal prediction (Vovk et al. 2005; Lei et al. 2018), a central
interval at level ``1 - a`` then covers new observations at least ``1 - a`` of the time when
validation and test errors are exchangeable. Neural runs and classical baselines are
calibrated alike, so every model of a comparison has intervals.

**CQR** (:func:`calibrate_quantiles`, :class:`QuantileCalibration`; Romano et al. 2019). A run
trained with a quantile head (``gler train --quantiles``) forecasts its own quantiles, whose
spread follows the input. For each central interval of the head, ``[q_lo, q_hi]`` at level
``1 - a``, the conformity score of a validation target ``y`` is ``max(q_lo - y, y - q_hi)``;
the interval widened (or narrowed, for a negative score) on both sides by the
``ceil((n + 1)(1 - a))``-th smallest of the ``n`` scores of its step covers new targets at least
``1 - a`` of the time under exchangeability. The calibrated intervals are then made nested
(each widened to contain those inside it, the median innermost), which can only raise their
coverage, so the quantiles never cross.

Nothing of the test period enters either: the residuals and scores come from the run's
validation issues only.

Shapes: I issue dates, H steps, P pixels (or points), Q quantile levels.

References
----------
Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J., Wasserman, L. (2018). Distribution-free
predictive inference for regression. JASA 113(523), 1094-1111.

Romano, Y., Patterson, E., Candès, E. J. (2019). Conformalized quantile regression. NeurIPS
32, 3543-3553.

Example
-------
>>> cal = calibrate("runs/beiluhe-gler", stack)  # doctest: +SKIP
>>> fc = predict_quantiles("runs/beiluhe-gler", stack, (0.05, 0.95),
...                        calibration=cal)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.model import DISPLACEMENT
from gler.forecast import FORECAST, HEAD_QUANTILE, predict
from gler.layers.quantile import check_levels
from gler.run import TRAIN_QUANTILES, Run, load_run

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
    return check_levels(text.split(","))


def check_points(n: int, needed: int, period: tuple, step: int, what: str,
                 advice: str = "") -> None:
    """Refuse a calibration of ``n`` points at ``step`` where ``what`` needs ``needed``.

    Raises
    ------
    ValueError
        Naming the period, the step, both counts and the flags that lengthen the period.
    """
    if n < needed:
        msg = (f"The calibration period {period[0]} to {period[1]} has {n} points at step "
               f"{step}; {what} needs at least {needed}. Give a longer validation period "
               f"(--val-end, --train-end){' ' + advice if advice else ''}.")
        raise ValueError(msg)


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
                check_points(n, needed_points(q), self.period, h + 1, f"the {q:g} quantile",
                             "or less extreme --quantiles")
                rank = math.ceil((n + 1) * q) if q >= 0.5 else math.floor((n + 1) * q)
                out[i, h] = res[rank - 1]
        return out

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper offsets ``[H]`` (mm) of the central interval at ``level``."""
        lo, hi = self.offsets(((1 - level) / 2, (1 + level) / 2))
        return lo, hi

    def cdf(self, step: int, x: np.ndarray, side: str = "right") -> np.ndarray:
        """Empirical probability that the residual at ``step`` (1-based) is at most ``x``
        (``side="right"``) or below it (``"left"``)."""
        res = self.residuals[step - 1]
        return np.searchsorted(res, x, side=side) / len(res)


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
    """Split-conformal calibration of ``run`` on its validation issues of ``stack`` (no test
    target enters). A run with a quantile head is calibrated around its median here;
    :func:`calibration_for` gives it CQR instead (as :func:`gler.alerts.alert_map` uses it).

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
    forecast = _calibration_forecast(run, stack, split, device, batch_size)
    cal = residual_calibration(flat(forecast), observed_targets(forecast, stack),
                               period=_period(forecast), model=run.model_name)
    _check_points(cal)
    return cal


def needed_scores(level: float) -> int:
    """Calibration points per step that CQR's central interval at ``level`` needs: the order
    statistic ``ceil((n + 1) level)`` must lie within ``1..n``.

    Example
    -------
    >>> needed_scores(0.9)
    9
    """
    return max(1, math.ceil(round(1.0 / (1.0 - level), 9) - 1))


@dataclass(frozen=True)
class QuantileCalibration:
    """CQR conformity scores of a quantile head's central intervals, per step.

    Attributes
    ----------
    levels
        The head's quantile levels (symmetric about 0.5, the median among them).
    scores
        Per central interval (innermost first: the pairs ``(q, 1 - q)`` from the median
        outwards), one sorted array of scores ``max(q_lo - y, y - q_hi)`` (mm) per step.
    period
        First and last target date of the calibration period (ISO dates).
    model
        The calibrated model's name.
    """

    levels: tuple[float, ...]
    scores: tuple[tuple[np.ndarray, ...], ...]
    period: tuple[str, str]
    model: str = ""

    @property
    def median(self) -> int:
        """Position of level 0.5 in :attr:`levels`."""
        return self.levels.index(0.5)

    @property
    def intervals(self) -> tuple[float, ...]:
        """Central interval levels, innermost first (e.g. 0.5, 0.8, 0.9)."""
        m = self.median
        return tuple(round(self.levels[m + k] - self.levels[m - k], 12)
                     for k in range(1, m + 1))

    @property
    def horizon(self) -> int:
        """Number of steps H."""
        return len(self.scores[0])

    @property
    def n_points(self) -> list[int]:
        """Calibration points per step (those of the outermost interval)."""
        return [len(r) for r in self.scores[-1]]

    def corrections(self) -> np.ndarray:
        """The conformal quantile of each interval's scores, ``[K, H]`` mm (K intervals,
        innermost first): what each bound moves outwards.

        Raises
        ------
        ValueError
            If a step has too few calibration points for an interval (the message gives how
            many it has and how many the interval needs).
        """
        out = np.empty((len(self.scores), self.horizon))
        for k, (level, steps) in enumerate(zip(self.intervals, self.scores, strict=True)):
            for h, scores in enumerate(steps):
                n = len(scores)
                check_points(n, needed_scores(level), self.period, h + 1,
                             f"the {level:.0%} interval")
                out[k, h] = scores[math.ceil((n + 1) * level) - 1]
        return out

    def apply(self, quantiles: np.ndarray) -> np.ndarray:
        """Calibrated quantiles from the head's ``quantiles [Q, I, H, P]`` (mm), same shape:
        each central interval moved outwards by its correction, then the intervals made
        nested (lower bounds a running minimum, upper bounds a running maximum, outwards from
        the median), so the quantiles never cross and no interval narrows below its CQR
        bounds."""
        out = np.array(quantiles, dtype=np.float64)
        correction = self.corrections()[:, None, :, None]  # [K, 1, H, 1]
        m = self.median
        for k in range(1, m + 1):
            out[m - k] -= correction[k - 1]
            out[m + k] += correction[k - 1]
            out[m - k] = np.fmin(out[m - k], out[m - k + 1])
            out[m + k] = np.fmax(out[m + k], out[m + k - 1])
        return out


def quantile_calibration(quantiles: np.ndarray, obs: np.ndarray, levels: Sequence[float], *,
                         period: tuple[str, str] = ("", ""),
                         model: str = "") -> QuantileCalibration:
    """:class:`QuantileCalibration` from a head's quantiles ``[Q, I, H, P]`` at ``levels`` and
    the observations ``[I, H, P]`` (NaN: missing).

    Raises
    ------
    ValueError
        For levels a quantile head cannot have, or shapes that do not match.

    Example
    -------
    >>> q = np.stack([np.full((4, 2, 10), v) for v in (-1.0, 0.0, 1.0)])
    >>> quantile_calibration(q, np.zeros((4, 2, 10)), (0.1, 0.5, 0.9)).n_points
    [40, 40]
    """
    levels = check_levels(levels, head=True)
    if obs.ndim != 3 or quantiles.shape != (len(levels), *obs.shape):
        msg = (f"quantiles {quantiles.shape} must be [Q, I, H, P] with Q = {len(levels)} "
               f"levels and obs {obs.shape} [I, H, P].")
        raise ValueError(msg)
    m = levels.index(0.5)
    scores = []
    for k in range(1, m + 1):
        score = np.fmax(quantiles[m - k] - obs, obs - quantiles[m + k])  # [I, H, P]
        per_step = score.transpose(1, 0, 2).reshape(obs.shape[1], -1)
        scores.append(tuple(np.sort(r[np.isfinite(r)]).astype(np.float64) for r in per_step))
    return QuantileCalibration(levels=levels, scores=tuple(scores), period=period, model=model)


def calibrate_quantiles(run: Run | str | Path, stack: xr.Dataset, *, split: str = "val",
                        device: str = "auto",
                        batch_size: int | None = None) -> QuantileCalibration:
    """CQR of the quantile head of ``run`` on its validation issues of ``stack`` (no test
    target enters); arguments as :func:`calibrate`.

    Raises
    ------
    ValueError
        If the run has no quantile head (naming the command that trains one), or the period
        holds no issue date or no observed target.
    """
    run = run if isinstance(run, Run) else load_run(run)
    levels = run.check_quantile_head("Conformalised quantile regression")
    forecast = _calibration_forecast(run, stack, split, device, batch_size, head=True)
    obs = observed_targets(forecast, stack)
    values = forecast[HEAD_QUANTILE].values
    heads = values.reshape(*values.shape[:3], -1).astype(np.float64)
    cal = quantile_calibration(heads, obs, levels, period=_period(forecast),
                               model=run.model_name)
    _check_points(cal)
    return cal


def _calibration_forecast(run: Run, stack: xr.Dataset, split: str, device: str,
                          batch_size: int | None, *, head: bool = False) -> xr.Dataset:
    try:
        return predict(run, stack, issues=split, device=device, batch_size=batch_size,
                       head=head)
    except ValueError as err:
        msg = (f"No calibration data: the {split} period of {run.split} holds no issue date "
               f"with all {run.sample.horizon} targets in these data ({err}). Give data "
               "that cover the validation period, or other --train-end/--val-end.")
        raise ValueError(msg) from err


def _period(forecast: xr.Dataset) -> tuple[str, str]:
    target = pd.DatetimeIndex(forecast["target_time"].values.ravel())
    return str(target.min().date()), str(target.max().date())


def _check_points(cal: Calibration | QuantileCalibration) -> None:
    if min(cal.n_points) == 0:
        msg = (f"The calibration period {cal.period[0]} to {cal.period[1]} has no observed "
               "target with a forecast; check the data for gaps there.")
        raise ValueError(msg)


def calibration_for(run: Run | str | Path, stack: xr.Dataset, *, device: str = "auto",
                    batch_size: int | None = None) -> Calibration | QuantileCalibration:
    """The run's calibration on its validation period: CQR of its quantile head where it has
    one (:func:`calibrate_quantiles`), split conformal otherwise (:func:`calibrate`)."""
    run = run if isinstance(run, Run) else load_run(run)
    how = calibrate_quantiles if run.quantiles else calibrate
    return how(run, stack, device=device, batch_size=batch_size)


def add_quantiles(forecast: xr.Dataset, calibration: Calibration | QuantileCalibration,
                  quantiles: Sequence[float] | str) -> xr.Dataset:
    """``forecast`` with ``forecast_quantile`` (quantile, issue_time, horizon, *spatial), mm.

    With a :class:`Calibration`: the point forecast plus the split-conformal offsets. With a
    :class:`QuantileCalibration`: the CQR-calibrated quantiles of the head's forecast
    (``forecast`` from :func:`gler.forecast.predict` with ``head=True``, whose
    ``forecast_head_quantile`` this replaces), at some of the head's levels or all of them
    (``quantiles="head"``).

    Raises
    ------
    ValueError
        For invalid levels, levels the head does not forecast, ``"head"`` without a quantile
        head, a calibration of another horizon, or too few calibration points.
    """
    cqr = isinstance(calibration, QuantileCalibration)
    levels = requested_levels(quantiles, calibration.levels if cqr else ())
    horizon = forecast.sizes["horizon"]
    if calibration.horizon != horizon:
        msg = (f"The calibration has {calibration.horizon} steps but the forecast {horizon}; "
               "calibrate the same run.")
        raise ValueError(msg)
    point = forecast[FORECAST]
    period = (f"{calibration.period[0]} to {calibration.period[1]}, "
              f"{min(calibration.n_points)}-{max(calibration.n_points)} points per step")
    if cqr:
        if HEAD_QUANTILE not in forecast:
            msg = ("CQR needs the quantile head's forecast: forecast with "
                   "gler.forecast.predict(run, stack, head=True).")
            raise ValueError(msg)
        head = forecast[HEAD_QUANTILE]
        calibrated = calibration.apply(head.values.reshape(*head.shape[:3], -1))
        pick = [calibration.levels.index(q) for q in levels]
        values = xr.DataArray(calibrated[pick].reshape(len(levels), *point.shape).astype(
            point.dtype), dims=("quantile", *point.dims), coords=point.coords)
        comment = ("conformalised quantile regression (Romano et al. 2019): the central "
                   "intervals of the run's quantile head widened by the conformal quantile of "
                   f"their validation scores, per step, and nested ({period})")
        forecast = forecast.drop_vars([HEAD_QUANTILE, "head_quantile"])
    else:
        offsets = calibration.offsets(levels)  # [Q, H]
        shift = xr.DataArray(offsets, dims=("quantile", "horizon"))
        values = (point + shift).transpose("quantile", *point.dims)
        comment = (f"split-conformal: forecast plus the conformal quantile of the signed "
                   f"validation residuals of each step ({period})")
    values.attrs = {
        "units": "mm", "long_name": "quantile of the forecast cumulative surface displacement",
        "comment": comment,
    }
    out = forecast.assign({QUANTILE: values})
    out = out.assign_coords(quantile=("quantile", np.asarray(levels), {
        "long_name": "quantile level (probability of non-exceedance)", "units": "1"}))
    out.attrs["calibration_period"] = f"{calibration.period[0]}/{calibration.period[1]}"
    return out


def interval_bounds(levels: Sequence[float]) -> list[float]:
    """The quantile levels that bound the central intervals at ``levels``, sorted.

    Example
    -------
    >>> interval_bounds((0.8, 0.9))
    [0.05, 0.1, 0.9, 0.95]
    """
    return sorted({round(b, 12) for level in levels for b in (0.5 - level / 2, 0.5 + level / 2)})


def interval_coverage(forecast: xr.Dataset, stack: xr.Dataset,
                      levels: Sequence[float] = (0.8, 0.9)) -> pd.DataFrame:
    """Coverage (%) of the central intervals at ``levels`` of ``forecast`` (with
    ``forecast_quantile`` at their bounds, :func:`predict_quantiles`) on the observed
    targets of ``stack``: rows the nominal level in %, columns ``step 1`` ... ``step H``
    (the layout of :func:`gler.scoring.coverage_table`).

    Raises
    ------
    ValueError
        If the forecast lacks a bound of an interval, or no target is observed.

    Example
    -------
    >>> fc = predict_quantiles(run, stack, (0.05, 0.95), issues="test")  # doctest: +SKIP
    >>> interval_coverage(fc, stack, (0.9,))  # doctest: +SKIP
    """
    rows = {nominal: {f"step {h + 1}": 100 * v
                      for h, v in enumerate(inside.sum(axis=0) / observed.sum(axis=0))}
            for nominal, (inside, observed) in _inside_per_issue(forecast, stack, levels).items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "nominal %"
    return table


def coverage_interval(forecast: xr.Dataset, stack: xr.Dataset,
                      levels: Sequence[float] = (0.8, 0.9), *, confidence: float = 0.95,
                      resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Bootstrap confidence interval of :func:`interval_coverage`, resampling issue dates.

    The targets of one date are not independent: on InSAR they share that acquisition's
    atmospheric delay, so a year's coverage varies about as much as that of its few dozen
    dates, not of its thousands of pixels. The issue dates are resampled in blocks of
    consecutive dates, the pixels of a date staying together (:func:`date_bootstrap`).

    Returns
    -------
    pandas.DataFrame
        Rows (nominal %, ``low``/``high``), columns ``step 1`` ... ``step H``, in %.

    Raises
    ------
    ValueError
        As :func:`interval_coverage`; or if a step has fewer than two issue dates with an
        observed target.

    Example
    -------
    >>> coverage_interval(fc, stack, (0.9,))  # doctest: +SKIP
    """
    rows = {}
    for nominal, (inside, observed) in _inside_per_issue(forecast, stack, levels).items():
        bounds = {}
        for h in range(inside.shape[1]):
            bounds[f"step {h + 1}"] = tuple(100 * b for b in date_bootstrap(
                inside[:, h], observed[:, h], confidence=confidence, resamples=resamples,
                seed=seed, step=h + 1))
        for k, bound in enumerate(("low", "high")):
            rows[(nominal, bound)] = {step: pair[k] for step, pair in bounds.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = table.index.set_names(["nominal %", "bound"])
    table.attrs["confidence"] = confidence
    return table


def date_bootstrap(inside: np.ndarray, observed: np.ndarray, *, block: int | None = None,
                   confidence: float = 0.95, resamples: int = 2000, seed: int = 0,
                   step: int = 1) -> tuple[float, float]:
    """Percentile bootstrap interval of the share ``sum(inside) / sum(observed)`` of targets
    inside an interval, from their counts per issue date ``[I]`` (in date order).

    The dates with an observed target are cut into consecutive blocks of ``block`` dates, and
    the blocks are resampled with replacement (a non-overlapping block bootstrap, Carlstein
    1986; paired, :func:`scipy.stats.bootstrap`). Blocks, because forecasts issued on nearby
    dates err alike (a late thaw misleads several in a row): single dates would understate the
    uncertainty. The default ``block`` is ``ceil(n ** (1/3))`` of the ``n`` dates (Hall,
    Horowitz & Jing 1995), at most ``n // 2``; ``block=1`` resamples single dates.

    Raises
    ------
    ValueError
        If fewer than two dates have an observed target (naming ``step``).

    References
    ----------
    Carlstein, E. (1986). The use of subseries values for estimating the variance of a general
    statistic from a stationary sequence. Annals of Statistics 14(3), 1171-1179.

    Hall, P., Horowitz, J. L., Jing, B.-Y. (1995). On blocking rules for the bootstrap with
    dependent data. Biometrika 82(3), 561-574.

    Example
    -------
    >>> low, high = date_bootstrap(np.array([8, 9, 7, 10, 6, 8, 9, 7]), np.full(8, 10))
    >>> bool(0.6 <= low < 0.8 < high <= 1.0)
    True
    """
    from scipy.stats import bootstrap

    def share(inside: np.ndarray, observed: np.ndarray, axis: int = -1) -> np.ndarray:
        return inside.sum(axis=axis) / observed.sum(axis=axis)

    dates = observed > 0
    n = int(dates.sum())
    if n < 2:
        msg = (f"Step {step} has {n} issue date with an observed target; a bootstrap over "
               "dates needs at least two.")
        raise ValueError(msg)
    block = max(1, min(block or math.ceil(round(n ** (1 / 3), 9)), n // 2))
    group = np.arange(n) // block
    blocks = (np.bincount(group, weights=inside[dates]),
              np.bincount(group, weights=observed[dates]))
    result = bootstrap(blocks, share, paired=True, vectorized=True, n_resamples=resamples,
                       method="percentile", confidence_level=confidence,
                       rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _inside_per_issue(forecast: xr.Dataset, stack: xr.Dataset,
                      levels: Sequence[float]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per level (nominal %): the observed targets inside its central interval and all
    observed targets, counted per issue date and step (``[I, H]`` each)."""
    have = [round(float(q), 12) for q in forecast["quantile"].values]
    obs = observed_targets(forecast, stack)
    if not np.isfinite(obs).any():
        msg = "No observed target in the forecast's target dates: nothing to cover."
        raise ValueError(msg)
    observed = np.isfinite(obs)
    out = {}
    for level in levels:
        bounds = tuple(interval_bounds((level,)))
        missing = [b for b in bounds if b not in have]
        if missing:
            msg = (f"The {level:.0%} interval needs the quantiles {bounds[0]:g} and "
                   f"{bounds[1]:g}; the forecast has {', '.join(f'{q:g}' for q in have)}.")
            raise ValueError(msg)
        lo, hi = (flat(forecast.sel(quantile=b, method="nearest"), QUANTILE) for b in bounds)
        inside = observed & (obs >= lo) & (obs <= hi)
        out[round(100 * level)] = (inside.sum(axis=2), observed.sum(axis=2))
    return out


def requested_levels(quantiles: Sequence[float] | str,
                     head: Sequence[float] = ()) -> tuple[float, ...]:
    """The levels asked for, checked against a quantile head's levels ``head`` (``()``: none).

    ``"head"`` means all of the head's levels. A run with a head gives its own levels only
    (CQR calibrates its central intervals, not levels in between).

    Raises
    ------
    ValueError
        For invalid levels, ``"head"`` without a head (naming the command that trains one),
        or levels the head does not forecast.

    Example
    -------
    >>> requested_levels("head", (0.1, 0.5, 0.9))
    (0.1, 0.5, 0.9)
    """
    if isinstance(quantiles, str) and quantiles.strip() == "head":
        if not head:
            msg = (f"--quantiles head (the levels of a quantile head) needs a run with a "
                   f"quantile head; this one gives point forecasts. Train one with "
                   f"{TRAIN_QUANTILES}, or give levels, e.g. 0.05,0.5,0.95.")
            raise ValueError(msg)
        return tuple(head)
    levels = check_quantiles(quantiles)
    missing = [q for q in levels if q not in head]
    if head and missing:
        msg = (f"--quantiles: this run's quantile head forecasts the levels "
               f"{','.join(f'{q:g}' for q in head)}, not {','.join(f'{q:g}' for q in missing)}; "
               "ask for some of its levels (or 'head' for all of them).")
        raise ValueError(msg)
    return levels


def predict_quantiles(run: Run | str | Path, stack: xr.Dataset,
                      quantiles: Sequence[float] | str, *,
                      issues: str | Sequence | None = None,
                      calibration: Calibration | QuantileCalibration | None = None,
                      device: str = "auto", batch_size: int | None = None) -> xr.Dataset:
    """:func:`gler.forecast.predict` plus calibrated quantiles (see :func:`add_quantiles`).

    A run with a quantile head gives its own quantiles calibrated by CQR
    (:func:`calibrate_quantiles`), at some or all (``"head"``) of its levels; any other run
    gives split-conformal quantiles around its point forecast (:func:`calibrate`). The levels
    are checked before any forecast is made; without ``calibration`` the run is calibrated on
    its validation period of ``stack`` (:func:`calibration_for`).

    Example
    -------
    >>> fc = predict_quantiles(run, stack, (0.1, 0.9), issues="last")  # doctest: +SKIP
    >>> fc.forecast_quantile.sel(quantile=0.9)  # doctest: +SKIP
    """
    run = run if isinstance(run, Run) else load_run(run)
    if calibration is None:
        requested_levels(quantiles, run.quantiles)
        calibration = calibration_for(run, stack, device=device, batch_size=batch_size)
    cqr = isinstance(calibration, QuantileCalibration)
    levels = requested_levels(quantiles, calibration.levels if cqr else ())
    if cqr:
        calibration.corrections()  # too few points: say so before forecasting
    else:
        calibration.offsets(levels)
    forecast = predict(run, stack, issues=issues, device=device, batch_size=batch_size,
                       head=cqr)
    return add_quantiles(forecast, calibration, levels)
