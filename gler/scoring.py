"""Probabilistic scores of calibrated forecasts: CRPS, pinball loss, coverage, width, PIT.

The predictive distribution of a forecast is given by its quantiles at :data:`CRPS_LEVELS`:
the point forecast plus the calibration's conformal residual quantiles
(:func:`probabilistic_scores`), or, for a run with a quantile head, its CQR-calibrated
quantiles (:mod:`gler.conformal`) interpolated linearly in the level between the head's
levels, with exponential tails beyond its outermost ones (:func:`interpolation`, the
distribution the alerts of :mod:`gler.alerts` read; :func:`quantile_scores`). CRPS
and pinball losses come from :mod:`scoringrules`. The scores are computed where the evaluation
runs: with NumPy on a CPU, with PyTorch on a GPU (one implementation for both through
``array_api_compat``), in float64 either way. Every score is per horizon step and averaged over
steps; scoring against the clean signal (QTR-sim) only changes what ``obs`` is.

Example
-------
>>> import numpy as np
>>> from gler.conformal import residual_calibration
>>> rng = np.random.default_rng(0)
>>> cal = residual_calibration(np.zeros((50, 2, 40)), rng.normal(size=(50, 2, 40)))
>>> s = probabilistic_scores(np.zeros((50, 2, 40)), rng.normal(size=(50, 2, 40)), cal)
>>> abs(s["coverage"]["0.9"][0] - 0.9) < 0.03
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scoringrules as sr
import torch
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from gler.conformal import LEVELS, Calibration, date_bootstrap

#: Quantile levels of the predictive distribution for CRPS and PIT: (i - 0.5) / 50.
CRPS_LEVELS = tuple((np.arange(50) + 0.5) / 50)
#: Levels of the reported pinball loss (the bounds of the scored intervals, and the median).
PINBALL_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
PIT_BINS = 10
#: Targets scored at once (blocks of whole issue dates): bounds the memory of the ``[n, 50]``
#: members and their temporaries, about 0.5 GB, on a CPU as on a GPU.
SCORE_BLOCK = 1 << 18
#: Version of the probabilistic scores, part of the key of a cached evaluation
#: (:class:`gler.experiment.Experiment`): 2 gave quantile forecasts exponential tails, 3 added
#: the coverage's interval over dates, 4 resamples those dates in blocks.
SCORES_VERSION = 4


def _mean(values: list[float], weights: list[int]) -> float:
    weights = np.asarray(weights, dtype=float)
    return float(np.dot(values, weights) / weights.sum()) if weights.sum() else float("nan")


Array = np.ndarray | torch.Tensor


def on_device(values: Array, device: str | torch.device) -> Array:
    """``values`` in float64 where scores are computed for ``device``: a NumPy array for the
    CPU, a tensor on any other device."""
    device = torch.device(device)
    if device.type == "cpu":
        return np.asarray(values, dtype=np.float64)
    return torch.as_tensor(values, dtype=torch.float64, device=device)


def _numpy(values: Array) -> np.ndarray:
    return values.cpu().numpy() if torch.is_tensor(values) else values


def _backend(values: Array) -> str:
    return "torch" if torch.is_tensor(values) else "numpy"


def _pit(fct: Array, obs: Array) -> np.ndarray:
    """PIT of ``obs`` under sorted quantile members ``fct`` [n, M] at :data:`CRPS_LEVELS`:
    the distribution function interpolated linearly between members (continuous, so a
    calibrated forecast gives a flat histogram at any bin width), 0 or 1 beyond them."""
    xp, M = array_namespace(fct, obs), fct.shape[1]
    k = xp.sum(fct <= obs[:, None], axis=1)  # members at or below obs
    inner = xp.clip(k, 1, M - 1)[:, None]
    lo = xp.take_along_axis(fct, inner - 1, axis=1)[:, 0]
    hi = xp.take_along_axis(fct, inner, axis=1)[:, 0]
    frac = xp.clip((obs - lo) / xp.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
    pit = (inner[:, 0] - 0.5 + frac) / M
    return _numpy(xp.where(k == 0, 0.0, xp.where(k == M, 1.0, pit)))


def probabilistic_scores(pred: np.ndarray, obs: np.ndarray, calibration: Calibration, *,
                         mask: np.ndarray | None = None, levels: tuple[float, ...] = LEVELS,
                         device: str | torch.device = "cpu") -> dict:
    """CRPS, pinball loss, interval coverage and width and the PIT histogram, per step.

    Parameters
    ----------
    pred, obs
        Point forecasts and observations (or the clean signal), ``[I, H, P]`` mm.
    calibration
        The run's :class:`~gler.conformal.Calibration` (from its validation period).
    mask
        Targets to score, ``[I, H, P]`` bool; default where both are finite.
    levels
        Central interval levels whose coverage and mean width are reported.
    device
        Where the members are built and scored (``"cuda"``: on the GPU).

    Returns
    -------
    dict
        ``crps``, ``pinball`` (mm, means over the targets), their ``*_per_horizon`` lists,
        ``coverage`` and ``width`` (level as a string -> list per step),
        ``coverage_interval`` (level -> per step ``[low, high]``, the 95 % bootstrap interval
        over issue dates, :func:`gler.conformal.date_bootstrap`), ``pit_histogram``
        (fraction of targets per tenth of [0, 1], all steps) and ``n_targets`` per step.
    """
    if mask is None:
        mask = np.isfinite(pred) & np.isfinite(obs)
    members = on_device(calibration.offsets(CRPS_LEVELS), device)  # [M, H]
    pin_offsets = on_device(calibration.offsets(PINBALL_LEVELS), device)
    bounds = {level: calibration.interval(level) for level in levels}

    def step(h: int, keep: np.ndarray) -> tuple:
        p = on_device(pred[:, h][keep], device)
        intervals = {level: (p + float(lo[h]), p + float(hi[h]), float(hi[h] - lo[h]))
                     for level, (lo, hi) in bounds.items()}
        return (p[:, None] + members[:, h][None, :], p[:, None] + pin_offsets[:, h][None, :],
                intervals)

    return _scores(step, obs, mask, pred.shape[1], device)


def quantile_scores(quantiles: np.ndarray, quantile_levels: Sequence[float], obs: np.ndarray,
                    *, mask: np.ndarray | None = None, levels: tuple[float, ...] = LEVELS,
                    device: str | torch.device = "cpu") -> dict:
    """:func:`probabilistic_scores` of quantile forecasts, e.g. a quantile head's after CQR.

    Parameters
    ----------
    quantiles
        Non-crossing quantile forecasts ``[Q, I, H, P]`` mm at ``quantile_levels`` (at least
        two, increasing); the quantiles at other levels (the CRPS members, the pinball levels,
        the interval bounds) are interpolated linearly in the level, with exponential tails
        beyond the outermost levels (:func:`interpolation`).
    obs
        Observations (or the clean signal), ``[I, H, P]`` mm.
    mask, levels, device
        As in :func:`probabilistic_scores`; default ``mask``: where every quantile and
        ``obs`` are finite.

    Returns
    -------
    dict
        As :func:`probabilistic_scores`; ``width`` is the mean width over the targets.

    Example
    -------
    >>> from scipy.stats import norm
    >>> rng = np.random.default_rng(0)
    >>> q = np.stack([np.full((50, 2, 40), norm.ppf(p)) for p in (0.05, 0.1, 0.5, 0.9, 0.95)])
    >>> s = quantile_scores(q, (0.05, 0.1, 0.5, 0.9, 0.95), rng.normal(size=(50, 2, 40)))
    >>> abs(s["coverage"]["0.8"][0] - 0.8) < 0.03
    True
    """
    if mask is None:
        mask = np.isfinite(quantiles).all(axis=0) & np.isfinite(obs)
    at = {"crps": interpolation(quantile_levels, CRPS_LEVELS),
          "pinball": interpolation(quantile_levels, PINBALL_LEVELS),
          "bounds": interpolation(quantile_levels, [b for lv in levels
                                                    for b in ((1 - lv) / 2, (1 + lv) / 2)])}

    def step(h: int, keep: np.ndarray) -> tuple:
        q = on_device(quantiles[:, :, h][:, keep].T, device)  # [n, Q]
        b = at["bounds"](q)
        intervals = {level: (b[:, 2 * i], b[:, 2 * i + 1],
                             float((b[:, 2 * i + 1] - b[:, 2 * i]).mean()) if len(b) else np.nan)
                     for i, level in enumerate(levels)}
        return at["crps"](q), at["pinball"](q), intervals

    return _scores(step, obs, mask, quantiles.shape[2], device)


def interpolation(levels: Sequence[float], at: Sequence[float]) -> Callable[[Array], Array]:
    """The map from quantiles ``[n, Q]`` at ``levels`` to quantiles ``[n, len(at)]`` at the
    levels ``at`` (NumPy arrays or, on their device, float64 tensors): linear in the level
    between two neighbouring levels, exact at the levels themselves, and beyond the outermost
    ones the exponential tails of :func:`gler.alerts.quantile_cdf` (below ``q_1``:
    ``q_1 + b log(a / p_1)`` with ``b = p_1 (q_2 - q_1) / (p_2 - p_1)``, mirrored above
    ``q_Q``). It is that CDF's inverse, so scores and alerts read the same predictive
    distribution; non-decreasing when the input is.

    Example
    -------
    >>> interpolation((0.1, 0.5, 0.9), (0.05, 0.3, 0.9))(np.array([[-1.0, 0.0, 1.0]])).round(4)
    array([[-1.1733, -0.5   ,  1.    ]])
    """
    levels, at = np.asarray(levels, dtype=float), np.asarray(at, dtype=float)
    if len(levels) < 2:
        msg = f"Interpolating quantiles needs at least two levels; got {levels.tolist()}."
        raise ValueError(msg)
    seg = np.clip(np.searchsorted(levels, at, side="right") - 1, 0, len(levels) - 2)
    weight = (at - levels[seg]) / (levels[seg + 1] - levels[seg])
    low, high = at < levels[0], at > levels[-1]
    low_decay = np.log(at[low] / levels[0])  # <= 0
    high_decay = np.log((1.0 - at[high]) / (1.0 - levels[-1]))  # <= 0

    def apply(q: Array) -> Array:
        xp = array_namespace(q)
        c = [xp.asarray(a, device=device_of(q))
             for a in (seg, weight, low, high, low_decay, high_decay)]
        out = q[:, c[0]] * (1.0 - c[1]) + q[:, c[0] + 1] * c[1]
        below, above = tail_scales(q, levels)
        out[:, c[2]] = q[:, :1] + below[:, None] * c[4]
        out[:, c[3]] = q[:, -1:] - above[:, None] * c[5]
        return out

    return apply


def tail_scales(quantiles: Array, levels: Sequence[float]) -> tuple[Array, Array]:
    """The scales (mm) of the exponential tails below the lowest and above the highest of the
    quantiles ``[n, Q]`` at ``levels``: each tail's probability mass times the outermost
    segment's width over its step of level, so the tail's density starts at the segment's."""
    q, p = quantiles, [float(level) for level in levels]
    return (p[0] * (q[:, 1] - q[:, 0]) / (p[1] - p[0]),
            (1.0 - p[-1]) * (q[:, -1] - q[:, -2]) / (p[-1] - p[-2]))


def _row_blocks(keep: np.ndarray, size: int) -> list[slice]:
    """Consecutive blocks of the issue rows of ``keep`` ``[I, P]``, each with at most ``size``
    kept targets unless one row alone has more."""
    blocks, start, count = [], 0, 0
    for row, n in enumerate(keep.sum(axis=1).tolist()):
        if count and count + n > size:
            blocks.append(slice(start, row))
            start, count = row, 0
        count += n
    return [*blocks, slice(start, len(keep))]


def _pooled(parts: list[tuple[float, int]]) -> float:
    """The mean over the targets from per-block ``(mean, count)``: one block's own mean."""
    if len(parts) == 1:
        return parts[0][0]
    total = sum(n for _, n in parts)
    return sum(m * n for m, n in parts if n) / total if total else float("nan")


def _scores(step: Callable[[int, np.ndarray], tuple], obs: np.ndarray, mask: np.ndarray,
            horizon: int, device: str | torch.device) -> dict:
    """The scores of :func:`probabilistic_scores` from ``step(h, keep)``: the CRPS members
    ``[n, M]``, the pinball quantiles ``[n, len(PINBALL_LEVELS)]`` and per interval level its
    bounds ``[n]`` (arrays for ``device``) and width of the targets ``keep`` of step ``h``,
    asked for blocks of whole issue dates of at most :data:`SCORE_BLOCK` targets."""
    crps_levels = on_device(CRPS_LEVELS, device)
    pin_levels = on_device(PINBALL_LEVELS, device)
    crps, pinball, counts, pit = [], [], [], []
    coverage: dict[str, list] = {}
    interval: dict[str, list] = {}
    width: dict[str, list] = {}
    for h in range(horizon):
        keep = mask[:, h]
        counts.append(int(keep.sum()))
        crps_parts, pin_parts, hits, widths = [], [], {}, {}
        for rows in _row_blocks(keep, SCORE_BLOCK):
            part = np.zeros_like(keep)
            part[rows] = keep[rows]
            o = on_device(obs[:, h][part], device)
            fct, quant, intervals = step(h, part)
            backend, n = _backend(o), len(o)
            crps_parts.append((float(sr.crps_quantile(o, fct, crps_levels, backend=backend)
                                     .mean()) if n else np.nan, n))
            pin_parts.append((float(sr.quantile_score(o[:, None], quant, pin_levels,
                                                      backend=backend).mean())
                              if n else np.nan, n))
            pit.append(_pit(fct, o))
            for level, (lo, hi, wide) in intervals.items():
                hits.setdefault(level, []).append(_numpy((o >= lo) & (o <= hi)))
                widths.setdefault(level, []).append((wide, n))
        crps.append(_pooled(crps_parts))
        pinball.append(_pooled(pin_parts))
        issue = np.nonzero(keep)[0]  # the issue date of each kept target
        per_date = np.bincount(issue, minlength=keep.shape[0])
        for level, parts in hits.items():
            inside = np.concatenate(parts)
            coverage.setdefault(f"{level:g}", []).append(float(inside.mean()) if len(inside)
                                                         else np.nan)
            interval.setdefault(f"{level:g}", []).append(
                list(date_bootstrap(np.bincount(issue, weights=inside, minlength=len(per_date)),
                                    per_date, step=h + 1))
                if (per_date > 0).sum() >= 2 else [np.nan, np.nan])
            width.setdefault(f"{level:g}", []).append(_pooled(widths[level]))
    hist, _ = np.histogram(np.concatenate(pit), bins=PIT_BINS, range=(0.0, 1.0))
    return {
        "crps": _mean(crps, counts), "crps_per_horizon": crps,
        "pinball": _mean(pinball, counts), "pinball_per_horizon": pinball,
        "coverage": coverage, "coverage_interval": interval, "width": width,
        "pit_histogram": (hist / max(hist.sum(), 1)).tolist(),
        "n_targets": counts,
    }


def _scores_of(entry: dict, against: str) -> dict | None:
    return (entry.get("clean") or {}).get("probabilistic") if against == "clean" else entry.get(
        "probabilistic")


def coverage_table(reports: dict[str, dict], model: str = "gler",
                   levels: Sequence[float] = (0.8, 0.9), against: str = "obs", *,
                   bounds: bool = False) -> pd.DataFrame:
    """Coverage (%) of ``model``'s intervals per region, level and step, from the reports; with
    ``bounds``, the 95 % interval of each over the issue dates instead (the layout of
    :func:`gler.conformal.coverage_interval`, for :func:`nominal_inside`).

    Parameters
    ----------
    reports
        ``{region: report}`` of :func:`gler.evaluate.evaluate` with ``probabilistic=True``.
    model
        Report label of the model.
    levels
        Interval levels.
    against
        ``"obs"`` (the noisy InSAR) or ``"clean"`` (QTR-sim's clean signal).

    Returns
    -------
    pandas.DataFrame
        Index (region, nominal %) or, with ``bounds``, (region, nominal %, bound: ``low`` or
        ``high``); columns ``step 1`` ... ``step H``; values in %.
    """
    rows = {}
    for region, report in reports.items():
        scores = _scores_of(report["models"][model], against)
        for level in levels:
            key, nominal = f"{level:g}", round(100 * level)
            series = ({(region, nominal, bound): [pair[k] for pair in
                                                  scores["coverage_interval"][key]]
                       for k, bound in enumerate(("low", "high"))} if bounds
                      else {(region, nominal): scores["coverage"][key]})
            rows.update({row: {f"step {h + 1}": 100 * v for h, v in enumerate(values)}
                         for row, values in series.items()})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = table.index.set_names(["region", "nominal %", "bound"][:table.index.nlevels])
    return table


def within_target(table: pd.DataFrame, tolerance: float = 2.0) -> pd.Series:
    """Per row of :func:`coverage_table`: whether every step lies within ``tolerance``
    percentage points of nominal."""
    nominal = table.index.get_level_values("nominal %").to_numpy()[:, None]
    return pd.Series((np.abs(table.to_numpy() - nominal) <= tolerance).all(axis=1),
                     index=table.index, name=f"within ±{tolerance:g} pp")


def nominal_inside(interval: pd.DataFrame) -> pd.Series:
    """Per row of :func:`gler.conformal.coverage_interval` tables (index ``..., nominal %,
    bound``): whether the nominal level lies inside the confidence interval at every step,
    i.e. whether the coverage is consistent with nominal given the dates sampled (a step
    without an interval, from fewer than two dates, counts as outside)."""
    low, high = interval.xs("low", level="bound"), interval.xs("high", level="bound")
    nominal = low.index.get_level_values("nominal %").to_numpy()[:, None]
    return pd.Series(((low.to_numpy() <= nominal) & (nominal <= high.to_numpy())).all(axis=1),
                     index=low.index, name="nominal in CI")


def coverage_text(coverage: pd.DataFrame, interval: pd.DataFrame) -> pd.DataFrame:
    """``coverage`` (:func:`coverage_table` layout) with its confidence interval per cell,
    as text ``"76.7 (71.4-82.0)"`` (%), and the :func:`nominal_inside` column."""
    low, high = (interval.xs(b, level="bound").reindex(coverage.index) for b in ("low", "high"))
    text = pd.DataFrame({step: [f"{c:.1f} ({lo:.1f}-{hi:.1f})" for c, lo, hi in
                                zip(coverage[step], low[step], high[step], strict=True)]
                         for step in coverage.columns}, index=coverage.index)
    return text.join(nominal_inside(interval))


def coverage_odds(draws: dict[str, pd.DataFrame], tolerance: float = 2.0) -> pd.DataFrame:
    """Per region, from coverages of simulated periods (``{region: table}``, one row per
    period, one column per nominal %, e.g. :func:`gler.data.qtrsim.noise.noise_coverage`): the
    mean and standard deviation of the coverage (%) at each level, the share of periods within
    ``tolerance`` percentage points of nominal at each level, and at all levels at once."""
    rows = {}
    for region, table in draws.items():
        within = table.sub(table.columns.to_numpy(dtype=float), axis=1).abs().le(tolerance)
        row = {}
        for nominal in table.columns:
            row[(f"{nominal} %", "mean")] = table[nominal].mean()
            row[(f"{nominal} %", "std")] = table[nominal].std()
            row[(f"{nominal} %", f"within ±{tolerance:g} pp")] = within[nominal].mean()
        row[("all levels", f"within ±{tolerance:g} pp")] = within.all(axis=1).mean()
        rows[region] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table.index.name = "region"
    return table


def score_table(reports: dict[str, dict], score: str = "crps",
                against: str = "obs") -> pd.DataFrame:
    """``score`` (``crps`` or ``pinball``, mm) of every model (rows) per region (columns),
    with the mean over regions, sorted by it."""
    table = pd.DataFrame({region: {label: _scores_of(entry, against)[score]
                                   for label, entry in report["models"].items()
                                   if _scores_of(entry, against)}
                          for region, report in reports.items()})
    if table.shape[1] > 1:
        table["mean"] = table.mean(axis=1)
    return table.sort_values(table.columns[-1])


def wins_sentence(table: pd.DataFrame, model: str = "gler", score: str = "CRPS") -> str:
    """Where ``model`` has the lowest score of :func:`score_table` and who beats it elsewhere."""
    regions = [c for c in table.columns if c != "mean"]
    best = {r: table[r].idxmin() for r in regions}
    won = [r for r in regions if best[r] == model]
    lost = [f"{r} ({best[r]}: {table.loc[best[r], r]:.2f} vs {table.loc[model, r]:.2f} mm)"
            for r in regions if best[r] != model]
    parts = []
    if won:
        parts.append(f"{model} has the lowest {score} in {', '.join(won)}")
    if lost:
        parts.append(f"it is beaten in {', '.join(lost)}" if won else
                     f"{model} is beaten in every region: {', '.join(lost)}")
    return "; ".join(parts) + "."
