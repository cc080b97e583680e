"""ERA5-Land (or data-model) NetCDF factors: a cell or an area, hourly values to daily ones."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gler.data.factors.daily import resample_daily
from gler.data.factors.units import (
    ERA5_ACCUMULATED,
    ERA5_NAMES,
    ERA5_UNITS,
    KNOWN_FACTORS,
    factor_attrs,
    to_factor_units,
)
from gler.data.model import check_times


def _select_area(ds: xr.Dataset, lat: float | None, lon: float | None,
                 bbox: tuple[float, float, float, float] | None) -> xr.Dataset:
    """The cell nearest ``lat``/``lon``, the mean over ``bbox``, or the only cell of a grid."""
    names = {"lat": next((n for n in ("latitude", "lat") if n in ds.dims), None),
             "lon": next((n for n in ("longitude", "lon") if n in ds.dims), None)}
    if names["lat"] is None or names["lon"] is None:
        return ds
    lats, lons = ds[names["lat"]], ds[names["lon"]]
    wraps = float(lons.max()) > 180  # ERA5 GRIB-converted files use 0..360 longitudes
    if lat is not None and lon is not None:
        lon = lon % 360 if wraps else lon
        return ds.sel({names["lat"]: lat, names["lon"]: lon}, method="nearest")
    if bbox is not None:
        lon_min, lat_min, lon_max, lat_max = bbox
        if wraps:
            lon_min, lon_max = lon_min % 360, lon_max % 360
        inside = ds.where((lats >= lat_min) & (lats <= lat_max) & (lons >= lon_min)
                          & (lons <= lon_max), drop=True)
        if inside.sizes[names["lat"]] == 0 or inside.sizes[names["lon"]] == 0:
            msg = (f"bbox={bbox} holds no grid cell of the file (latitudes "
                   f"{float(lats.min())}..{float(lats.max())}, longitudes "
                   f"{float(lons.min())}..{float(lons.max())}).")
            raise ValueError(msg)
        return inside.mean([names["lat"], names["lon"]], keep_attrs=True)
    if lats.size * lons.size == 1:
        return ds.squeeze([names["lat"], names["lon"]])
    msg = (f"The file covers {lats.size} x {lons.size} grid cells; choose one with lat=/lon= "
           "(nearest cell) or average a region with bbox=(lon_min, lat_min, lon_max, lat_max).")
    raise ValueError(msg)


def _dim_coords(var: xr.DataArray) -> dict[str, np.ndarray]:
    """The coordinates along a variable's dims (not the scalar lat/lon of a chosen cell)."""
    return {d: var[d].values for d in var.dims if d in var.coords}


def read_era5(path: Path, *, lat: float | None, lon: float | None,
              bbox: tuple[float, float, float, float] | None,
              units: Mapping[str, str] | None = None, rename: Mapping[str, str] | None = None,
              **open_kw: Any) -> xr.Dataset:
    """Daily factors of a NetCDF of ERA5-Land short names or data-model names, at one cell
    or averaged over ``bbox``; the options are those of :func:`gler.data.factors.open_factors`.
    """
    units, rename = dict(units or {}), dict(rename or {})
    raw = xr.open_dataset(path, **open_kw)
    if "valid_time" in raw.dims:  # files from the new CDS use valid_time
        raw = raw.rename(valid_time="time")
    if "time" not in raw.dims:
        msg = (f"{path} has no 'time' (or 'valid_time') dim (dims: "
               f"{', '.join(map(str, raw.dims))}); a factor file holds time series.")
        raise ValueError(msg)
    missing = sorted(set(rename) - set(map(str, raw.data_vars)))
    if missing:
        msg = (f"rename= names variables that are not in {path}: {', '.join(missing)} (it holds "
               f"{', '.join(map(str, raw.data_vars))}).")
        raise ValueError(msg)
    raw = raw.rename(rename)
    # ERA5-Land short names, or the data model's own names (or any variable given units=).
    model_names = [str(v) for v in raw.data_vars
                   if v not in ERA5_NAMES and (v in KNOWN_FACTORS or v in units)
                   and "time" in raw[v].dims]
    known = [v for v in raw.data_vars if v in ERA5_NAMES]
    ignored = [str(v) for v in raw.data_vars if v not in ERA5_NAMES and v not in model_names]
    if not known and not model_names:
        msg = (f"{path} has no factor gler knows: ERA5-Land short names ({', '.join(ERA5_NAMES)})"
               f" or data-model names ({', '.join(KNOWN_FACTORS)}); it holds "
               f"{', '.join(ignored)}. Give their units with units={{name: unit}} or rename= "
               "them to data-model names.")
        raise ValueError(msg)
    if ignored:
        warnings.warn(f"{path}: variables {', '.join(ignored)} are neither ERA5-Land nor "
                      "data-model factors and were left out (units= or rename= takes them in).",
                      stacklevel=3)
    if model_names:
        raw = raw.rename({v: f"__model__{v}" for v in model_names})
        model_names = [f"__model__{v}" for v in model_names]
    raw = _select_area(raw[known + model_names], lat, lon, bbox).load()
    times = check_times(raw["time"].values, what=f"times of {path}")
    steps = np.diff(times.values).astype("timedelta64[h]").astype(int)
    hourly = len(steps) > 0 and np.median(steps) < 24
    instant, sums = {}, {}
    for short in model_names:
        var = raw[short].transpose("time", ...)
        name = short.removeprefix("__model__")
        given = units.get(name, var.attrs.get("units", KNOWN_FACTORS.get(name, ("",))[0]))
        values, unit = to_factor_units(var.values, given, name)
        attrs = factor_attrs(name, unit)
        if var.ndim > 1:
            attrs["role"] = "factor"
        instant[name] = xr.DataArray(values, dims=var.dims, coords=_dim_coords(var), attrs=attrs)
    for short in known:
        var = raw[short].transpose("time", ...)
        name = ERA5_NAMES[short]
        target = instant
        if hourly and short in ERA5_ACCUMULATED:
            # ERA5-Land hourly accumulations restart at 00 UTC: the value stamped 00 UTC of day
            # D+1 is the total of day D, the other hours are partial sums. So the daily total
            # of D is the value at D+1 00 UTC; days without that stamp are left NaN.
            midnight = var.where(var["time"].dt.hour == 0, drop=True)
            var = midnight.assign_coords(time=midnight["time"] - np.timedelta64(1, "D"))
            target = sums
        values, unit = to_factor_units(
            var.values, units.get(name, var.attrs.get("units", ERA5_UNITS[short])), name)
        attrs = factor_attrs(name, unit, era5_name=short)
        if var.ndim > 1:
            attrs["role"] = "factor"
        target[name] = xr.DataArray(values, dims=var.dims, coords=_dim_coords(var), attrs=attrs)
    if not hourly:
        return xr.Dataset(instant)
    counts = raw[(known + model_names)[0]]["time"].resample(time="1D").count()
    partial = int((counts < 24).sum())
    if partial:
        warnings.warn(f"{path}: {partial} days have fewer than 24 hourly values; their daily "
                      "means use the hours present.", stacklevel=3)
    ds = resample_daily(xr.Dataset(instant)) if instant else xr.Dataset()
    if sums:
        # Left join: a file starting at 00 UTC also holds the total of the day before it.
        ds = xr.merge([ds, xr.Dataset(sums)], join="left" if instant else "outer",
                      combine_attrs="drop_conflicts")
        gaps = {n: int(ds[n].isnull().sum()) for n in sums if int(ds[n].isnull().sum())}
        if gaps:
            warnings.warn(f"{path}: daily totals left NaN where the next day's 00 UTC value is "
                          f"not in the file (usually the last day): {gaps}.", stacklevel=3)
    return ds

