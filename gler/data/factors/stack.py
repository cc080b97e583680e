"""Daily factors matched to a stack: per-point factors in its point order, per-pixel ones."""

from __future__ import annotations

import logging

import pandas as pd
import xarray as xr

from gler.data.factors.units import ERA5_NAMES, KNOWN_FACTORS

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

