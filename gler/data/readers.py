"""Readers that turn InSAR time-series products into the gler stack (see :mod:`gler.data.model`).

One entry point, :func:`open_stack`, detects the format from the file (or takes ``format=``):

========== ======================================================= ======================
format     what                                                     stored units
========== ======================================================= ======================
mintpy     MintPy ``timeseries.h5``: ``timeseries`` [time, y, x],    metres (``UNIT``)
           ``date`` (b"YYYYMMDD"), attrs ``REF_Y``/``REF_X``, and
           ``X_FIRST``/``X_STEP``/``Y_FIRST``/``Y_STEP`` if geocoded
licsbas    LiCSBAS ``cum.h5``: ``cum`` [time, y, x], ``imdates``     mm
           (int YYYYMMDD), ``corner_lat``/``corner_lon``,
           ``post_lat``/``post_lon``, ``refarea``
egms       EGMS CSV: one row per point (``pid``, ``latitude``,       mm
           ``longitude``, ...), one column per date (``20180104``)
csv-wide   a table with point rows and date columns                  ``units=`` (required)
csv-long   a table with point, date and value columns                ``units=`` (required)
netcdf     NetCDF already in the data model (validated)              mm
zarr       Zarr already in the data model (validated)                mm
========== ======================================================= ======================

Grids keep their NaN pixels (masking is the caller's choice, and dropping pixels would break the
grid); point tables drop points that have no value at all, with a warning that gives the count.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.model import DISPLACEMENT, DISPLACEMENT_ATTRS, check_times, to_millimetres
from gler.data.model import validate_stack as _validate

logger = logging.getLogger(__name__)

FORMATS = ("mintpy", "licsbas", "egms", "csv-wide", "csv-long", "netcdf", "zarr")
_DATE_COLUMN = re.compile(r"^\d{8}$|^\d{4}-\d{2}-\d{2}$")
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "long", "longitude")
_POINT_NAMES = ("pid", "point", "point_id", "id", "name")
_TIME_NAMES = ("date", "time", "datetime")
_VALUE_NAMES = ("displacement", "value", "disp", "los")


def detect_format(path: str | Path) -> str:
    """The format of an InSAR product, from its name and first bytes.

    Raises
    ------
    ValueError
        If the file matches none of :data:`FORMATS` (pass ``format=`` to :func:`open_stack`).
    """
    path = Path(path)
    suffixes = "".join(path.suffixes).lower()
    if path.suffix.lower() == ".zarr" or (path.is_dir() and (path / "zarr.json").exists()) or (
            path.is_dir() and (path / ".zgroup").exists()):
        return "zarr"
    if path.suffix.lower() in (".h5", ".he5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if "timeseries" in f:
                return "mintpy"
            if "cum" in f:
                return "licsbas"
            found = ", ".join(f.keys())
        msg = (f"{path} is HDF5 but neither a MintPy timeseries (dataset 'timeseries') nor a "
               f"LiCSBAS cum.h5 (dataset 'cum'); it holds: {found}. Pass format= explicitly.")
        raise ValueError(msg)
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf", ".cdf"):
        return "netcdf"
    if ".csv" in suffixes or path.suffix.lower() in (".txt", ".tsv"):
        columns = [c.strip() for c in pd.read_csv(path, nrows=0, sep=None, engine="python")
                   .columns]
        dates = [c for c in columns if _DATE_COLUMN.match(c)]
        lower = [c.lower() for c in columns]
        if dates and "pid" in lower:
            return "egms"
        if len(dates) >= 2:
            return "csv-wide"
        if any(c in _TIME_NAMES for c in lower):
            return "csv-long"
        msg = (f"{path} is a table, but its columns ({', '.join(columns[:12])}) have neither date "
               "columns like 20180104 (wide layout) nor a 'date' column (long layout). Rename "
               "the columns or pass format='csv-long' with date_col=/value_col=/point_col=.")
        raise ValueError(msg)
    msg = (f"Cannot tell the format of {path}. Known formats: {', '.join(FORMATS)}; pass "
           "format= explicitly.")
    raise ValueError(msg)


def _displacement(values: np.ndarray, units: str, dims: tuple[str, ...]) -> xr.DataArray:
    mm = to_millimetres(values, units).astype(np.float32)
    return xr.DataArray(mm, dims=dims, attrs=dict(DISPLACEMENT_ATTRS))


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_mintpy(path: Path, *, units: str | None = None,
                 geometry: str | Path | None = None) -> xr.Dataset:
    import h5py

    with h5py.File(path, "r") as f:
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        values = f["timeseries"][()]
        times = check_times(pd.to_datetime([_decode(d) for d in f["date"][()]], format="%Y%m%d"))
    # MintPy writes displacement in metres (UNIT = "m"); honour UNIT when it says otherwise.
    unit = units or attrs.get("UNIT", "m")
    _, ny, nx = values.shape
    ds = xr.Dataset({DISPLACEMENT: _displacement(values, unit, ("time", "y", "x"))},
                    coords={"time": times, "y": np.arange(ny), "x": np.arange(nx)})
    if geometry is not None:
        with h5py.File(geometry, "r") as g:
            ds = ds.assign_coords(lat=(("y", "x"), g["latitude"][()]),
                                  lon=(("y", "x"), g["longitude"][()]))
    elif "X_FIRST" in attrs:
        # X_FIRST/Y_FIRST are the outer corner of the first pixel; coordinates are its centre.
        x0, dx = float(attrs["X_FIRST"]), float(attrs["X_STEP"])
        y0, dy = float(attrs["Y_FIRST"]), float(attrs["Y_STEP"])
        ds = ds.assign_coords(lat=("y", y0 + (np.arange(ny) + 0.5) * dy),
                              lon=("x", x0 + (np.arange(nx) + 0.5) * dx))
    for key in ("REF_Y", "REF_X"):
        if key in attrs:
            ds.attrs[f"reference_{key[-1].lower()}"] = int(attrs[key])
    for key in ("REF_LAT", "REF_LON", "PLATFORM", "ORBIT_DIRECTION"):
        if key in attrs:
            ds.attrs[key.lower()] = attrs[key]
    return ds


def _read_licsbas(path: Path, *, units: str | None = None) -> xr.Dataset:
    import h5py

    with h5py.File(path, "r") as f:
        values = f["cum"][()]
        times = check_times(pd.to_datetime(f["imdates"][()].astype(str), format="%Y%m%d"))
        geo = {k: float(f[k][()]) for k in ("corner_lat", "corner_lon", "post_lat", "post_lon")
               if k in f}
        refarea = _decode(f["refarea"][()]) if "refarea" in f else None
    _, ny, nx = values.shape
    ds = xr.Dataset({DISPLACEMENT: _displacement(values, units or "mm", ("time", "y", "x"))},
                    coords={"time": times, "y": np.arange(ny), "x": np.arange(nx)})
    if len(geo) == 4:
        # LiCSBAS corner_lat/lon is the centre of the first (north-west) pixel; post_lat < 0.
        ds = ds.assign_coords(lat=("y", geo["corner_lat"] + np.arange(ny) * geo["post_lat"]),
                              lon=("x", geo["corner_lon"] + np.arange(nx) * geo["post_lon"]))
    if refarea:
        # "x1:x2/y1:y2" in pixels, end exclusive.
        ds.attrs["reference_area"] = refarea
    return ds


def _lookup(columns: list[str], names: tuple[str, ...], given: str | None) -> str | None:
    if given is not None:
        if given not in columns:
            msg = f"Column {given!r} is not in the table (columns: {', '.join(columns[:20])})."
            raise ValueError(msg)
        return given
    return next((c for c in columns if c.strip().lower() in names), None)


def _points(values: np.ndarray, table: pd.DataFrame, times: pd.DatetimeIndex, units: str,
            point_col: str | None, path: Path) -> xr.Dataset:
    """A (time, point) stack from a [point, time] array plus per-point columns of ``table``."""
    columns = list(table.columns)
    pid = _lookup(columns, _POINT_NAMES, point_col)
    lat = _lookup(columns, _LAT_NAMES, None)
    lon = _lookup(columns, _LON_NAMES, None)
    points = table[pid].to_numpy() if pid else np.arange(len(table))
    if pd.Index(points).has_duplicates:
        msg = (f"{path}: point ids in column {pid!r} repeat "
               f"({', '.join(map(str, pd.Index(points)[pd.Index(points).duplicated()][:5]))}). "
               "Each point must appear once.")
        raise ValueError(msg)
    ds = xr.Dataset({DISPLACEMENT: _displacement(values.T, units, ("time", "point"))},
                    coords={"time": times, "point": points})
    if lat and lon:
        ds = ds.assign_coords(lat=("point", table[lat].to_numpy(float)),
                              lon=("point", table[lon].to_numpy(float)))
    for col in columns:
        if col not in (pid, lat, lon) and pd.api.types.is_numeric_dtype(table[col]):
            ds[col] = ("point", table[col].to_numpy())
    empty = ds[DISPLACEMENT].isnull().all("time").values
    if empty.any():
        warnings.warn(f"{path}: dropped {int(empty.sum())} of {empty.size} points that have no "
                      "displacement value at any date.", stacklevel=3)
        ds = ds.isel(point=~empty)
    return ds


def _read_wide(path: Path, *, units: str | None, point_col: str | None = None,
               fmt: str = "csv-wide", **read_kw: Any) -> xr.Dataset:
    if units is None and fmt == "csv-wide":
        msg = (f"{path}: a generic CSV does not state its units; pass units='mm' (or 'cm', 'm') "
               "to open_stack.")
        raise ValueError(msg)
    table = pd.read_csv(path, **read_kw)
    table.columns = [str(c).strip() for c in table.columns]
    date_cols = [c for c in table.columns if _DATE_COLUMN.match(c)]
    times = check_times(pd.to_datetime(date_cols, format="mixed"), what=f"date columns of {path}")
    values = table[date_cols].to_numpy(dtype=np.float64)
    return _points(values, table.drop(columns=date_cols), times, units or "mm", point_col, path)


def _read_long(path: Path, *, units: str | None, point_col: str | None = None,
               date_col: str | None = None, value_col: str | None = None,
               **read_kw: Any) -> xr.Dataset:
    if units is None:
        msg = (f"{path}: a generic CSV does not state its units; pass units='mm' (or 'cm', 'm') "
               "to open_stack.")
        raise ValueError(msg)
    table = pd.read_csv(path, **read_kw)
    columns = list(table.columns)
    date_col = _lookup(columns, _TIME_NAMES, date_col)
    value_col = _lookup(columns, _VALUE_NAMES, value_col)
    point_col = _lookup(columns, _POINT_NAMES, point_col)
    if date_col is None or value_col is None:
        msg = (f"{path}: a long table needs a date and a value column (found columns "
               f"{', '.join(columns)}); pass date_col= and value_col=.")
        raise ValueError(msg)
    table[date_col] = pd.to_datetime(table[date_col], format="mixed")
    if point_col is None:
        table["point"] = 0
        point_col = "point"
    keys = table[[point_col, date_col]]
    if keys.duplicated().any():
        first = table.loc[keys.duplicated(), [point_col, date_col]].iloc[0]
        msg = (f"{path}: {int(keys.duplicated().sum())} rows repeat a (point, date) pair, e.g. "
               f"point {first[point_col]} on {first[date_col].date()}. Merge or remove them.")
        raise ValueError(msg)
    wide = table.pivot(index=point_col, columns=date_col, values=value_col).sort_index(axis=1)
    times = check_times(wide.columns, what=f"dates of {path}")
    extra = table.drop(columns=[date_col, value_col]).groupby(point_col, sort=True).first()
    extra = extra.loc[wide.index].reset_index()
    return _points(wide.to_numpy(dtype=np.float64), extra, times, units, point_col, path)


def _read_dataset(path: Path, *, fmt: str, **open_kw: Any) -> xr.Dataset:
    ds = xr.open_zarr(path, **open_kw) if fmt == "zarr" else xr.open_dataset(path, **open_kw)
    return _validate(ds)


def open_stack(path: str | Path, format: str | None = None, *, units: str | None = None,
               **kwargs: Any) -> xr.Dataset:
    """Read an InSAR displacement time series into a gler stack.

    Parameters
    ----------
    path
        The product: MintPy ``timeseries.h5``, LiCSBAS ``cum.h5``, an EGMS CSV, a wide or long
        CSV table, or a NetCDF/Zarr store already in the data model.
    format
        One of :data:`FORMATS`; detected from the file when omitted (see :func:`detect_format`).
    units
        Units of the stored displacement (``"m"``, ``"cm"``, ``"mm"``), required for generic
        CSV tables; for MintPy the file's ``UNIT`` attribute (metres) is the default, LiCSBAS
        and EGMS store mm.
    **kwargs
        Format options: ``geometry=`` (MintPy geometry file with ``latitude``/``longitude``),
        ``point_col=``, ``date_col=``, ``value_col=`` (tables; other keywords go to
        :func:`pandas.read_csv`), or keywords of :func:`xarray.open_dataset` /
        :func:`xarray.open_zarr`.

    Returns
    -------
    xarray.Dataset
        ``displacement`` float32 mm with dims (time, y, x) for grids (NaN pixels kept) or
        (time, point) for point tables (points without any value dropped, with a warning);
        ``lat``/``lon`` coordinates when the product has them; MintPy's reference pixel as
        attrs ``reference_y``/``reference_x``, LiCSBAS's as ``reference_area``.

    Raises
    ------
    ValueError
        Unknown format or units, unsorted or duplicated dates, a table without the needed
        columns, or a NetCDF/Zarr store not in the data model.

    Example
    -------
    >>> stack = open_stack("timeseries.h5")  # doctest: +SKIP
    >>> stack["displacement"].dims  # doctest: +SKIP
    ('time', 'y', 'x')
    """
    path = Path(path)
    if not path.exists():
        msg = f"No such file: {path}"
        raise FileNotFoundError(msg)
    fmt = detect_format(path) if format is None else format
    if fmt not in FORMATS:
        msg = f"Unknown format {fmt!r}. Known formats: {', '.join(FORMATS)}."
        raise ValueError(msg)
    if fmt == "mintpy":
        ds = _read_mintpy(path, units=units, **kwargs)
    elif fmt == "licsbas":
        ds = _read_licsbas(path, units=units, **kwargs)
    elif fmt in ("egms", "csv-wide"):
        ds = _read_wide(path, units=units, fmt=fmt, **kwargs)
    elif fmt == "csv-long":
        ds = _read_long(path, units=units, **kwargs)
    else:
        if units is not None:
            msg = (f"units= does not apply to {fmt}: a store in the data model is in mm "
                   "already.")
            raise ValueError(msg)
        return _read_dataset(path, fmt=fmt, **kwargs)
    # The data model's dates are datetime64[ns] (pandas 3 would otherwise give us or s).
    ds = ds.assign_coords(time=ds.indexes["time"].as_unit("ns"))
    ds.attrs.update(source=str(path), source_format=fmt)
    logger.info("read %s (%s): %s", path, fmt, dict(ds[DISPLACEMENT].sizes))
    return _validate(ds)

