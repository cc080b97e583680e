"""Daily factors matched to a stack and merged into it: points, centre, period, alignment."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import xarray as xr

from gler.data.align import align_factors
from gler.data.factors.daily import cover_period
from gler.data.factors.units import ERA5_NAMES, KNOWN_FACTORS
from gler.data.model import DAILY_DIM, DAILY_SUFFIX

logger = logging.getLogger(__name__)


def match_points(daily: xr.Dataset, stack: xr.Dataset, what: str = "the factor table",
                 ) -> xr.Dataset:
    """Per-point factors put in the order of the stack's points (ids compared as text).

    Factors without a ``point`` dim are returned unchanged; points of the factor table that
    the stack lacks are dropped (and said).

    Raises
    ------
    ValueError
        If the stack has no ``point`` dim (a grid), or some of its points have no factors
        (a few of them are listed).
    """
    if "point" not in daily.dims:
        return daily
    if "point" not in stack.dims:
        msg = (f"{what} gives factors per point, but the displacement is a grid (dims "
               f"{tuple(stack['displacement'].dims)}); per-point factors need a point stack.")
        raise ValueError(msg)
    wanted = pd.Index(stack["point"].values).astype(str)
    have = pd.Index(daily["point"].values).astype(str)
    missing = wanted[~wanted.isin(have)]
    if len(missing):
        msg = (f"{what} has no factors for {len(missing)} of the {len(wanted)} points of the "
               f"data (e.g. {', '.join(missing[:5])}); its point ids are e.g. "
               f"{', '.join(have[:5])}. Give every point its factors (ids as in the data's "
               "point column).")
        raise ValueError(msg)
    extra = have[~have.isin(wanted)]
    if len(extra):
        logger.warning("%s: factors of %d points that are not in the data are left out (e.g. "
                       "%s)", what, len(extra), ", ".join(extra[:5]))
    matched = daily.assign_coords(point=have).sel(point=wanted)
    logger.warning("%s: per-point factors %s used (one series per point)", what,
                   ", ".join(map(str, matched.data_vars)))
    return matched.assign_coords(point=stack["point"].values)



def use_spatial_factors(stack: xr.Dataset, what: str = "the data") -> xr.Dataset:
    """Take the data-model factors a stack holds per pixel or point as factors (and say so).

    A variable on the displacement's dims (``(time, point)`` or ``(time, y, x)``) named as a
    data-model or ERA5-Land factor (``air_temperature``, ``precipitation``, ...) gets
    ``role="factor"``; other such variables are named in one line saying they are not used.
    """
    dims = stack["displacement"].dims
    used, unused = [], []
    for name, var in stack.data_vars.items():
        if (var.dims != dims or str(name).startswith("displacement")
                or var.attrs.get("role") == "factor"):
            continue
        known = (name in KNOWN_FACTORS or name in ERA5_NAMES.values()
                 or str(name).endswith("degree_days"))
        (used if known else unused).append(str(name))
    if used:
        stack = stack.assign({n: stack[n].assign_attrs(role="factor") for n in used})
        logger.warning("%s: per-%s factors %s used", what,
                       "point" if "point" in dims else "pixel", ", ".join(used))
    if unused:
        logger.warning("%s: variables %s on %s are not used as factors (name them as data-model "
                       "factors, e.g. air_temperature, or give them the attribute "
                       "role='factor')", what, ", ".join(unused), dims)
    return stack


def stack_centre(stack: xr.Dataset) -> dict[str, float]:
    """``lat``/``lon`` of a stack's centre (``{}`` without them): the cell of a gridded factor
    file to read, as in ``open_factors(path, **stack_centre(stack))``."""
    if "lat" not in stack.coords or "lon" not in stack.coords:
        return {}
    return {"lat": float(stack["lat"].mean()), "lon": float(stack["lon"].mean())}


def attach_factors(stack: xr.Dataset, daily: xr.Dataset, *, what: str = "the daily factors",
                   fill_from_climatology: bool = False, keep_daily: bool = False,
                   **align_options: Any) -> xr.Dataset:
    """The stack with daily factors aggregated onto its acquisition dates and merged in.

    In order: per-point factors are put in the order of the stack's points
    (:func:`match_points`); with ``fill_from_climatology``, acquisitions outside the daily
    series get its day-of-year climatology (:func:`~gler.data.factors.daily.cover_period`);
    the factors are aggregated over each acquisition interval, with degree-days
    (:func:`~gler.data.align.align_factors`); factors of the same names in the stack are
    replaced (said once).

    Parameters
    ----------
    stack
        A stack in the data model.
    daily
        Daily factors on dim ``time`` (and ``point`` for per-point factors), as
        :func:`~gler.data.factors.open_factors` returns them.
    what
        Where the factors come from, for messages (e.g. ``"--factors era5.nc"``).
    fill_from_climatology
        Fill the acquisitions the daily series does not cover from its climatology (needs a
        year of factors); False: they are an error.
    keep_daily
        Also store the daily factors in the stack, on dim ``day`` named ``<factor>_daily``.
    **align_options
        ``aggregation=``, ``degree_day_source=``, ``season_start=`` of
        :func:`~gler.data.align.align_factors`.

    Returns
    -------
    xarray.Dataset
        ``stack`` with one variable per factor on its acquisition dates (and the degree-days).

    Raises
    ------
    ValueError
        As :func:`match_points`, :func:`~gler.data.factors.daily.cover_period` and
        :func:`~gler.data.align.align_factors` do: points without factors, factors that do not
        cover the acquisitions, no temperature for the degree-days, ...
    """
    times = stack["time"].values
    daily = match_points(daily, stack, what=what)
    covered = cover_period(daily, times, what=what) if fill_from_climatology else daily
    aligned = align_factors(covered, times, **align_options)
    replaced = sorted(set(aligned.data_vars) & set(stack.data_vars))
    if replaced:
        logger.warning("Factors %s in the data are replaced by those of %s", replaced, what)
    merged = stack.drop_vars(replaced).merge(aligned)
    if not keep_daily:
        return merged
    return merged.merge(xr.Dataset({f"{name}{DAILY_SUFFIX}": var.rename(time=DAILY_DIM)
                                    for name, var in daily.data_vars.items()}))
