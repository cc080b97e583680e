"""Readers that turn InSAR time-series products into the gler stack (see :mod:`gler.data.model`).

One entry point, :func:`open_stack`, reads every format of the table :data:`READERS`, detected
from the file (the first whose ``detect`` accepts it, in the table's order) or given as
``format=``:

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

A new format is one read function and one entry of :data:`READERS`; the list of formats, the
detection, the command line's ``--format`` and the messages that name the formats follow.

Grids keep their NaN pixels (masking is the caller's choice, and dropping pixels would break the
grid); point tables drop points that have no value at all, with a warning that gives the count.

Nothing is read on trust: dates are ISO 8601 unless ``date_format=`` says otherwise (day/month
order is never guessed); a table whose rows and header differ in length, that is separated by
``;`` or holds a cell that is not a number is refused with file, line and column; the units a
format implies are stated in one log line; and every stack passes the plausibility checks of
:mod:`gler.data.checks` (outliers, units that look wrong, temperatures in kelvin).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from gler.data.checks import OUTLIER_MODES, check_displacement, check_factors
from gler.data.model import DISPLACEMENT, validate_stack
from gler.data.readers.hdf5 import hdf5_contents, is_licsbas, is_mintpy, read_licsbas, read_mintpy
from gler.data.readers.stores import is_netcdf, is_zarr, read_netcdf, read_zarr
from gler.data.readers.tables import (
    is_egms,
    is_long,
    is_wide,
    read_egms,
    read_long,
    read_wide,
    table_contents,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reader:
    """How one input format is told and read.

    Attributes
    ----------
    detect
        ``detect(path) -> bool``: whether a file is in this format, from its name and first
        bytes (cheap; the formats are tried in the order of :data:`READERS`).
    read
        ``read(path, *, units, date_format, **options) -> (stack, units_note)``: the
        displacement in mm (``units`` None: the format's own) and where its units came from,
        for the log line (a note with "convention" is logged as a warning when detected).
    what
        The format in a few words, for ``--format``'s help and the messages naming formats.
    contents
        ``contents(path) -> str | None``: what a file that looks like this format's kind holds,
        said when no format claims it (e.g. the datasets of an HDF5 file).
    in_model
        The store is in the data model already: its time coordinate and attributes are kept as
        written (no ``source``/``source_format`` stamp).
    """

    detect: Callable[[Path], bool]
    read: Callable[..., tuple[xr.Dataset, str]]
    what: str
    contents: Callable[[Path], str | None] | None = None
    in_model: bool = False


#: Every input format: ``{format: Reader}``, in the order detection tries them.
READERS: dict[str, Reader] = {
    "mintpy": Reader(is_mintpy, read_mintpy, "MintPy timeseries.h5, HDF5 with a dataset "
                     "'timeseries', in metres", hdf5_contents),
    "licsbas": Reader(is_licsbas, read_licsbas, "LiCSBAS cum.h5, HDF5 with a dataset 'cum', "
                      "in mm", hdf5_contents),
    "egms": Reader(is_egms, read_egms, "EGMS CSV with columns pid, mp_type and one per date, "
                   "in mm", table_contents),
    "csv-wide": Reader(is_wide, read_wide, "a table with a row per point and a column per "
                       "date like 20180104, units needed", table_contents),
    "csv-long": Reader(is_long, read_long, "a table with point, date and value columns, units "
                       "needed", table_contents),
    "netcdf": Reader(is_netcdf, read_netcdf, "NetCDF in the gler data model, in mm",
                     in_model=True),
    "zarr": Reader(is_zarr, read_zarr, "Zarr store in the gler data model, in mm",
                   in_model=True),
}
#: The format names, in detection order (a live view of :data:`READERS`).
FORMATS = READERS.keys()


def describe_formats() -> str:
    """``name (what); ...`` of every format in detection order, for help texts and messages."""
    return "; ".join(f"{name} ({reader.what})" for name, reader in READERS.items())


def detect_format(path: str | Path) -> str:
    """The format of an InSAR product: the first of :data:`READERS` whose ``detect`` accepts it.

    Raises
    ------
    ValueError
        If no format claims the file, saying what it holds when a reader can tell (pass
        ``format=`` to :func:`open_stack`).
    """
    path = Path(path)
    found = next((name for name, reader in READERS.items() if reader.detect(path)), None)
    if found is not None:
        return found
    said = dict.fromkeys(text for reader in READERS.values()
                         if reader.contents and (text := reader.contents(path)))
    msg = (f"Cannot tell the format of {path}. {' '.join(said)}{' ' if said else ''}Known "
           f"formats: {describe_formats()}. Pass format= explicitly.")
    raise ValueError(msg)


def _reader(fmt: str) -> Reader:
    if fmt not in READERS:
        msg = f"Unknown format {fmt!r}. Known formats: {', '.join(READERS)} (--format)."
        raise ValueError(msg)
    return READERS[fmt]


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
    reader = _reader(fmt)
    try:
        ds, assumed = reader.read(path, units=units, date_format=date_format, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        first = (str(err).strip().splitlines() or [""])[0]
        msg = f"{path} cannot be read as {fmt} ({type(err).__name__}: {first})."
        raise ValueError(msg) from None
    if not reader.in_model:
        # The data model's dates are datetime64[ns] (pandas 3 would otherwise give us or s).
        ds = ds.assign_coords(time=ds.indexes["time"].as_unit("ns"))
        ds.attrs.update(source=str(path), source_format=fmt)
    detected = "detected" if format is None else "given"
    log = logger.warning if format is None and "convention" in assumed else logger.info
    log("read %s as %s (%s) in %s: %s", path, fmt, detected, assumed,
        dict(ds[DISPLACEMENT].sizes))
    ds = check_displacement(validate_stack(ds), outliers=outliers,
                            units_stated=units is not None, source=str(path))
    check_factors(ds, source=str(path))
    return ds
