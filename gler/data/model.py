"""The one data model every reader, the simulator and the pipeline share.

A *stack* is an :class:`xarray.Dataset` with

- ``displacement``: float32, dims ``(time, y, x)`` (a grid) or ``(time, point)`` (scattered
  points), cumulative displacement in millimetres relative to the first date and a reference,
  NaN where there is no observation; attributes ``units="mm"``, ``long_name``.
- coordinates ``time`` (acquisition dates, ``datetime64[ns]``, strictly increasing), ``y``/``x``
  (projected metres or row/column numbers) or ``point``, and ``lat``/``lon`` (degrees) on the
  spatial dims when known.
- environmental factors (EFs) per acquisition: variables whose dims are exactly ``("time",)``
  (one value per scene, like reanalysis) or that carry the attribute ``role="factor"`` (for
  per-pixel factors with dims ``(time, y, x)``). Each has ``units`` and ``aggregation``
  (``"mean"`` or ``"sum"``) attributes.
- optional daily factors on their own dim ``day``, named ``<factor>_daily``.

Factor datasets (what the factor readers return) have one dim ``time`` at their native
sampling (daily, hourly aggregated to daily, or per acquisition).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

DISPLACEMENT = "displacement"
#: The CF grid-mapping variable of gler's gridded outputs (GDAL and QGIS read its WKT).
GRID_MAPPING = "spatial_ref"
GRID_DIMS = ("time", "y", "x")
POINT_DIMS = ("time", "point")
DAILY_SUFFIX = "_daily"
DAILY_DIM = "day"

#: Scale factors from a displacement unit to millimetres.
LENGTH_TO_MM = {"mm": 1.0, "millimeter": 1.0, "millimetre": 1.0, "millimeters": 1.0,
                "millimetres": 1.0, "cm": 10.0, "centimeter": 10.0, "centimetre": 10.0,
                "m": 1000.0, "meter": 1000.0, "metre": 1000.0, "meters": 1000.0,
                "metres": 1000.0}

DISPLACEMENT_ATTRS = {
    "units": "mm",
    "long_name": "cumulative surface displacement",
    "comment": "relative to the first acquisition and to the reference point; "
               "positive towards the satellite (uplift/heave), negative away (settlement)",
}


def to_millimetres(values: np.ndarray, units: str) -> np.ndarray:
    """Return ``values`` given in ``units`` (m, cm, mm and their spellings) in millimetres.

    Raises
    ------
    ValueError
        If ``units`` is not a known length unit.
    """
    key = str(units).strip().lower()
    if key not in LENGTH_TO_MM:
        msg = (f"Unknown displacement units {units!r}. Known: m, cm, mm (and their spellings). "
               "Set the 'units' attribute of the input or pass units= explicitly.")
        raise ValueError(msg)
    return np.asarray(values, dtype=np.float64) * LENGTH_TO_MM[key]


def displacement_variable(values: np.ndarray, units: str,
                          dims: tuple[str, ...]) -> xr.DataArray:
    """``values`` in ``units`` as the data model's ``displacement``: float32 mm with its attrs.

    A value too large for float32 becomes inf, which the plausibility checks then refuse as an
    outlier (see :mod:`gler.data.checks`).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mm = to_millimetres(values, units).astype(np.float32)
    return xr.DataArray(mm, dims=dims, attrs=dict(DISPLACEMENT_ATTRS))


_SLASHED = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2,4})$")


def parse_dates(values: Iterable, date_format: str | None = None, *, what: str = "dates",
                lines: Sequence[int] | None = None) -> pd.DatetimeIndex:
    """Dates from text: ISO 8601 (``2018-01-04``, ``20180104``, with or without a time), or
    ``date_format`` (a :func:`~datetime.datetime.strptime` format; ISO 8601 is still accepted).

    Day/month orders are never guessed: ``03/04/2018`` without ``date_format`` is refused with
    the two formats that would read it. Time zones are converted to UTC and dropped.

    Parameters
    ----------
    values
        Date strings (or YYYYMMDD integers).
    date_format
        E.g. ``"%d/%m/%Y"``; None for ISO 8601.
    what
        Where the dates come from, for messages (e.g. ``"points.csv column 'date'"``).
    lines
        The file line of each value, for messages.

    Raises
    ------
    ValueError
        Naming the first value that is not a date in that format (and its line), with the fix.

    Example
    -------
    >>> parse_dates(["2018-01-04", "20180116"]).strftime("%Y-%m-%d").tolist()
    ['2018-01-04', '2018-01-16']
    >>> parse_dates(["25/12/2018"], "%d/%m/%Y")[0].month
    12
    """
    strings = pd.Index([v.strip() if isinstance(v, str) else ("" if pd.isna(v) else str(v))
                        for v in values], dtype=object)
    fmt = "ISO8601" if date_format is None else date_format
    try:
        parsed = pd.to_datetime(strings, format=fmt, errors="coerce")
    except (ValueError, TypeError) as err:  # a format pandas cannot use
        msg = f"date format {date_format!r} (--date-format) is not usable: {err}."
        raise ValueError(msg) from None
    if date_format is not None and pd.isna(parsed).any():
        # ISO 8601 is unambiguous: always accepted, next to the given format.
        iso = pd.to_datetime(strings, format="ISO8601", errors="coerce")
        parsed = parsed.where(~pd.isna(parsed), iso)
    bad = np.flatnonzero(pd.isna(parsed))
    if len(bad):
        first = int(bad[0])
        where = f"{what}" + (f", line {lines[first]}" if lines is not None else "")
        value = strings[first]
        if value == "":
            msg = f"{where}: a date is missing. Fill it in or remove the row."
        elif date_format is not None:
            msg = (f"{where}: {value!r} is not a date in the format {date_format!r} "
                   "(--date-format). Fix the value or the format.")
        else:
            msg = f"{where}: {value!r} is not an ISO 8601 date (YYYY-MM-DD). " + _date_hint(
                [s for s in strings if s])
        raise ValueError(msg)
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index


def _date_hint(strings: Sequence[str]) -> str:
    """How to read day/month dates: which --date-format, without guessing the order."""
    found = [m for m in (_SLASHED.match(s) for s in strings) if m]
    if not found:
        return ("Write dates as YYYY-MM-DD, or pass their format with --date-format (e.g. "
                "'%d.%m.%Y'; date_format= in Python).")
    sep = found[0].group(2)
    year = "%Y" if len(found[0].group(4)) == 4 else "%y"
    day_first, month_first = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    day = next((m.group(0) for m in found if int(m.group(1)) > 12), None)
    if day:
        return (f"They look day-first ({day!r}: a first number above 12): "
                f"pass --date-format '{day_first}' (gler does not guess day/month order).")
    if any(int(m.group(3)) > 12 for m in found):
        return (f"They look month-first (a second number above 12): pass --date-format "
                f"'{month_first}' (gler does not guess day/month order).")
    example = found[0].group(0)
    return (f"Day and month are ambiguous in {example!r}: pass --date-format '{day_first}' "
            f"if it is day/month, or '{month_first}' if it is month/day (date_format= in "
            "Python).")


def check_times(times: Iterable, what: str = "acquisition dates") -> pd.DatetimeIndex:
    """Return ``times`` as a DatetimeIndex, refusing unsorted or duplicated dates by name."""
    index = pd.DatetimeIndex(pd.to_datetime(list(times)))
    duplicated = index[index.duplicated()]
    if len(duplicated):
        shown = ", ".join(str(d.date()) for d in duplicated.unique()[:10])
        msg = (f"The {what} contain duplicates: {shown}. Remove or merge the repeated dates "
               "before loading (no data are dropped silently).")
        raise ValueError(msg)
    if not index.is_monotonic_increasing:
        bad = np.flatnonzero(np.diff(index.asi8) < 0)
        shown = ", ".join(f"{index[i].date()} -> {index[i + 1].date()}" for i in bad[:5])
        msg = (f"The {what} are not sorted in increasing order (first out of order: {shown}). "
               "Sort the input by date.")
        raise ValueError(msg)
    return index


def factor_names(ds: xr.Dataset) -> list[str]:
    """Names of the per-acquisition environmental factors in a stack, in dataset order."""
    return [
        name for name, var in ds.data_vars.items()
        if name != DISPLACEMENT
        and "time" in var.dims
        and (var.dims == ("time",) or var.attrs.get("role") == "factor")
    ]


def spatial_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The spatial dims of the displacement: ``("y", "x")`` or ``("point",)``."""
    return tuple(d for d in ds[DISPLACEMENT].dims if d != "time")


def validate_stack(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` follows the data model and return it unchanged.

    Raises
    ------
    ValueError
        With what is wrong and how to fix it: missing ``displacement``, wrong dims, units other
        than mm, unsorted or duplicated dates.
    """
    if DISPLACEMENT not in ds:
        msg = (f"The dataset has no {DISPLACEMENT!r} variable (variables: "
               f"{', '.join(map(str, ds.data_vars)) or 'none'}). Read the file with "
               "gler.open_stack(), which converts known InSAR products.")
        raise ValueError(msg)
    dims = ds[DISPLACEMENT].dims
    if dims not in (GRID_DIMS, POINT_DIMS):
        msg = (f"{DISPLACEMENT!r} has dims {dims}; expected {GRID_DIMS} or {POINT_DIMS}. "
               "Transpose or rename the dims.")
        raise ValueError(msg)
    units = ds[DISPLACEMENT].attrs.get("units")
    if units != "mm":
        msg = (f"{DISPLACEMENT!r} has units {units!r}; the data model stores millimetres. "
               "Convert with gler.data.model.to_millimetres and set units='mm'.")
        raise ValueError(msg)
    check_times(ds["time"].values)
    return ds


def decimal_years(times: Iterable, origin: np.datetime64 | str | None = None) -> np.ndarray:
    """Time in years (365.25 days) since ``origin`` (default: the first of ``times``)."""
    # Work in nanoseconds whatever unit pandas picked (pandas 3 defaults to microseconds).
    t = pd.DatetimeIndex(pd.to_datetime(list(times))).as_unit("ns").asi8.astype(np.float64)
    t0 = t[0] if origin is None else float(pd.Timestamp(origin).as_unit("ns").value)
    return (t - t0) / (365.25 * 86400e9)


def stack_crs(ds: xr.Dataset) -> str | None:
    """The coordinate reference system of a grid's ``y``/``x`` (WKT or PROJ text): the
    dataset's ``crs`` attribute (QTR-sim), or the ``crs_wkt`` (or ``spatial_ref``) of the CF
    grid-mapping variable that its displacement (else its first variable that names one)
    names; None if it has neither."""
    if "crs" in ds.attrs:
        return str(ds.attrs["crs"])
    named = (ds[v].attrs.get("grid_mapping") for v in (DISPLACEMENT, *ds.data_vars) if v in ds)
    name = next((n for n in named if n), None)
    if name in ds.variables:
        return ds[name].attrs.get("crs_wkt") or ds[name].attrs.get("spatial_ref")
    return None


def with_grid_mapping(ds: xr.Dataset, crs: str | None) -> xr.Dataset:
    """``ds`` with the CF grid-mapping variable :data:`GRID_MAPPING` of ``crs`` (pyproj's CF
    attributes, with the WKT that GDAL reads as ``spatial_ref``), named by every variable on
    ``(y, x)``, so that GIS tools (QGIS) place the grid. Unchanged without a ``crs`` or for
    scattered points (they carry ``lat``/``lon``).

    Example
    -------
    >>> grid = xr.Dataset({"p": (("y", "x"), np.zeros((2, 2)))},
    ...                   coords={"y": [30.0, 0.0], "x": [0.0, 30.0]})
    >>> with_grid_mapping(grid, "EPSG:32646")["p"].attrs["grid_mapping"]
    'spatial_ref'
    """
    if crs is None or not {"y", "x"} <= set(ds.dims):
        return ds
    import pyproj

    parsed = pyproj.CRS.from_user_input(crs)
    attrs = {**parsed.to_cf(), "spatial_ref": parsed.to_wkt()}
    out = ds.assign_coords({GRID_MAPPING: xr.DataArray(np.int32(0), attrs=attrs)})
    for name, variable in out.data_vars.items():
        if {"y", "x"} <= set(variable.dims):
            out[name].attrs["grid_mapping"] = GRID_MAPPING
    return out
