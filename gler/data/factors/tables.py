"""Factor tables: a CSV with a date column and one column per factor, or per (date, point)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.factors.units import KNOWN_FACTORS, factor_attrs, to_factor_units
from gler.data.model import parse_dates

logger = logging.getLogger(__name__)

#: Column names taken as the point id of a long factor table (per-point factors).
POINT_COLUMNS = ("point", "pid", "point_id")


def read_table(path: Path, *, units: Mapping[str, str], rename: Mapping[str, str],
               date_col: str | None, columns: list[str] | None, date_format: str | None = None,
               point_col: str | None = None, **read_kw: Any) -> xr.Dataset:
    """Factors of a CSV on dim ``time`` (and ``point`` with a point column), in the data
    model's units; the options are those of :func:`gler.data.factors.open_factors`."""
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

