"""Point tables: EGMS CSV (mm) and generic wide or long CSV tables (units stated).

A table is read after checking its shape: rows and header of different lengths, a ``;``
separator or a cell that is not a number are refused with file, line and column. Points that
have no value at all are dropped, with a warning that gives the count.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.model import DISPLACEMENT, check_times, displacement_variable, parse_dates

_DATE_COLUMN = re.compile(r"^\d{8}$|^\d{4}-\d{1,2}-\d{1,2}$|^\d{4}/\d{1,2}/\d{1,2}$"
                          r"|^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}$")
#: Columns only EGMS products have (with ``pid``): what tells an EGMS file from any point table.
_EGMS_COLUMNS = ("mp_type",)
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "long", "longitude")
_POINT_NAMES = ("pid", "point", "point_id", "id", "name")
_TIME_NAMES = ("date", "time", "datetime")
_VALUE_NAMES = ("displacement", "value", "disp", "los")


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


def _columns(path: Path) -> list[str] | None:
    """The header of a table file; None for a path that is not a file named as a table."""
    named = ".csv" in "".join(path.suffixes).lower() or path.suffix.lower() in (".txt", ".tsv")
    return _header(path) if named and path.is_file() else None


def _date_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if _DATE_COLUMN.match(c)]


def is_egms(path: Path) -> bool:
    """A table with ``pid``, ``mp_type`` and date columns (``20180104``)."""
    columns = _columns(path) or []
    lower = [c.lower() for c in columns]
    return bool(_date_columns(columns)) and "pid" in lower and all(
        c in lower for c in _EGMS_COLUMNS)


def is_wide(path: Path) -> bool:
    """A table with at least two date columns."""
    return len(_date_columns(_columns(path) or [])) >= 2


def is_long(path: Path) -> bool:
    """A table with a column named date, time or datetime."""
    return any(c.lower() in _TIME_NAMES for c in _columns(path) or [])


def table_contents(path: Path) -> str | None:
    """What a table no format claims lacks, with the fix (None: not a table)."""
    columns = _columns(path)
    if columns is None:
        return None
    return (f"It is a table, but its columns ({', '.join(columns[:12])}) have neither date "
            "columns like 20180104 (wide layout) nor a 'date' column (long layout). Rename the "
            "columns or pass format='csv-long' with date_col=/value_col=/point_col=.")


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
    ds = xr.Dataset({DISPLACEMENT: displacement_variable(values.T, units, ("time", "point"))},
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


def _read_wide(path: Path, units: str | None, date_format: str | None, point_col: str | None,
               read_kw: dict[str, Any]) -> tuple[xr.Dataset, str]:
    """A table of point rows and date columns; no ``units``: the EGMS convention, mm."""
    table = _Table(path, read_kw)
    if date_format is not None:
        date_cols = [c for c in table.frame.columns if _DATE_COLUMN.match(c)
                     or not pd.isna(pd.to_datetime(c, format=date_format, errors="coerce"))]
    else:
        date_cols = _date_columns(list(table.frame.columns))
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


def read_egms(path: Path, *, units: str | None, date_format: str | None,
              point_col: str | None = None, **read_kw: Any) -> tuple[xr.Dataset, str]:
    """An EGMS CSV: one row per point, one column per date, in mm unless ``units`` says
    otherwise (other keywords go to :func:`pandas.read_csv`)."""
    return _read_wide(path, units, date_format, point_col, read_kw)


def read_wide(path: Path, *, units: str | None, date_format: str | None,
              point_col: str | None = None, **read_kw: Any) -> tuple[xr.Dataset, str]:
    """A table with one row per point and one column per date, in the ``units`` given."""
    if units is None:
        raise ValueError(_NO_UNITS.format(path=path, kind="generic point"))
    return _read_wide(path, units, date_format, point_col, read_kw)


def read_long(path: Path, *, units: str | None, date_format: str | None,
              point_col: str | None = None, date_col: str | None = None,
              value_col: str | None = None, **read_kw: Any) -> tuple[xr.Dataset, str]:
    """A table with one row per point and date (columns found by name, or given)."""
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
