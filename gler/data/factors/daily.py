"""Factors on a daily axis: sub-daily values averaged, coarser ones spread, a period covered."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

logger = logging.getLogger(__name__)


def resample_daily(ds: xr.Dataset) -> xr.Dataset:
    """Daily means (sums for aggregation='sum') of a sub-daily factor dataset."""
    means = ds.resample(time="1D").mean()
    for name, var in ds.data_vars.items():
        if var.attrs.get("aggregation") == "sum":
            means[name] = ds[name].resample(time="1D").sum(min_count=1)
        means[name].attrs = var.attrs
    return means



def spread_to_daily(ds: xr.Dataset, what: str = "the factors") -> xr.Dataset:
    """Daily values of factors given at a coarser step (weekly, monthly, ...), said once.

    Each value covers the days from its date to the next one (the last one: the median
    step): means are held over those days, sums (``aggregation="sum"``, e.g. precipitation)
    are divided evenly among them. Daily (or sub-daily, already averaged) factors are returned
    unchanged.

    Example
    -------
    >>> monthly = xr.Dataset({"precipitation": ("time", [31.0, 29.0], {"aggregation": "sum"})},
    ...                      coords={"time": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    >>> float(spread_to_daily(monthly)["precipitation"][0])
    1.0
    """
    times = pd.DatetimeIndex(ds["time"].values)
    if len(times) < 2:
        return ds
    steps = np.diff(times.normalize().values).astype("timedelta64[D]").astype(int)
    median = int(np.median(steps))
    if median <= 1:
        return ds
    ends = times.normalize().append(pd.DatetimeIndex([times[-1].normalize()
                                                      + pd.Timedelta(days=median)]))
    days = pd.date_range(ends[0], ends[-1] - pd.Timedelta(days=1), freq="D").as_unit("ns")
    owner = np.searchsorted(ends.values, days.values, side="right") - 1
    lengths = np.diff(ends.values).astype("timedelta64[D]").astype(int)
    out = ds.isel(time=owner).assign_coords(time=days)
    for name, var in ds.data_vars.items():
        if var.attrs.get("aggregation") == "sum":
            share = xr.DataArray(lengths[owner].astype(np.float64), dims="time")
            out[name] = (out[name] / share).assign_attrs(var.attrs)
    logger.warning("%s: factors given every %d days (median step) are spread to daily values "
                   "(means held over each step, sums divided evenly) before aggregation onto "
                   "the acquisition dates", what, median)
    return out



def cover_period(daily: xr.Dataset, times: Any, what: str = "the factor table",
                 min_days: int = 365) -> xr.Dataset:
    """Daily factors extended to cover every acquisition interval, said once.

    Acquisitions before the first or after the last factor day get the day-of-year
    climatology of the table (the mean of each calendar day over its years; days of the year
    it never saw are interpolated), so no acquisition is dropped. The warning names the
    uncovered acquisition dates.

    Raises
    ------
    ValueError
        If the table covers fewer than ``min_days`` days (too few for a climatology) and does
        not cover the acquisitions.
    """
    times = pd.DatetimeIndex(times)
    days = pd.DatetimeIndex(daily["time"].values).normalize()
    first_interval = (times[1] - times[0]) if len(times) > 1 else pd.Timedelta(days=1)
    start = (times[0] - first_interval).normalize() + pd.Timedelta(days=1)
    end = times[-1].normalize()
    outside = times[(times.normalize() < days[0]) | (times.normalize() > days[-1])]
    if not len(outside):  # a first interval cut short is averaged over the days it has
        return daily
    span = int((days[-1] - days[0]).days) + 1
    shown = ", ".join(str(t.date()) for t in outside[:3]) + (
        f" ... {outside[-1].date()}" if len(outside) > 3 else "")
    if span < min_days:
        msg = (f"{what} covers {days[0].date()} to {days[-1].date()} ({span} days), but the "
               f"acquisitions run from {times[0].date()} to {times[-1].date()}"
               + (f" ({len(outside)} dates outside: {shown})" if len(outside) else "")
               + f". Give factors for the whole period, or at least {min_days} days so the rest "
               "can be filled from their day-of-year climatology.")
        raise ValueError(msg)
    full = pd.date_range(min(start, days[0]), max(end, days[-1]), freq="D").as_unit("ns")
    daily = daily.assign_coords(time=days.as_unit("ns"))
    clim = daily.groupby("time.dayofyear").mean(keep_attrs=True)
    clim = clim.reindex(dayofyear=np.arange(1, 367))
    # Circular interpolation over the days of the year the table never saw.
    tripled = xr.concat([clim.assign_coords(dayofyear=clim.dayofyear - 366), clim,
                         clim.assign_coords(dayofyear=clim.dayofyear + 366)], "dayofyear")
    clim = tripled.interpolate_na("dayofyear").sel(dayofyear=np.arange(1, 367))
    extended = daily.reindex(time=full)
    fill = clim.sel(dayofyear=xr.DataArray(full.day_of_year.to_numpy(), dims="time"))
    fill = fill.drop_vars("dayofyear").assign_coords(time=full)
    beyond = xr.DataArray((full < days[0]) | (full > days[-1]), dims="time",
                          coords={"time": full})
    out = xr.where(beyond, fill, extended, keep_attrs=True)
    for name, var in daily.data_vars.items():
        out[name].attrs = var.attrs
    n_years = max(1, round(span / 365.25))
    logger.warning("%s covers %s to %s; %d of %d acquisition dates (%s) lie outside, and their "
                   "factors are filled from the table's day-of-year climatology (%d year%s)",
                   what, days[0].date(), days[-1].date(), len(outside), len(times), shown,
                   n_years, "s" if n_years > 1 else "")
    return out.transpose("time", ...)

