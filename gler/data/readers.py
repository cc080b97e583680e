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
egms       EGMS CSV: one row per point (``pid``, ``mp_type``,        mm
           ``latitude``, ``longitude``, ...), one column per date
           (``20180104``); detected only with both ``pid`` and
           ``mp_type``, else a generic ``csv-wide`` (units needed)
csv-wide   a table with point rows and date columns                  ``units=`` (required)
csv-long   a table with point, date and value columns                ``units=`` (required)
netcdf     NetCDF already in the data model (validated)              mm
zarr       Zarr already in the data model (validated)                mm
========== ======================================================= ======================

Grids keep their NaN pixels (masking is the caller's choice, and dropping pixels would break the
grid); point tables drop points that have no value at all, with a warning that gives the count.

Nothing is read on trust: dates are ISO 8601 unless ``date_format=`` says otherwise (day/month
order is never guessed); a table whose rows and header differ in length, that is separated by
``;`` or holds a cell that is not a number is refused with file, line and column; the units a
format implies are stated in one log line; and every stack passes the plausibility checks of
:mod:`gler.data.checks` (outliers, units that look wrong, temperatures in kelvin).
"""

from __future__ import annotations

import csv
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.checks import OUTLIER_MODES, check_displacement, check_factors
from gler.data.model import (
    DISPLACEMENT,
    DISPLACEMENT_ATTRS,
    LENGTH_TO_MM,
    check_times,
    parse_dates,
    to_millimetres,
)
from gler.data.model import validate_stack as _validate

logger = logging.getLogger(__name__)

FORMATS = ("mintpy", "licsbas", "egms", "csv-wide", "csv-long", "netcdf", "zarr")
_DATE_COLUMN = re.compile(r"^\d{8}$|^\d{4}-\d{1,2}-\d{1,2}$|^\d{4}/\d{1,2}/\d{1,2}$"
                          r"|^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}$")
#: Columns only EGMS products have (with ``pid``): what tells an EGMS file from any point table.
_EGMS_COLUMNS = ("mp_type",)
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
        columns = _header(path)
        dates = [c for c in columns if _DATE_COLUMN.match(c)]
        lower = [c.lower() for c in columns]
        if dates and "pid" in lower and all(c in lower for c in _EGMS_COLUMNS):
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


def _header(path: Path) -> list[str]:
    """The column names of a table: its first non-empty line, split at ',', ';' or tabs."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            line = next((row for row in stream if row.strip()), "")
    except UnicodeDecodeError:
        msg = f"{path} is not a text file in utf-8; is it really a CSV table?"
        raise ValueError(msg) from None
    sep = max((",", ";", "\t"), key=line.count)
    return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]


def _displacement(values: np.ndarray, units: str, dims: tuple[str, ...]) -> xr.DataArray:
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is an outlier, refused later
        mm = to_millimetres(values, units).astype(np.float32)
    return xr.DataArray(mm, dims=dims, attrs=dict(DISPLACEMENT_ATTRS))


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _require(f: Any, path: Path, names: tuple[str, ...], product: str) -> None:
    """Refuse an HDF5 file that lacks the datasets of ``product`` (it is another product)."""
    missing = [n for n in names if n not in f]
    if missing:
        msg = (f"{path} is not a {product}: it has no dataset {', '.join(map(repr, missing))} "
               f"(it holds: {', '.join(f.keys()) or 'nothing'}). Check the file, or --format.")
        raise ValueError(msg)


def _read_mintpy(path: Path, *, units: str | None = None,
                 geometry: str | Path | None = None) -> tuple[xr.Dataset, str]:
    import h5py

    with h5py.File(path, "r") as f:
        _require(f, path, ("timeseries", "date"), "MintPy timeseries.h5")
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        values = f["timeseries"][()]
        times = check_times(parse_dates([_decode(d) for d in f["date"][()]],
                                        what=f"{path} dataset 'date'"))
    if values.ndim != 3 or values.shape[0] != len(times):
        msg = (f"{path}: 'timeseries' has shape {values.shape}; expected (time, y, x) with "
               f"{len(times)} dates (one per entry of 'date').")
        raise ValueError(msg)
    # MintPy writes displacement in metres (UNIT = "m"); honour UNIT when it says otherwise.
    unit = units or attrs.get("UNIT", "m")
    note = ("the --units given" if units else "the file's UNIT attribute" if "UNIT" in attrs
            else "MintPy's convention (no UNIT attribute)")
    _, ny, nx = values.shape
    ds = xr.Dataset({DISPLACEMENT: _displacement(values, unit, ("time", "y", "x"))},
                    coords={"time": times, "y": np.arange(ny), "x": np.arange(nx)})
    if geometry is not None:
        with h5py.File(geometry, "r") as g:
            _require(g, Path(geometry), ("latitude", "longitude"), "MintPy geometry file")
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
    return ds, f"{unit} ({note})"


def _read_licsbas(path: Path, *, units: str | None = None) -> tuple[xr.Dataset, str]:
    import h5py

    with h5py.File(path, "r") as f:
        _require(f, path, ("cum", "imdates"), "LiCSBAS cum.h5")
        values = f["cum"][()]
        times = check_times(parse_dates(f["imdates"][()].astype(str),
                                        what=f"{path} dataset 'imdates'"))
        geo = {k: float(f[k][()]) for k in ("corner_lat", "corner_lon", "post_lat", "post_lon")
               if k in f}
        refarea = _decode(f["refarea"][()]) if "refarea" in f else None
    if values.ndim != 3 or values.shape[0] != len(times):
        msg = (f"{path}: 'cum' has shape {values.shape}; expected (time, y, x) with "
               f"{len(times)} dates (one per entry of 'imdates').")
        raise ValueError(msg)
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
    return ds, f"{units} (the --units given)" if units else "mm (LiCSBAS's convention)"


def _lookup(columns: list[str], names: tuple[str, ...], given: str | None) -> str | None:
    if given is not None:
        if given not in columns:
            msg = f"Column {given!r} is not in the table (columns: {', '.join(columns[:20])})."
            raise ValueError(msg)
        return given
    return next((c for c in columns if c.strip().lower() in names), None)


class _Table:
    """A CSV read after checking its shape: ``frame`` plus the file line of each row."""

    def __init__(self, path: Path, read_kw: dict[str, Any]) -> None:
        self.path = path
        if "sep" in read_kw or "delimiter" in read_kw:  # the caller knows the layout
            self.frame = pd.read_csv(path, **read_kw)
            self.lines = list(range(2, len(self.frame) + 2))
            return
        sep, self.lines = _scan_csv(path, read_kw.get("encoding") or "utf-8")
        self.frame = pd.read_csv(path, sep=sep, skip_blank_lines=True, **read_kw)
        self.frame.columns = [str(c).strip() for c in self.frame.columns]
        if len(self.lines) != len(self.frame):  # quoting pandas reads otherwise: no line numbers
            self.lines = list(range(2, len(self.frame) + 2))

    def numbers(self, columns: list[str]) -> np.ndarray:
        """``columns`` as float64 [rows, columns]; a cell that is not a number is refused."""
        out = np.empty((len(self.frame), len(columns)), dtype=np.float64)
        for j, col in enumerate(columns):
            series = self.frame[col]
            if pd.api.types.is_bool_dtype(series) or not (
                    pd.api.types.is_numeric_dtype(series)):
                numeric = pd.to_numeric(series, errors="coerce")
                bad = np.flatnonzero(numeric.isna().to_numpy() & series.notna().to_numpy())
                if pd.api.types.is_bool_dtype(series) or len(bad):
                    row = int(bad[0]) if len(bad) else 0
                    cell = str(series.iloc[row])
                    hint = (" It uses a decimal comma: gler reads '.' decimals (convert the "
                            "file, e.g. pandas.read_csv(path, sep=';', decimal=',').to_csv(...))."
                            if re.fullmatch(r"\s*-?\d+,\d*\s*", cell) else
                            " Use numbers with '.' decimals, or leave the cell empty for no value.")
                    msg = (f"{self.path}, line {self.lines[row]}, column {col!r}: {cell!r} is "
                           f"not a number.{hint}")
                    raise ValueError(msg)
                series = numeric
            out[:, j] = series.to_numpy(dtype=np.float64)
        return out


def _scan_csv(path: Path, encoding: str) -> tuple[str, list[int]]:
    """The separator of a CSV and the line of each data row, refusing what pandas would shift.

    Raises
    ------
    ValueError
        A file that is not text, separated by ';', with repeated column names, or with a row
        whose number of fields differs from the header's (naming the line).
    """
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    lines: list[int] = []
    try:
        with open(path, newline="", encoding=encoding) as stream:
            header_line = ""
            for header_line in stream:
                if header_line.strip():
                    break
            if sep == "," and "," not in header_line:
                if ";" in header_line:
                    msg = (f"{path}, line 1: the columns are separated by ';' (a European "
                           "spreadsheet export, often with decimal commas); gler reads comma-"
                           "separated tables with '.' decimals. Convert it, e.g. pandas.read_csv("
                           "path, sep=';', decimal=',').to_csv(new_path, index=False).")
                    raise ValueError(msg)
                if "\t" in header_line:
                    sep = "\t"
            stream.seek(0)
            reader = csv.reader(stream, delimiter=sep)
            header: list[str] | None = None
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [c.strip() for c in row]
                    repeated = sorted({c for c in header if header.count(c) > 1})
                    if repeated:
                        msg = (f"{path}, line {reader.line_num}: the column names "
                               f"{', '.join(map(repr, repeated))} appear more than once; each "
                               "column needs its own name.")
                        raise ValueError(msg)
                    continue
                if len(row) != len(header):
                    shown = "one column shifted" if abs(len(row) - len(header)) == 1 else (
                        "columns shifted")
                    msg = (f"{path}, line {reader.line_num}: {len(row)} fields, but the header "
                           f"(line 1) names {len(header)} columns ({', '.join(header[:6])}"
                           f"{', ...' if len(header) > 6 else ''}); reading it would leave "
                           f"{shown}. Fix the header or that row (a decimal comma, or a "
                           "missing or extra column?).")
                    raise ValueError(msg)
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        msg = f"{path} is not a text file in {encoding}; is it really a CSV table?"
        raise ValueError(msg) from None
    except csv.Error as err:
        msg = f"{path}: not a readable CSV table ({err})."
        raise ValueError(msg) from None
    return sep, lines


def _points(values: np.ndarray, table: _Table, keep: pd.DataFrame, times: pd.DatetimeIndex,
            units: str, point_col: str | None) -> xr.Dataset:
    """A (time, point) stack from a [point, time] array plus per-point columns of ``keep``."""
    path = table.path
    columns = list(keep.columns)
    pid = _lookup(columns, _POINT_NAMES, point_col)
    lat = _lookup(columns, _LAT_NAMES, None)
    lon = _lookup(columns, _LON_NAMES, None)
    points = keep[pid].to_numpy() if pid else np.arange(len(keep))
    if pd.Index(points).has_duplicates:
        msg = (f"{path}: point ids in column {pid!r} repeat "
               f"({', '.join(map(str, pd.Index(points)[pd.Index(points).duplicated()][:5]))}). "
               "Each point must appear once.")
        raise ValueError(msg)
    if pd.isna(pd.Index(points)).any():
        msg = f"{path}: a point id in column {pid!r} is empty; give every point an id."
        raise ValueError(msg)
    ds = xr.Dataset({DISPLACEMENT: _displacement(values.T, units, ("time", "point"))},
                    coords={"time": times, "point": points})
    if lat and lon:
        sub = _Table.__new__(_Table)
        sub.path, sub.frame, sub.lines = path, keep, table.lines
        lat_lon = sub.numbers([lat, lon])
        ds = ds.assign_coords(lat=("point", lat_lon[:, 0]), lon=("point", lat_lon[:, 1]))
    for col in columns:
        if col not in (pid, lat, lon) and pd.api.types.is_numeric_dtype(keep[col]):
            ds[col] = ("point", keep[col].to_numpy())
    empty = ds[DISPLACEMENT].isnull().all("time").values
    if empty.size and empty.all():
        msg = (f"{path}: no point has a displacement value at any date (every cell is empty "
               "or NaN); nothing can be trained or forecast. Check the file.")
        raise ValueError(msg)
    if empty.any():
        warnings.warn(f"{path}: dropped {int(empty.sum())} of {empty.size} points that have no "
                      "displacement value at any date.", stacklevel=3)
        ds = ds.isel(point=~empty)
    return ds


_NO_UNITS = ("{path}: a {kind} CSV does not state its units; pass units='mm' (or 'cm', 'm'). "
             "Only format='egms' implies mm.")


def _read_wide(path: Path, *, units: str | None, point_col: str | None = None,
               fmt: str = "csv-wide", date_format: str | None = None,
               **read_kw: Any) -> tuple[xr.Dataset, str]:
    if units is None and fmt == "csv-wide":
        raise ValueError(_NO_UNITS.format(path=path, kind="generic point"))
    table = _Table(path, read_kw)
    if date_format is not None:
        date_cols = [c for c in table.frame.columns if _DATE_COLUMN.match(c)
                     or not pd.isna(pd.to_datetime(c, format=date_format, errors="coerce"))]
    else:
        date_cols = [c for c in table.frame.columns if _DATE_COLUMN.match(c)]
    if len(date_cols) < 2:
        msg = (f"{path}: a wide table needs one column per date (e.g. 20180104 or 2018-01-04); "
               f"found {len(date_cols)} among {', '.join(list(table.frame.columns)[:12])}. "
               "Rename the columns, pass --date-format for other date spellings, or use a long "
               "table (point, date, value).")
        raise ValueError(msg)
    times = check_times(parse_dates(date_cols, date_format, what=f"date columns of {path}"),
                        what=f"date columns of {path}")
    values = table.numbers(date_cols)
    ds = _points(values, table, table.frame.drop(columns=date_cols), times, units or "mm",
                 point_col)
    note = f"{units} (the --units given)" if units else "mm (the EGMS convention)"
    return ds, note


def _read_long(path: Path, *, units: str | None, point_col: str | None = None,
               date_col: str | None = None, value_col: str | None = None,
               date_format: str | None = None, **read_kw: Any) -> tuple[xr.Dataset, str]:
    if units is None:
        raise ValueError(_NO_UNITS.format(path=path, kind="long"))
    table = _Table(path, read_kw)
    frame = table.frame
    columns = list(frame.columns)
    date_col = _lookup(columns, _TIME_NAMES, date_col)
    value_col = _lookup(columns, _VALUE_NAMES, value_col)
    given_point = point_col
    point_col = _lookup(columns, _POINT_NAMES, point_col)
    if date_col is None or value_col is None:
        msg = (f"{path}: a long table needs a date and a value column (found columns "
               f"{', '.join(columns)}); name them date and displacement (or pass date_col= and "
               "value_col= in Python).")
        raise ValueError(msg)
    frame = frame.copy()
    frame[date_col] = parse_dates(frame[date_col], date_format,
                                  what=f"{path} column {date_col!r}", lines=table.lines)
    frame[value_col] = table.numbers([value_col])[:, 0]
    if point_col is None:
        frame["point"] = 0
        point_col = "point"
    keys = frame[[point_col, date_col]]
    if keys.duplicated().any():
        first = frame.loc[keys.duplicated(), [point_col, date_col]].iloc[0]
        if given_point is None and point_col == "point" and "point" not in columns:
            msg = (f"{path}: the date {first[date_col].date()} appears on several rows, and the "
                   f"table has no point column (looked for {', '.join(_POINT_NAMES)} among "
                   f"{', '.join(columns)}). Name the column that identifies the points 'point' "
                   "(point_col= in Python).")
        else:
            msg = (f"{path}: {int(keys.duplicated().sum())} rows repeat a (point, date) pair, "
                   f"e.g. point {first[point_col]} on {first[date_col].date()}. Merge or remove "
                   "them.")
        raise ValueError(msg)
    wide = frame.pivot(index=point_col, columns=date_col, values=value_col).sort_index(axis=1)
    times = check_times(wide.columns, what=f"dates of {path}")
    extra = frame.drop(columns=[date_col, value_col]).groupby(point_col, sort=True).first()
    extra = extra.loc[wide.index].reset_index()
    ds = _points(wide.to_numpy(dtype=np.float64), table, extra, times, units, point_col)
    return ds, f"{units} (the --units given)"


def _read_dataset(path: Path, *, fmt: str, units: str | None = None,
                  **open_kw: Any) -> tuple[xr.Dataset, str]:
    ds = xr.open_zarr(path, **open_kw) if fmt == "zarr" else xr.open_dataset(path, **open_kw)
    stated = ds[DISPLACEMENT].attrs.get("units") if DISPLACEMENT in ds else None
    if units is not None and LENGTH_TO_MM.get(str(units).strip().lower()) != 1.0:
        msg = (f"--units {units} does not apply to {fmt}: a store in the data model is in mm "
               "already (--units mm only confirms it). Convert the displacement to mm and set "
               "its units attribute.")
        raise ValueError(msg)
    try:
        ds = _validate(ds)
    except ValueError as err:
        msg = f"{path}: {err}"
        raise ValueError(msg) from None
    return ds, f"{stated} (the file's units attribute)"


def open_stack(path: str | Path, format: str | None = None, *, units: str | None = None,
               date_format: str | None = None, outliers: str = "error",
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
        and EGMS store mm. For NetCDF/Zarr only ``"mm"``, which confirms tiny displacements
        that would otherwise look like metres labelled mm.
    date_format
        ``strptime`` format of the dates of a CSV table (e.g. ``"%d/%m/%Y"``); default ISO 8601.
        Day/month orders are never guessed. Other formats define their dates (ignored).
    outliers
        ``"error"`` (default) refuses displacements no ground motion produces (see
        :mod:`gler.data.checks`); ``"mask"`` sets single-date outliers to NaN.
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
        Unknown format or units, dates that are not ISO 8601 (or ``date_format``), unsorted or
        duplicated dates, a table without the needed columns or with rows that do not fit its
        header (file, line, column named), implausible values (outliers, units that look wrong,
        temperatures in kelvin), or a NetCDF/Zarr store not in the data model.

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
    if outliers not in OUTLIER_MODES:
        msg = f"outliers={outliers!r} (--outliers): use one of {', '.join(OUTLIER_MODES)}."
        raise ValueError(msg)
    fmt = detect_format(path) if format is None else format
    if fmt not in FORMATS:
        msg = f"Unknown format {fmt!r}. Known formats: {', '.join(FORMATS)}."
        raise ValueError(msg)
    table_kw = {"date_format": date_format} if fmt in ("egms", "csv-wide", "csv-long") else {}
    try:
        if fmt == "mintpy":
            ds, assumed = _read_mintpy(path, units=units, **kwargs)
        elif fmt == "licsbas":
            ds, assumed = _read_licsbas(path, units=units, **kwargs)
        elif fmt in ("egms", "csv-wide"):
            ds, assumed = _read_wide(path, units=units, fmt=fmt, **table_kw, **kwargs)
        elif fmt == "csv-long":
            ds, assumed = _read_long(path, units=units, **table_kw, **kwargs)
        else:
            ds, assumed = _read_dataset(path, fmt=fmt, units=units, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first = (str(err).strip().splitlines() or [""])[0]
        msg = f"{path} cannot be read as {fmt} ({type(err).__name__}: {first})."
        raise ValueError(msg) from None
    if fmt not in ("netcdf", "zarr"):
        # The data model's dates are datetime64[ns] (pandas 3 would otherwise give us or s).
        ds = ds.assign_coords(time=ds.indexes["time"].as_unit("ns"))
        ds.attrs.update(source=str(path), source_format=fmt)
    detected = "detected" if format is None else "given"
    log = logger.warning if format is None and "convention" in assumed else logger.info
    log("read %s as %s (%s) in %s: %s", path, fmt, detected, assumed,
        dict(ds[DISPLACEMENT].sizes))
    ds = check_displacement(_validate(ds), outliers=outliers, units_stated=units is not None,
                            source=str(path))
    check_factors(ds, source=str(path))
    return ds
