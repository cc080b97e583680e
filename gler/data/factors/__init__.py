"""Environmental factors (EFs): read to daily values, then merged into a stack.

The result of :func:`open_factors` is a factor dataset: one dim ``time`` with one value per day,
variables named as in the data model (``air_temperature`` °C, ``ground_surface_temperature``
°C, ``precipitation`` mm per day, ``soil_moisture`` m³ m⁻³, ``snow_depth`` m, ...) with
``units``, ``long_name`` and ``aggregation`` attributes, ready for :func:`attach_factors`,
which aggregates them onto a stack's acquisition dates (:func:`gler.data.align.align_factors`)
and merges them in.

Modules: :mod:`~gler.data.factors.units` (names, units, conversions),
:mod:`~gler.data.factors.tables` (CSV), :mod:`~gler.data.factors.era5` (NetCDF),
:mod:`~gler.data.factors.daily` (the daily axis: resampling, spreading, covering a period) and
:mod:`~gler.data.factors.stack` (matching to a stack and merging into it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from gler.data.checks import check_factors
from gler.data.factors.daily import cover_period, resample_daily, spread_to_daily
from gler.data.factors.era5 import read_era5
from gler.data.factors.stack import (
    attach_factors,
    match_points,
    stack_centre,
    use_spatial_factors,
)
from gler.data.factors.tables import read_table
from gler.data.factors.units import ERA5_NAMES, KNOWN_FACTORS, factor_attrs, to_factor_units
from gler.data.model import check_times

logger = logging.getLogger(__name__)

__all__ = [
    "ERA5_NAMES",
    "KNOWN_FACTORS",
    "attach_factors",
    "cover_period",
    "factor_attrs",
    "factor_format",
    "match_points",
    "open_factors",
    "spread_to_daily",
    "stack_centre",
    "to_factor_units",
    "use_spatial_factors",
]


def factor_format(path: str | Path) -> str | None:
    """``"netcdf"`` or ``"csv"`` from a factor file's suffix (None: neither)."""
    suffix = Path(path).suffix.lower()
    return "netcdf" if suffix in (".nc", ".nc4", ".netcdf") else (
        "csv" if suffix in (".csv", ".txt") else None)


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
        format = factor_format(path)
    if format == "csv":
        ds = read_table(path, units=dict(units or {}), rename=dict(rename or {}),
                        date_col=date_col, columns=columns, date_format=date_format,
                        point_col=point_col, **kwargs)
        check_times(ds["time"].values, what=f"dates of {path}")
        if (pd.DatetimeIndex(ds["time"].values).normalize().duplicated()).any():
            logger.warning("%s: several values per day; averaged to daily values (summed for "
                           "precipitation)", path)
            ds = resample_daily(ds)
    elif format in ("era5", "netcdf"):
        ds = read_era5(path, lat=lat, lon=lon, bbox=bbox, units=units, rename=rename, **kwargs)
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

