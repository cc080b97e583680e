"""Probabilistic scores of calibrated forecasts: CRPS, pinball loss, coverage, width, PIT.

The predictive distribution of a forecast is the point forecast plus the calibration's
conformal residual quantiles (:mod:`gler.conformal`) at :data:`CRPS_LEVELS`; CRPS and pinball
losses come from :mod:`scoringrules`. Every score is per horizon step and averaged over
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

import numpy as np
import scoringrules as sr

from gler.conformal import LEVELS, Calibration

#: Quantile levels of the predictive distribution for CRPS and PIT: (i - 0.5) / 50.
CRPS_LEVELS = tuple((np.arange(50) + 0.5) / 50)
#: Levels of the reported pinball loss (the bounds of the scored intervals, and the median).
PINBALL_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
PIT_BINS = 10


def _mean(values: list[float], weights: list[int]) -> float:
    weights = np.asarray(weights, dtype=float)
    return float(np.dot(values, weights) / weights.sum()) if weights.sum() else float("nan")


def probabilistic_scores(pred: np.ndarray, obs: np.ndarray, calibration: Calibration, *,
                         mask: np.ndarray | None = None,
                         levels: tuple[float, ...] = LEVELS) -> dict:
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

    Returns
    -------
    dict
        ``crps``, ``pinball`` (mm, means over the targets), their ``*_per_horizon`` lists,
        ``coverage`` and ``width`` (level as a string -> list per step), ``pit_histogram``
        (fraction of targets per tenth of [0, 1], all steps) and ``n_targets`` per step.
    """
    if mask is None:
        mask = np.isfinite(pred) & np.isfinite(obs)
    crps_levels, pin_levels = np.asarray(CRPS_LEVELS), np.asarray(PINBALL_LEVELS)
    members = calibration.offsets(CRPS_LEVELS)  # [M, H]
    pin_offsets = calibration.offsets(PINBALL_LEVELS)
    bounds = {level: calibration.interval(level) for level in levels}
    crps, pinball, counts, pit = [], [], [], []
    coverage = {f"{lv:g}": [] for lv in levels}
    width = {f"{lv:g}": [] for lv in levels}
    for h in range(pred.shape[1]):
        keep = mask[:, h]
        p, o = pred[:, h][keep], obs[:, h][keep]
        counts.append(int(keep.sum()))
        fct = p[:, None] + members[:, h][None, :]
        crps.append(float(np.mean(sr.crps_quantile(o, fct, crps_levels))) if len(o) else np.nan)
        quant = p[:, None] + pin_offsets[:, h][None, :]
        pinball.append(float(np.mean(sr.quantile_score(o[:, None], quant, pin_levels)))
                       if len(o) else np.nan)
        pit.append(np.sum(fct <= o[:, None], axis=1) / fct.shape[1])
        for level, (lo, hi) in bounds.items():
            inside = (o >= p + lo[h]) & (o <= p + hi[h])
            coverage[f"{level:g}"].append(float(inside.mean()) if len(o) else np.nan)
            width[f"{level:g}"].append(float(hi[h] - lo[h]))
    hist, _ = np.histogram(np.concatenate(pit), bins=PIT_BINS, range=(0.0, 1.0))
    return {
        "crps": _mean(crps, counts), "crps_per_horizon": crps,
        "pinball": _mean(pinball, counts), "pinball_per_horizon": pinball,
        "coverage": coverage, "width": width,
        "pit_histogram": (hist / max(hist.sum(), 1)).tolist(),
        "n_targets": counts,
    }
