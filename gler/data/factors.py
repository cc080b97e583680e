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
#: Column names taken as the point id of a long factor table (per-point factors).
POINT_COLUMNS = ("point", "pid", "point_id")

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
              point_col: str | None = None,
              **read_kw: Any) -> xr.Dataset:
    table = pd.read_csv(path, encoding="utf-8-sig", **read_kw)
    table.columns = [str(c).strip() for c in table.columns]
    if point_col is None:
        point_col = next((c for c in table.columns if c.lower() in POINT_COLUMNS), None)
        if point_col is not None:
            logger.warning("%s: column %r taken as the point id of per-point factors",
                           path, point_col)
    elif point_col not in table.columns:
        msg = (f"{path}: no point column {point_col!r} (columns: "
               f"{', '.join(table.columns[:20])}); pass point_col= one of them.")
        raise ValueError(msg)
    if date_col is None:
        date_col = next((c for c in table.columns if c.lower() in ("date", "time", "datetime")),
                        None)
    if date_col not in table.columns:
        msg = (f"{path}: no date column (columns: {', '.join(table.columns[:20])}); pass "
               "date_col=.")
        raise ValueError(msg)
    table = table.dropna(how="all")  # trailing empty lines of spreadsheet exports
    times = parse_dates(table.pop(date_col), date_format, what=f"{path} column {date_col!r}")
    points = table.pop(point_col).astype(str).str.strip() if point_col else None
    keep = columns if columns is not None else [
        c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    missing = sorted(set(keep) - set(table.columns))
    if missing:
        msg = f"{path}: columns {', '.join(missing)} are not in the table."
        raise ValueError(msg)
    table = table[keep].rename(columns=dict(rename))
    no_units = [c for c in table.columns if c not in units and c not in KNOWN_FACTORS]
    if no_units:
        msg = (f"{path}: units unknown for columns {', '.join(no_units)}. Give their units "
               "with units={column: unit} (names after rename=), rename= them to data-model "
               "names (air_temperature, precipitation, ...), or choose the columns to read "
               "with columns=.")
        raise ValueError(msg)
    if points is not None:
        return _per_point_table(path, table, times, points, units)
    data = {}
    for name in table.columns:
        values, unit = to_factor_units(table[name].to_numpy(dtype=np.float64),
                                       units.get(name, KNOWN_FACTORS.get(name, ("",))[0]), name)
        data[name] = ("time", values, factor_attrs(name, unit))
    return xr.Dataset(data, coords={"time": times.to_numpy()})


def _per_point_table(path: Path, table: pd.DataFrame, times: pd.Series, points: pd.Series,
                     units: Mapping[str, str]) -> xr.Dataset:
    """Factors on (time, point) from a long table with one row per (date, point)."""
    keys = pd.DataFrame({"time": times.to_numpy(), "point": points.to_numpy()})
    repeated = keys.duplicated()
    if repeated.any():
        first = keys[repeated].iloc[0]
        msg = (f"{path}: {int(repeated.sum())} rows repeat a (date, point) pair, e.g. point "
               f"{first['point']} on {pd.Timestamp(first['time']).date()}. Merge or remove "
               "them.")
        raise ValueError(msg)
    data = {}
    for name in table.columns:
        wide = (pd.DataFrame({"time": keys["time"], "point": keys["point"],
                              "value": table[name].to_numpy(dtype=np.float64)})
                .pivot(index="time", columns="point", values="value").sort_index())
        values, unit = to_factor_units(wide.to_numpy(),
                                       units.get(name, KNOWN_FACTORS.get(name, ("",))[0]), name)
        data[name] = xr.DataArray(values, dims=("time", "point"),
                                  coords={"time": wide.index.to_numpy(),
                                          "point": wide.columns.to_numpy().astype(str)},
                                  attrs={**factor_attrs(name, unit), "role": "factor"})
    return xr.Dataset(data)


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


def _dim_coords(var: xr.DataArray) -> dict[str, np.ndarray]:
    """The coordinates along a variable's dims (not the scalar lat/lon of a chosen cell)."""
    return {d: var[d].values for d in var.dims if d in var.coords}


def _read_era5(path: Path, *, lat: float | None, lon: float | None,
               bbox: tuple[float, float, float, float] | None,
               units: Mapping[str, str] | None = None, rename: Mapping[str, str] | None = None,
               **open_kw: Any) -> xr.Dataset:
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
    point_col: str | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Read daily environmental factors from a CSV table or an ERA5-Land NetCDF file.

    Parameters
    ----------
    path
        A CSV with a date column and one column per factor (and, for per-point factors, a
        point column), or a NetCDF (hourly or daily, dims ``time``/``valid_time``, optionally
        ``latitude``/``longitude`` or ``point``) whose variables are ERA5-Land short names
        (``t2m``, ``tp``, ...) or data-model names (``air_temperature``, ``precipitation``,
        ...).
    format
        ``"csv"`` or ``"netcdf"`` (``"era5"`` is the same); by default from the suffix
        (``.csv``/``.txt`` or ``.nc``).
    units
        ``{name: units}`` after ``rename``. Columns named as data-model factors default to the
        contract's units (NetCDF: to their ``units`` attribute); any other column needs its
        units here.
    rename
        ``{column or variable: gler name}``, e.g. ``{"T2mMean": "air_temperature"}``.
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
    point_col
        CSV only: the point-id column of a long table of per-point factors (one row per date
        and point); by default a column named ``point``, ``pid`` or ``point_id``. The factors
        then have dims ``(time, point)`` (point ids as strings).
    **kwargs
        Passed to :func:`pandas.read_csv` or :func:`xarray.open_dataset`.

    Returns
    -------
    xarray.Dataset
        Daily factors on dim ``time`` (and ``point`` for per-point factors) in the data
        model's units: temperatures in °C (from K),
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
        format = "netcdf" if suffix in (".nc", ".nc4", ".netcdf") else (
            "csv" if suffix in (".csv", ".txt") else None)
    if format == "csv":
        ds = _read_csv(path, units=dict(units or {}), rename=dict(rename or {}),
                       date_col=date_col, columns=columns, date_format=date_format,
                       point_col=point_col, **kwargs)
        check_times(ds["time"].values, what=f"dates of {path}")
        if (pd.DatetimeIndex(ds["time"].values).normalize().duplicated()).any():
            logger.warning("%s: several values per day; averaged to daily values (summed for "
                           "precipitation)", path)
            ds = _to_daily(ds)
    elif format in ("era5", "netcdf"):
        ds = _read_era5(path, lat=lat, lon=lon, bbox=bbox, units=units, rename=rename,
                        **kwargs)
    else:
        msg = (f"Unknown factor format {format!r} for {path}; use format='csv' (a table with a "
               "date column) or format='netcdf' (ERA5-Land or data-model names).")
        raise ValueError(msg)
    times = check_times(ds["time"].values, what=f"daily factor dates of {path}")
    ds = ds.assign_coords(time=times.as_unit("ns"))
    ds = spread_to_daily(ds, what=str(path))
    ds.attrs.update(source=str(path), source_format=format)
    check_factors(ds, list(ds.data_vars), source=str(path))  # e.g. kelvin labelled °C
    return ds


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
