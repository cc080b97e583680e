"""Property test of :func:`gler.open_stack` on random malformed CSV tables and NetCDF files.

Whatever the file, ``open_stack`` either raises gler's own clear error (a ``ValueError`` of one
line that names the file or the option to fix) or returns a stack that passes
:func:`gler.validate_stack` and the plausibility checks. Never a traceback from pandas, numpy or
xarray, never a silently shifted or implausible stack.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gler.data.checks import MAX_ABS_MM  # noqa: E402
from gler.data.model import validate_stack  # noqa: E402
from gler.data.readers import open_stack  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

_DATES = [d.strftime("%Y-%m-%d") for d in pd.date_range("2018-01-04", periods=8, freq="12D")]
_HEADER_CELLS = st.sampled_from([
    "pid", "point", "id", "lat", "latitude", "lon", "longitude", "date", "value",
    "displacement", "mp_type", "height", "", "x y", *_DATES,
    *[d.replace("-", "") for d in _DATES], "04/01/2018", "13/01/2018", "2018-02-30",
])
_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-5, 5).map(str),
    st.sampled_from(["", "nan", "NA", "1,5", "abc", "1e30", "-0.5", "P1", "2018-01-04",
                     "03/04/2018", '"1,5"', "true"]),
)


@st.composite
def csv_texts(draw) -> str:
    """A valid wide or long table, then zero to three random damages."""
    n_points = draw(st.integers(1, 4))
    values = st.floats(-50, 50, width=32).map(lambda v: f"{v:.2f}")
    if draw(st.booleans()):  # wide
        header = ["pid", "latitude", "longitude", *draw(st.sampled_from([
            _DATES, [d.replace("-", "") for d in _DATES]]))]
        rows = [[f"P{i}", "34.8", "92.9", *draw(st.lists(values, min_size=8, max_size=8))]
                for i in range(n_points)]
    else:  # long
        header = ["point", "date", "displacement"]
        rows = [[f"P{i}", d, draw(values)] for i in range(n_points) for d in _DATES]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        damage = draw(st.sampled_from(["cell", "drop-header", "extra-field", "short-row",
                                       "header-cell", "junk-line"]))
        if damage == "cell" and rows:
            row = draw(st.integers(0, len(rows) - 1))
            rows[row][draw(st.integers(0, len(rows[row]) - 1))] = draw(_CELLS)
        elif damage == "drop-header" and len(header) > 1:
            header.pop(draw(st.integers(0, len(header) - 1)))
        elif damage == "extra-field" and rows:
            rows[draw(st.integers(0, len(rows) - 1))].append(draw(_CELLS))
        elif damage == "short-row" and rows and len(rows[0]) > 1:
            rows[draw(st.integers(0, len(rows) - 1))].pop()
        elif damage == "header-cell":
            header[draw(st.integers(0, len(header) - 1))] = draw(_HEADER_CELLS)
        elif damage == "junk-line":
            rows.insert(draw(st.integers(0, len(rows))), draw(st.lists(_CELLS, max_size=4)))
    sep = draw(st.sampled_from([",", ",", ",", ",", ";", "\t"]))
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "")
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def _check(call, path: Path) -> None:
    """``call()`` returns a valid, plausible stack or raises gler's own one-line error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = call()
    except (ValueError, FileNotFoundError) as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)
        assert (str(path) in message or "units" in message or "format" in message
                or "outliers" in message), message
        return
    validate_stack(ds)
    values = ds["displacement"].values
    finite = values[np.isfinite(values)]
    assert finite.size and np.abs(finite).max() <= MAX_ABS_MM
    assert not np.isinf(values).any()


@SETTINGS
@given(text=csv_texts(), fmt=st.sampled_from([None, None, "csv-wide", "csv-long", "egms"]),
       units=st.sampled_from([None, "mm", "mm", "m", "inch"]),
       date_format=st.sampled_from([None, None, "%d/%m/%Y"]))
def test_random_csv_gives_a_valid_stack_or_a_clear_error(text, fmt, units, date_format):
    """Random tables (ragged rows, odd separators and cells) never escape as a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        path.write_text(text)
        _check(lambda: open_stack(path, fmt, units=units, date_format=date_format), path)


@st.composite
def netcdf_datasets(draw) -> xr.Dataset:
    """A valid stack (grid or points, mm, a temperature factor), then random damages."""
    n_time = draw(st.integers(2, 6))
    dims = draw(st.sampled_from([("time", "y", "x"), ("time", "point")]))
    sizes = {"time": n_time, "y": draw(st.integers(1, 3)), "x": draw(st.integers(1, 3)),
             "point": draw(st.integers(1, 4))}
    shape = tuple(sizes[d] for d in dims)
    size = int(np.prod(shape))
    values = np.array(draw(st.lists(st.floats(-50, 50, width=32), min_size=size,
                                    max_size=size)), dtype=np.float32).reshape(shape)
    times = list(pd.date_range("2018-01-04", periods=n_time, freq="12D"))
    temperature = np.linspace(-20.0, 15.0, n_time)
    name, attrs = "displacement", {"units": "mm"}
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        damage = draw(st.sampled_from(["cells", "units", "name", "transpose", "times",
                                       "kelvin", "all-nan", "metres"]))
        if damage == "cells":
            flat = values.reshape(-1)
            flat[draw(st.integers(0, size - 1))] = draw(st.sampled_from(
                [np.nan, np.inf, -np.inf, 1e30, 5e3, -2e4]))
        elif damage == "units":
            attrs = draw(st.sampled_from([{}, {"units": "m"}, {"units": "furlong"},
                                          {"units": "MM"}]))
        elif damage == "name":
            name = "disp"
        elif damage == "transpose":
            values = values.T.copy()
            dims = dims[::-1]
        elif damage == "times":
            times = draw(st.permutations(times)) if draw(st.booleans()) else (
                [times[0], *times[:-1]])
        elif damage == "kelvin":
            temperature = temperature + 273.15
        elif damage == "all-nan":
            values[...] = np.nan
        elif damage == "metres":
            values = values / 1000
    return xr.Dataset({name: (dims, values, attrs),
                       "air_temperature": ("time", temperature, {"units": "degC"})},
                      coords={"time": times})


@SETTINGS
@given(ds=netcdf_datasets(), units=st.sampled_from([None, None, "mm", "m"]),
       outliers=st.sampled_from(["error", "mask"]))
def test_random_netcdf_gives_a_valid_stack_or_a_clear_error(ds, units, outliers):
    """Random NetCDF stores (wrong dims, units, dates, values) never escape as a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.nc"
        ds.to_netcdf(path)
        _check(lambda: open_stack(path, units=units, outliers=outliers).load(), path)
