"""Early-warning alerts: the probability that settlement (or heave) exceeds a threshold.

For an issue date ``t`` and ``k`` steps ahead, the alert probability of a pixel is
``P(y(t+k) - y(t) <= -T)`` for settlement (``P(... >= T)`` for heave), where ``y(t)`` is the
observed displacement at the issue date and ``y(t+k)`` follows the run's calibrated predictive
distribution at step ``k`` (:mod:`gler.conformal`): the point forecast plus the split-conformal
residual distribution of the step, the same for every pixel (:func:`exceedance_probability`),
or for a run with a quantile head its own CQR-calibrated quantiles, a distribution per pixel
(:func:`quantile_exceedance_probability` through :func:`quantile_cdf`). Verification compares
the probabilities with what happened (the observed change, or on QTR-sim the clean one): Brier
score with Murphy's decomposition, reliability table, ROC AUC, precision and recall at a chosen
probability. :func:`save_alerts` writes the maps as CF NetCDF or, for GIS, GeoTIFF.

Example
-------
>>> alerts = alert_map("runs/beiluhe-gler", stack, threshold_mm=5, steps=6)  # doctest: +SKIP
>>> alerts.alert_probability.isel(issue_time=-1).plot()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scoringrules as sr
import xarray as xr
from scipy.stats import rankdata

from gler.conformal import (
    QUANTILE,
    Calibration,
    QuantileCalibration,
    add_quantiles,
    calibration_for,
    flat,
    observed_targets,
)
from gler.data.model import DISPLACEMENT, stack_crs, with_grid_mapping
from gler.forecast import FORECAST, NETCDF_SUFFIXES, predict
from gler.run import Run, load_run
from gler.scoring import tail_scales

PROBABILITY = "alert_probability"
CLEAN = "displacement_clean"
DIRECTIONS = ("settlement", "heave")
#: Thresholds outside this range (mm) are taken for a unit mistake (metres, micrometres).
THRESHOLD_RANGE_MM = (0.1, 1000.0)
GEOTIFF_SUFFIXES = (".tif", ".tiff")
#: Attributes of the alert dataset kept as GeoTIFF metadata.
GEOTIFF_TAGS = ("title", "threshold_mm", "steps", "direction", "calibration",
                "calibration_period", "history")


def check_alert(threshold_mm: float, steps: int, horizon: int, direction: str) -> None:
    """Refuse a threshold of the wrong sign or unit, an unknown direction (:func:`check_event`)
    or ``steps`` outside ``1..horizon``, each with one line naming the flag.

    Raises
    ------
    ValueError
        As above.

    Example
    -------
    >>> check_alert(0.01, 3, 6, "settlement")
    Traceback (most recent call last):
    ...
    ValueError: --threshold-mm 0.01 is below 0.1 mm: give millimetres (10 mm, not 0.01 m).
    """
    check_event(threshold_mm, direction)
    if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= horizon:
        msg = (f"--steps {steps}: the run forecasts {horizon} steps ahead; give --steps "
               f"between 1 and {horizon}.")
        raise ValueError(msg)


def check_event(threshold_mm: float, direction: str) -> None:
    """Refuse a threshold of the wrong sign or unit or an unknown direction, each with one line
    naming the flag.

    Raises
    ------
    ValueError
        As above.
    """
    if direction not in DIRECTIONS:
        msg = f"--direction {direction!r}: use one of {', '.join(DIRECTIONS)}."
        raise ValueError(msg)
    if not np.isfinite(threshold_mm) or threshold_mm <= 0:
        msg = (f"--threshold-mm {threshold_mm:g}: give the magnitude in mm as a positive "
               "number; the sign comes from --direction (settlement or heave).")
        raise ValueError(msg)
    low, high = THRESHOLD_RANGE_MM
    if threshold_mm < low:
        msg = (f"--threshold-mm {threshold_mm:g} is below {low:g} mm: give millimetres "
               f"(10 mm, not 0.01 m).")
        raise ValueError(msg)
    if threshold_mm >= high:
        msg = (f"--threshold-mm {threshold_mm:g} is {high:g} mm or more: give millimetres "
               "(10 mm, not 10000 µm).")
        raise ValueError(msg)


def _event_probability(cdf: Callable[[np.ndarray, str], np.ndarray], reference: np.ndarray,
                       *, threshold_mm: float, direction: str) -> np.ndarray:
    """The alert event's probability under a predictive distribution of the displacement Y:
    ``P(Y - reference <= -T)`` (settlement) or ``P(Y - reference >= T)`` (heave), where
    ``cdf(x, side)`` is ``P(Y <= x)`` for ``side="right"`` and ``P(Y < x)`` for ``"left"``
    (they differ only where Y has an atom), elementwise for ``x`` shaped as ``reference``."""
    if direction == "settlement":
        return cdf(reference - threshold_mm, "right")
    return 1.0 - cdf(reference + threshold_mm, "left")


def exceedance_probability(pred: np.ndarray, reference: np.ndarray, calibration: Calibration,
                           *, threshold_mm: float, steps: int,
                           direction: str = "settlement") -> np.ndarray:
    """Alert probability from point forecasts at step ``steps`` and reference displacements.

    Parameters
    ----------
    pred
        Point forecasts at step ``steps`` (any shape), mm.
    reference
        Observed displacement at the issue date, same shape, mm.
    calibration
        The run's residual distribution per step.
    threshold_mm, steps, direction
        Magnitude of the change, step (1-based), ``"settlement"`` or ``"heave"``.

    Returns
    -------
    numpy.ndarray
        Probabilities in [0, 1], NaN where ``pred`` or ``reference`` is NaN.
    """
    check_alert(threshold_mm, steps, calibration.horizon, direction)
    prob = _event_probability(lambda x, side: calibration.cdf(steps, x - pred, side), reference,
                              threshold_mm=threshold_mm, direction=direction)
    return np.where(np.isfinite(pred - reference), prob, np.nan)


def quantile_cdf(quantiles: np.ndarray, levels: Sequence[float], x: np.ndarray, *,
                 side: str = "right") -> np.ndarray:
    """Distribution function of quantile forecasts: ``P(Y <= x)`` per row.

    Between two quantiles the CDF is linear (a constant density). Beyond the outermost ones it has
    exponential tails that hold the outer levels' mass and start at the outermost segment's
    density: below ``q_1``, ``P(Y <= x) = p_1 exp((x - q_1) / b)`` with
    ``b = p_1 (q_2 - q_1) / (p_2 - p_1)``, and mirrored above ``q_Q`` (Quiñonero-Candela et al.
    2006, as in Cannon's R package qrnn). Tied quantiles are atoms. Its inverse is
    :func:`gler.scoring.interpolation`, with which the probabilistic scores read the same
    distribution.

    Parameters
    ----------
    quantiles
        Non-decreasing quantiles ``[n, Q]`` at ``levels`` (NaN: no forecast).
    levels
        ``Q >= 2`` increasing levels in (0, 1).
    x
        One value per row, ``[n]``.
    side
        ``"right"``: ``P(Y <= x)``; ``"left"``: ``P(Y < x)`` (they differ at atoms only).

    Returns
    -------
    numpy.ndarray
        ``[n]`` probabilities, non-decreasing in ``x``, the level itself at each untied
        quantile, NaN where ``x`` or a quantile of the row is NaN.

    Raises
    ------
    ValueError
        If the shapes do not match.

    References
    ----------
    Quiñonero-Candela, J., Rasmussen, C. E., Sinz, F., Bousquet, O., Schölkopf, B. (2006).
    Evaluating predictive uncertainty challenge. Machine Learning Challenges, LNCS 3944, 1-27.

    Example
    -------
    >>> q = np.array([[-1.0, 0.0, 2.0]] * 3)
    >>> quantile_cdf(q, (0.1, 0.5, 0.9), np.array([-1.0, 1.0, 2.0]))
    array([0.1, 0.7, 0.9])
    """
    q, p = np.asarray(quantiles, dtype=np.float64), np.asarray(levels, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != len(p) or len(p) < 2 or x.shape != q.shape[:1]:
        msg = (f"quantiles {q.shape} must be [n, Q] with Q = {len(p)} levels (at least two) "
               f"and x {x.shape} [n].")
        raise ValueError(msg)
    below = (q <= x[:, None]) if side == "right" else (q < x[:, None])
    count = below.sum(axis=1)  # 0: in the lower tail, Q: in the upper tail
    seg = np.clip(count, 1, len(p) - 1)  # x in [q[seg - 1], q[seg]] inside
    lo, hi = np.take_along_axis(q, np.stack([seg - 1, seg], axis=1), axis=1).T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inside = p[seg - 1] + (p[seg] - p[seg - 1]) * (x - lo) / (hi - lo)
        below, above = tail_scales(q, p)
        lower = _exponential_tail(p[0], q[:, 0] - x, below)
        upper = 1.0 - _exponential_tail(1.0 - p[-1], x - q[:, -1], above)
    prob = np.select([count == 0, count == len(p)], [lower, upper], inside)
    return np.where(np.isfinite(x) & np.isfinite(q).all(axis=1), prob, np.nan)


def _exponential_tail(mass: float, distance: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Probability beyond ``distance`` (mm, >= 0) past an outermost quantile: the tail's
    ``mass`` decaying exponentially at ``scale`` (:func:`gler.scoring.tail_scales`); all of it
    at the quantile when the scale is zero (an outermost segment of zero width)."""
    decay = np.divide(distance, scale, out=np.full_like(distance, np.inf), where=scale > 0)
    return mass * np.exp(-decay)


def quantile_exceedance_probability(quantiles: np.ndarray, levels: Sequence[float],
                                    reference: np.ndarray, *, threshold_mm: float,
                                    direction: str = "settlement") -> np.ndarray:
    """Alert probability from quantile forecasts ``[n, Q]`` at ``levels`` (those of the
    alert's step, calibrated) and the reference displacements ``[n]`` (mm), through their
    :func:`quantile_cdf`; NaN where a forecast or the reference is NaN.

    Raises
    ------
    ValueError
        For a threshold of the wrong sign or unit, an unknown direction or mismatched shapes.

    Example
    -------
    >>> q = np.array([[-9.0, -6.0, -1.0]])
    >>> quantile_exceedance_probability(q, (0.1, 0.5, 0.9), np.zeros(1), threshold_mm=6)
    array([0.5])
    """
    check_event(threshold_mm, direction)
    return _event_probability(lambda x, side: quantile_cdf(quantiles, levels, x, side=side),
                              reference, threshold_mm=threshold_mm, direction=direction)


def observed_event(change: np.ndarray, threshold_mm: float, direction: str) -> np.ndarray:
    """Whether the observed change exceeded the threshold (float 0/1, NaN where unknown)."""
    hit = change <= -threshold_mm if direction == "settlement" else change >= threshold_mm
    return np.where(np.isfinite(change), hit.astype(float), np.nan)


def alert_map(run: Run | str | Path, stack: xr.Dataset, *, threshold_mm: float, steps: int,
              direction: str = "settlement", issues: str | Sequence | None = "last",
              calibration: Calibration | QuantileCalibration | None = None,
              device: str = "auto", batch_size: int | None = None) -> xr.Dataset:
    """Per-pixel alert probabilities at each issue date, as a CF NetCDF-ready dataset.

    Parameters
    ----------
    run
        A run directory or loaded run (neural or classical).
    stack
        The data (with the factors the run needs), covering the run's validation period for
        the calibration unless ``calibration`` is given.
    threshold_mm, steps, direction
        The event: a change of at least ``threshold_mm`` mm between the issue date and
        ``steps`` acquisitions later, downwards (``"settlement"``) or upwards (``"heave"``).
    issues
        Issue dates as in :func:`gler.forecast.predict`; default ``"last"`` (the newest data).
    calibration
        A ready calibration of ``run``; default :func:`gler.conformal.calibration_for` (CQR
        of a run's quantile head, whose calibrated quantiles give each pixel its own
        distribution; split conformal of any other run's point forecast).

    Returns
    -------
    xarray.Dataset
        ``alert_probability`` (issue_time, *spatial), ``forecast_change`` (mm; of the point
        forecast, a quantile head's median) and, where the data reach ``steps`` past an issue
        date, ``observed_change`` (mm) and on QTR-sim ``clean_change``; lat/lon coordinates
        when the input has them; attribute ``calibration``: ``"cqr"`` or
        ``"split-conformal"``.

    Raises
    ------
    ValueError
        For a threshold of the wrong sign or unit, ``steps`` past the run's horizon, or a
        calibration period without data.
    """
    run = run if isinstance(run, Run) else load_run(run)
    check_alert(threshold_mm, steps, run.sample.horizon, direction)
    if calibration is None:
        calibration = calibration_for(run, stack, device=device, batch_size=batch_size)
    cqr = isinstance(calibration, QuantileCalibration)
    forecast = predict(run, stack, issues=issues, device=device, batch_size=batch_size,
                       head=cqr)
    spatial = [d for d in forecast[FORECAST].dims if d not in ("issue_time", "horizon")]
    shape = (forecast.sizes["issue_time"], *(forecast.sizes[d] for d in spatial))
    reference = stack[DISPLACEMENT].sel(time=forecast["issue_time"].values)
    reference = reference.transpose("time", *spatial).values.reshape(shape[0], -1)
    pred = flat(forecast)[:, steps - 1]
    if cqr:
        calibrated = add_quantiles(forecast, calibration, "head")[QUANTILE].values
        quantiles = calibrated.reshape(*calibrated.shape[:3], -1)[:, :, steps - 1]  # [Q, I, P]
        prob = quantile_exceedance_probability(
            quantiles.reshape(len(quantiles), -1).T, calibration.levels, reference.ravel(),
            threshold_mm=threshold_mm, direction=direction)
        how = ("the predictive distribution of the run's quantile head calibrated by CQR, "
               "linear between its quantiles with exponential tails")
    else:
        prob = exceedance_probability(pred, reference, calibration, threshold_mm=threshold_mm,
                                      steps=steps, direction=direction)
        how = "the point forecast plus the split-conformal residual distribution of the step"
    observed = observed_targets(forecast, stack)[:, steps - 1] - reference
    dims = ("issue_time", *spatial)
    sign = "-" if direction == "settlement" else "+"
    event = (f"change of displacement {'<= -' if sign == '-' else '>= '}{threshold_mm:g} mm "
             f"from the issue date to {steps} acquisitions later ({direction})")
    data = {
        PROBABILITY: (dims, prob.reshape(shape).astype(np.float32), {
            "units": "1", "long_name": f"probability of {event}", "valid_min": 0.0,
            "valid_max": 1.0, "comment": f"from {how}"}),
        "forecast_change": (dims, (pred - reference).reshape(shape).astype(np.float32), {
            "units": "mm", "long_name": f"forecast change of displacement over {steps} steps"}),
    }
    if np.isfinite(observed).any():
        data["observed_change"] = (dims, observed.reshape(shape).astype(np.float32), {
            "units": "mm", "long_name": f"observed change of displacement over {steps} steps"})
    if CLEAN in stack and np.isfinite(observed).any():  # QTR-sim: the change of the ground
        clean_ref = stack[CLEAN].sel(time=forecast["issue_time"].values)
        clean_ref = clean_ref.transpose("time", *spatial).values.reshape(shape[0], -1)
        clean = observed_targets(forecast, stack, CLEAN)[:, steps - 1] - clean_ref
        data["clean_change"] = (dims, clean.reshape(shape).astype(np.float32), {
            "units": "mm", "long_name": f"clean (noise-free) change over {steps} steps"})
    coords = {k: v for k, v in forecast[FORECAST].coords.items()
              if k != "horizon" and "horizon" not in v.dims}
    coords["alert_time"] = ("issue_time",
                            forecast["target_time"].isel(horizon=steps - 1).values,
                            {"long_name": "date the alert is for (issue date + steps)"})
    out = xr.Dataset(data, coords=coords)
    out.attrs.update({k: v for k, v in forecast.attrs.items() if k != "title"})
    out.attrs.update({
        "title": f"gler early-warning probabilities of model {run.model_name}",
        "threshold_mm": float(threshold_mm), "steps": int(steps), "direction": direction,
        "calibration": "cqr" if cqr else "split-conformal",
        "calibration_period": f"{calibration.period[0]}/{calibration.period[1]}",
        "history": f"{pd.Timestamp.now('UTC').isoformat()} gler alert",
    })
    for name in ("lat", "lon"):
        if name in out.coords:
            out[name].attrs.setdefault("standard_name",
                                       "latitude" if name == "lat" else "longitude")
            out[name].attrs.setdefault("units",
                                       "degrees_north" if name == "lat" else "degrees_east")
    return with_grid_mapping(out, stack_crs(stack))


def check_geotiff(ds: xr.Dataset, flag: str = "--out") -> str:
    """Refuse, before anything is computed, a GeoTIFF that could not be placed on a map: data
    without a ``(y, x)`` grid (points), without a coordinate reference system, on an unevenly
    spaced grid or one pixel wide; and say how to install rioxarray when it is missing.

    Returns
    -------
    str
        The grid's CRS (WKT or PROJ text).

    Raises
    ------
    ValueError
        For points, a grid without a CRS, with uneven spacing or one pixel wide (naming
        ``flag``).
    ImportError
        Without rioxarray.
    """
    if not {"y", "x"} <= set(ds.dims):
        msg = (f"{flag}: a GeoTIFF needs a (y, x) grid, and these data are points; write a "
               "NetCDF (a path ending in .nc), which also writes the CSV of alerted points.")
        raise ValueError(msg)
    crs = stack_crs(ds)
    if crs is None:
        msg = (f"{flag}: the grid has no coordinate reference system (no 'crs' attribute and "
               "no CF grid-mapping variable in --data), so a GeoTIFF could not be placed on a "
               "map; write a NetCDF (a path ending in .nc), or give --data a grid mapping.")
        raise ValueError(msg)
    for dim in ("y", "x"):
        if ds.sizes[dim] < 2:
            msg = (f"{flag}: the grid has one pixel along {dim}, too few to give the GeoTIFF "
                   "its pixel size; write a NetCDF (a path ending in .nc).")
            raise ValueError(msg)
        step = np.diff(ds[dim].values.astype(np.float64))
        if not np.allclose(step, step[0], rtol=1e-6, atol=0.0):
            msg = (f"{flag}: the grid's {dim} is unevenly spaced (steps {step.min():g} to "
                   f"{step.max():g}); a GeoTIFF needs a regular grid: write a NetCDF (a path "
                   "ending in .nc).")
            raise ValueError(msg)
    try:
        import rioxarray  # noqa: F401
    except ImportError as err:
        msg = (f"{flag}: writing GeoTIFF needs rioxarray: pip install 'gler[geotiff]', or "
               "write a NetCDF (a path ending in .nc).")
        raise ImportError(msg) from err
    return crs


def save_alerts(alerts: xr.Dataset, path: str | Path) -> Path:
    """Write :func:`alert_map`'s dataset: every variable as CF NetCDF (``.nc``), or the alert
    probability as a north-up GeoTIFF (``.tif``), one float32 band per issue date with the
    date as its description, NaN as nodata, and the event (threshold, steps, direction,
    calibration) in its metadata; the GeoTIFF needs a regular grid with a CRS
    (:func:`check_geotiff`) and the ``geotiff`` extra (rioxarray).

    Raises
    ------
    ValueError
        For another extension, or a GeoTIFF of data :func:`check_geotiff` refuses.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*NETCDF_SUFFIXES, *GEOTIFF_SUFFIXES):
        msg = f"Unknown output format for {path}; use a .nc (NetCDF) or .tif (GeoTIFF) path."
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in NETCDF_SUFFIXES:
        alerts.to_netcdf(path)
        return path
    crs = check_geotiff(alerts)
    prob = alerts[PROBABILITY].transpose("issue_time", "y", "x").sortby("y", ascending=False)
    bands = [str(t)[:10] for t in prob["issue_time"].values.astype("datetime64[D]")]
    raster = xr.DataArray(prob.values, dims=("band", "y", "x"),
                          coords={"band": np.arange(1, len(bands) + 1), "y": prob["y"].values,
                                  "x": prob["x"].values})
    raster.attrs = {"long_name": bands, "units": "1",
                    "description": prob.attrs.get("long_name", PROBABILITY),
                    **{k: str(alerts.attrs[k]) for k in GEOTIFF_TAGS if k in alerts.attrs}}
    raster = raster.rio.write_crs(crs).rio.write_nodata(np.nan)
    raster.rio.to_raster(path, dtype="float32", compress="deflate")
    return path


def roc_auc(prob: np.ndarray, event: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN with one class only."""
    pos = event == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(prob)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def verify_alerts(prob: np.ndarray, event: np.ndarray, *, probability: float = 0.5,
                  bins: int = 10) -> dict:
    """Brier score with Murphy's decomposition, reliability, ROC AUC, precision and recall.

    Parameters
    ----------
    prob
        Alert probabilities (any shape; NaN ignored).
    event
        What happened: 1.0 (exceeded), 0.0 (not), NaN (unknown); same shape.
    probability
        Alerts are raised where ``prob >= probability`` (precision and recall).
    bins
        Equal-width probability bins of the decomposition and the reliability table.

    Returns
    -------
    dict
        ``brier``, ``reliability``, ``resolution``, ``uncertainty`` (Brier ~= rel - res +
        unc, exactly so when every forecast in a bin has the same probability), ``auc``,
        ``precision``, ``recall``, ``base_rate``, ``n``, ``n_events`` and ``table``
        (per bin: mean probability, observed frequency, count).

    Example
    -------
    >>> v = verify_alerts(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1.0, 1.0, 0.0, 0.0]))
    >>> v["auc"], v["precision"], v["recall"]
    (1.0, 1.0, 1.0)
    """
    keep = np.isfinite(prob) & np.isfinite(event)
    p, o = prob[keep].astype(float), event[keep].astype(float)
    if not len(p):
        msg = "No alert with a known outcome to verify: the data end before the alert dates."
        raise ValueError(msg)
    base = float(o.mean())
    which = np.minimum((p * bins).astype(int), bins - 1)
    table, rel, res = [], 0.0, 0.0
    for b in range(bins):
        sel = which == b
        if not sel.any():
            continue
        pk, ok, nk = float(p[sel].mean()), float(o[sel].mean()), int(sel.sum())
        rel += nk * (pk - ok) ** 2
        res += nk * (ok - base) ** 2
        table.append({"bin": (b + 0.5) / bins, "mean_probability": pk,
                      "observed_frequency": ok, "count": nk})
    raised = p >= probability
    hits = float((raised & (o == 1)).sum())
    return {
        "brier": float(np.mean(sr.brier_score(o, p))),
        "reliability": rel / len(p), "resolution": res / len(p),
        "uncertainty": base * (1 - base),
        "auc": roc_auc(p, o),
        "precision": hits / float(raised.sum()) if raised.any() else float("nan"),
        "recall": hits / float(o.sum()) if o.any() else float("nan"),
        "probability": probability, "base_rate": base,
        "n": len(p), "n_events": int(o.sum()), "table": table,
    }


def verification_table(alerts: xr.Dataset, *, probability: float = 0.5) -> pd.DataFrame:
    """:func:`verify_alerts` of an :func:`alert_map` against what happened: one row for the
    observed change and, on QTR-sim, one for the clean change.

    Raises
    ------
    ValueError
        If ``alerts`` has no observed change (its alert dates lie past the data).
    """
    if "observed_change" not in alerts:
        msg = "These alerts lie past the data: nothing to verify them against."
        raise ValueError(msg)
    threshold, direction = alerts.attrs["threshold_mm"], alerts.attrs["direction"]
    rows = {}
    for label, var in (("InSAR", "observed_change"), ("clean", "clean_change")):
        if var in alerts:
            event = observed_event(alerts[var].values, threshold, direction)
            result = verify_alerts(alerts[PROBABILITY].values, event, probability=probability)
            rows[label] = {k: v for k, v in result.items() if k != "table"}
    return pd.DataFrame.from_dict(rows, orient="index")
