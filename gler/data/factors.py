"""Readers of environmental factors (EFs): CSV tables and ERA5-Land NetCDF, to daily values.

The result of :func:`open_factors` is a factor dataset: one dim ``time`` with one value per day,
variables named as in the data model (``air_temperature`` °C, ``ground_surface_temperature``
°C, ``precipitation`` mm per day, ``soil_moisture`` m³ m⁻³, ``snow_depth`` m, ...) with
``units``, ``long_name`` and ``aggregation`` attributes, ready for
:func:`gler.data.align.align_factors`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.checks import check_factors
from gler.data.model import check_times, parse_dates

logger = logging.getLogger(__name__)

#: The data model's factors: (units, long_name, aggregation).
KNOWN_FACTORS = {
    "air_temperature": ("degC", "2 m air temperature", "mean"),
    "ground_surface_temperature": ("degC", "ground surface temperature", "mean"),
    "land_surface_temperature": ("degC", "land surface temperature", "mean"),
    "precipitation": ("mm", "total precipitation (daily total)", "sum"),
    "soil_moisture": ("m3 m-3", "volumetric soil water, top layer", "mean"),
    "snow_depth": ("m", "snow depth", "mean"),
    "ndvi": ("1", "normalised difference vegetation index", "mean"),
}

#: ERA5(-Land) short names -> gler names. The skin temperature stands in for the ground surface
#: temperature (ERA5-Land has no separate ground-surface variable); ``sd`` is the snow water
#: equivalent, not the snow depth (``sde``).
ERA5_NAMES = {
    "t2m": "air_temperature",
    "skt": "ground_surface_temperature",
    "tp": "precipitation",
    "swvl1": "soil_moisture",
    "sde": "snow_depth",
    "sd": "snow_water_equivalent",
    "e": "evaporation",
    "src": "skin_reservoir_content",
    **{f"stl{i}": f"soil_temperature_layer{i}" for i in range(1, 5)},
    **{f"swvl{i}": f"soil_moisture_layer{i}" for i in range(2, 5)},
}
#: Units ERA5-Land uses when a file does not say.
ERA5_UNITS = {"t2m": "K", "skt": "K", "tp": "m", "sde": "m", "sd": "m", "e": "m", "src": "m",
              **{f"stl{i}": "K" for i in range(1, 5)},
              **{f"swvl{i}": "m3 m-3" for i in range(1, 5)}}
#: ERA5-Land variables accumulated from 00 UTC in the hourly product.
ERA5_ACCUMULATED = ("tp", "e")

# Unit spellings -> canonical unit. Rates per day of a daily series are that day's total.
_SPELLINGS = {
    "k": "K", "kelvin": "K", "degc": "degC", "°c": "degC", "c": "degC", "deg_c": "degC",
    "celsius": "degC", "degrees_celsius": "degC",
    "m": "m", "metre": "m", "meter": "m", "metres": "m", "meters": "m", "m/day": "m",
    "m day-1": "m", "m d-1": "m", "m of water equivalent": "m",
    "mm": "mm", "mm/day": "mm", "mm day-1": "mm", "mm d-1": "mm", "cm": "cm",
    "m3 m-3": "m3 m-3", "m**3 m**-3": "m3 m-3", "m3/m3": "m3 m-3", "m^3/m^3": "m3 m-3",
    "1": "1", "": "1",
}
# (from, to) -> (scale, offset)
_CONVERSIONS = {
    ("K", "degC"): (1.0, -273.15), ("m", "mm"): (1000.0, 0.0), ("cm", "mm"): (10.0, 0.0),
    ("mm", "m"): (0.001, 0.0), ("cm", "m"): (0.01, 0.0),
}


def to_factor_units(values: np.ndarray, units: str, name: str) -> tuple[np.ndarray, str]:
    """Convert a factor to the data model's units (K -> °C, precipitation m -> mm, ...).

    Parameters
    ----------
    values
        The factor values.
    units
        Their units (ERA5 and CF spellings are understood, e.g. ``"K"``, ``"m**3 m**-3"``).
    name
        The factor's gler name: the data-model factors get the contract's units, other factors
        keep theirs (temperatures in K become °C).

    Returns
    -------
    values, units
        Converted values (float64) and their canonical units.

    Raises
    ------
    ValueError
        If the units are unknown or cannot be converted to the factor's units.
    """
    canonical = _SPELLINGS.get(str(units).strip().lower())
    target = KNOWN_FACTORS[name][0] if name in KNOWN_FACTORS else None
    if canonical is None:
        if target is None:
            return np.asarray(values, dtype=np.float64), str(units)
        msg = (f"Unknown units {units!r} for factor {name!r}; expected {target} or a unit "
               f"convertible to it ({', '.join(sorted(set(_SPELLINGS.values())))}).")
        raise ValueError(msg)
    if target is None:
        target = "degC" if canonical == "K" else canonical
    values = np.asarray(values, dtype=np.float64)
    if canonical == target:
        return values, target
    if (canonical, target) not in _CONVERSIONS:
        msg = (f"Factor {name!r} is in {units!r}, which cannot be converted to {target!r}. "
               "Check the units= you gave or the file's units attribute.")
        raise ValueError(msg)
    scale, offset = _CONVERSIONS[canonical, target]
    return values * scale + offset, target


def factor_attrs(name: str, units: str, **extra: str) -> dict[str, str]:
    """CF-style attributes of a factor: ``units``, ``long_name``, ``aggregation``."""
    _, long_name, aggregation = KNOWN_FACTORS.get(
        name, (units, name.replace("_", " "), "sum" if name == "evaporation" else "mean"))
    return {"units": units, "long_name": long_name, "aggregation": aggregation, **extra}


def _to_daily(ds: xr.Dataset) -> xr.Dataset:
    """Daily means (sums for aggregation='sum') of a sub-daily factor dataset."""
    means = ds.resample(time="1D").mean()
    for name, var in ds.data_vars.items():
        if var.attrs.get("aggregation") == "sum":
            means[name] = ds[name].resample(time="1D").sum(min_count=1)
        means[name].attrs = var.attrs
    return means


def _read_csv(path: Path, *, units: Mapping[str, str], rename: Mapping[str, str],
              date_col: str | None, columns: list[str] | None, date_format: str | None = None,
              **read_kw: Any) -> xr.Dataset:
    table = pd.read_csv(path, encoding="utf-8-sig", **read_kw)
    table.columns = [str(c).strip() for c in table.columns]
    if date_col is None:
        date_col = next((c for c in table.columns if c.lower() in ("date", "time", "datetime")),
                        None)
    if date_col not in table.columns:
        msg = (f"{path}: no date column (columns: {', '.join(table.columns[:20])}); pass "
               "date_col=.")
        raise ValueError(msg)
    table = table.dropna(how="all")  # trailing empty lines of spreadsheet exports
    times = parse_dates(table.pop(date_col), date_format, what=f"{path} column {date_col!r}")
    keep = columns if columns is not None else [
        c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    missing = sorted(set(keep) - set(table.columns))
    if missing:
        msg = f"{path}: columns {', '.join(missing)} are not in the table."
        raise ValueError(msg)
    table = table[keep].rename(columns=dict(rename))
    no_units = [c for c in table.columns if c not in units and c not in KNOWN_FACTORS]
    if no_units:
        msg = (f"{path}: units unknown for columns {', '.join(no_units)}. Pass units={{column: "
               "unit}} (after rename=), rename= them to data-model names (air_temperature, "
               "precipitation, ...), or leave them out with columns=.")
        raise ValueError(msg)
    data = {}
    for name in table.columns:
        values, unit = to_factor_units(table[name].to_numpy(dtype=np.float64),
                                       units.get(name, KNOWN_FACTORS.get(name, ("",))[0]), name)
        data[name] = ("time", values, factor_attrs(name, unit))
    return xr.Dataset(data, coords={"time": times.to_numpy()})


def _select_area(ds: xr.Dataset, lat: float | None, lon: float | None,
                 bbox: tuple[float, float, float, float] | None) -> xr.Dataset:
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


def _read_era5(path: Path, *, lat: float | None, lon: float | None,
               bbox: tuple[float, float, float, float] | None, **open_kw: Any) -> xr.Dataset:
    raw = xr.open_dataset(path, **open_kw)
    if "valid_time" in raw.dims:  # files from the new CDS use valid_time
        raw = raw.rename(valid_time="time")
    known = [v for v in raw.data_vars if v in ERA5_NAMES]
    ignored = [str(v) for v in raw.data_vars if v not in ERA5_NAMES]
    if not known:
        msg = (f"{path} has no ERA5-Land variable gler knows ({', '.join(ERA5_NAMES)}); it "
               f"holds {', '.join(ignored)}.")
        raise ValueError(msg)
    if ignored:
        warnings.warn(f"{path}: variables {', '.join(ignored)} are not ERA5-Land factors gler "
                      "knows and were left out.", stacklevel=3)
    raw = _select_area(raw[known], lat, lon, bbox).load()
    times = check_times(raw["time"].values, what=f"times of {path}")
    steps = np.diff(times.values).astype("timedelta64[h]").astype(int)
    hourly = len(steps) > 0 and np.median(steps) < 24
    instant, sums = {}, {}
    for short in known:
        var = raw[short]
        name = ERA5_NAMES[short]
        target = instant
        if hourly and short in ERA5_ACCUMULATED:
            # ERA5-Land hourly accumulations restart at 00 UTC: the value stamped 00 UTC of day
            # D+1 is the total of day D, the other hours are partial sums. So the daily total
            # of D is the value at D+1 00 UTC; days without that stamp are left NaN.
            midnight = var.where(var["time"].dt.hour == 0, drop=True)
            var = midnight.assign_coords(time=midnight["time"] - np.timedelta64(1, "D"))
            target = sums
        values, unit = to_factor_units(var.values, var.attrs.get("units", ERA5_UNITS[short]),
                                       name)
        target[name] = xr.DataArray(values, dims=("time",), coords={"time": var["time"].values},
                                    attrs=factor_attrs(name, unit, era5_name=short))
    if not hourly:
        return xr.Dataset(instant)
    counts = raw[known[0]]["time"].resample(time="1D").count()
    partial = int((counts < 24).sum())
    if partial:
        warnings.warn(f"{path}: {partial} days have fewer than 24 hourly values; their daily "
                      "means use the hours present.", stacklevel=3)
    ds = _to_daily(xr.Dataset(instant)) if instant else xr.Dataset()
    if sums:
        # Left join: a file starting at 00 UTC also holds the total of the day before it.
        ds = xr.merge([ds, xr.Dataset(sums)], join="left" if instant else "outer",
                      combine_attrs="drop_conflicts")
        gaps = {n: int(ds[n].isnull().sum()) for n in sums if int(ds[n].isnull().sum())}
        if gaps:
            warnings.warn(f"{path}: daily totals left NaN where the next day's 00 UTC value is "
                          f"not in the file (usually the last day): {gaps}.", stacklevel=3)
    return ds


def open_factors(
    path: str | Path,
    format: str | None = None,
    *,
    units: Mapping[str, str] | None = None,
    rename: Mapping[str, str] | None = None,
    date_col: str | None = None,
    columns: list[str] | None = None,
    lat: float | None = None,
    lon: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    date_format: str | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Read daily environmental factors from a CSV table or an ERA5-Land NetCDF file.

    Parameters
    ----------
    path
        A CSV with a date column and one column per factor, or an ERA5-Land NetCDF (hourly or
        daily, dims ``time``/``valid_time``, ``latitude``, ``longitude``).
    format
        ``"csv"`` or ``"era5"``; by default from the suffix (``.csv``/``.txt`` or ``.nc``).
    units
        CSV only: ``{column: units}`` after ``rename``. Columns named as data-model factors
        default to the contract's units; any other column needs its units here.
    rename
        CSV only: ``{column: gler name}``, e.g. ``{"T2mMean": "air_temperature"}``.
    date_col
        CSV only: the date column (default: the one named date, time or datetime).
    columns
        CSV only: the columns to read (default: every numeric column).
    lat, lon
        ERA5: take the nearest grid cell.
    bbox
        ERA5: average the cells inside ``(lon_min, lat_min, lon_max, lat_max)`` instead.
    date_format
        CSV only: ``strptime`` format of the dates (e.g. ``"%d/%m/%Y"``); default ISO 8601
        (day/month orders are never guessed).
    **kwargs
        Passed to :func:`pandas.read_csv` or :func:`xarray.open_dataset`.

    Returns
    -------
    xarray.Dataset
        Daily factors on dim ``time`` in the data model's units: temperatures in °C (from K),
        precipitation in mm per day (from m), soil moisture in m³ m⁻³, snow depth in m. ERA5
        names become gler names (``t2m`` air_temperature, ``skt`` ground_surface_temperature,
        ``swvl1`` soil_moisture, ``tp`` precipitation, ``sde`` snow_depth, ``sd``
        snow_water_equivalent, ``stlN`` soil_temperature_layerN). Sub-daily input becomes daily
        means and, for precipitation, daily totals.

    Raises
    ------
    ValueError
        Unknown format or units, dates that are not ISO 8601 (or ``date_format``), unsorted
        or duplicated dates, no date column, implausible values (a temperature above 100 °C is
        kelvin), or a multi-cell ERA5 file without ``lat``/``lon`` or ``bbox``.

    Notes
    -----
    Hourly ERA5-Land accumulations (``tp``, ``e``) grow from 00 UTC and the value stamped
    00 UTC belongs to the previous day: the daily total of day D is the value at D+1 00 UTC,
    not the sum of the 24 hourly values. Daily files (e.g. daily aggregates) are taken as daily
    totals in m.

    Example
    -------
    >>> ef = open_factors("era5_land_hourly.nc", lat=37.6, lon=101.9)  # doctest: +SKIP
    >>> ef["air_temperature"].attrs["units"]  # doctest: +SKIP
    'degC'
    """
    path = Path(path)
    if not path.exists():
        msg = f"No such file: {path}"
        raise FileNotFoundError(msg)
    if format is None:
        suffix = path.suffix.lower()
        format = "era5" if suffix in (".nc", ".nc4", ".netcdf") else (
            "csv" if suffix in (".csv", ".txt") else None)
    if format == "csv":
        ds = _read_csv(path, units=dict(units or {}), rename=dict(rename or {}),
                       date_col=date_col, columns=columns, date_format=date_format, **kwargs)
        check_times(ds["time"].values, what=f"dates of {path}")
        if (pd.DatetimeIndex(ds["time"].values).normalize().duplicated()).any():
            ds = _to_daily(ds)
    elif format == "era5":
        ds = _read_era5(path, lat=lat, lon=lon, bbox=bbox, **kwargs)
    else:
        msg = (f"Unknown factor format {format!r} for {path}; use format='csv' (a table with a "
               "date column) or format='era5' (ERA5-Land NetCDF).")
        raise ValueError(msg)
    times = check_times(ds["time"].values, what=f"daily factor dates of {path}")
    ds = ds.assign_coords(time=times.as_unit("ns"))
    ds.attrs.update(source=str(path), source_format=format)
    check_factors(ds, list(ds.data_vars), source=str(path))  # e.g. kelvin labelled °C
    return ds
