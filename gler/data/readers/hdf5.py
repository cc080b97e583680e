"""HDF5 grids: MintPy ``timeseries.h5`` (metres) and LiCSBAS ``cum.h5`` (mm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from gler.data.model import DISPLACEMENT, check_times, displacement_variable, parse_dates

HDF5_SUFFIXES = (".h5", ".he5", ".hdf5")


def _datasets(path: Path) -> list[str] | None:
    """The top-level names of an HDF5 file; None for a path that is not a file with an HDF5
    suffix."""
    if path.suffix.lower() not in HDF5_SUFFIXES or not path.is_file():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        return list(f.keys())


def is_mintpy(path: Path) -> bool:
    """An HDF5 file with a dataset ``timeseries``."""
    return "timeseries" in (_datasets(path) or ())


def is_licsbas(path: Path) -> bool:
    """An HDF5 file with a dataset ``cum``."""
    return "cum" in (_datasets(path) or ())


def hdf5_contents(path: Path) -> str | None:
    """What an HDF5 file holds, for the message when no format claims it (None: not HDF5)."""
    names = _datasets(path)
    return None if names is None else f"It is HDF5 and holds: {', '.join(names) or 'nothing'}."


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _require(f: Any, path: Path, names: tuple[str, ...], product: str) -> None:
    """Refuse an HDF5 file that lacks the datasets of ``product`` (it is another product)."""
    missing = [n for n in names if n not in f]
    if missing:
        msg = (f"{path} is not a {product}: it has no dataset {', '.join(map(repr, missing))} "
               f"(it holds: {', '.join(f.keys()) or 'nothing'}). Check the file, or --format.")
        raise ValueError(msg)


def _check_cube(path: Path, values: np.ndarray, name: str, times: Any, dates: str) -> None:
    if values.ndim != 3 or values.shape[0] != len(times):
        msg = (f"{path}: {name!r} has shape {values.shape}; expected (time, y, x) with "
               f"{len(times)} dates (one per entry of {dates!r}).")
        raise ValueError(msg)


def _grid(values: np.ndarray, units: str, times: Any) -> xr.Dataset:
    _, ny, nx = values.shape
    return xr.Dataset({DISPLACEMENT: displacement_variable(values, units, ("time", "y", "x"))},
                      coords={"time": times, "y": np.arange(ny), "x": np.arange(nx)})


def read_mintpy(path: Path, *, units: str | None, date_format: str | None,
                geometry: str | Path | None = None) -> tuple[xr.Dataset, str]:
    """A MintPy ``timeseries.h5`` (``date_format`` is unused: the file defines its dates).

    ``geometry`` is a MintPy geometry file whose ``latitude``/``longitude`` datasets give a
    radar-coded stack its coordinates; a geocoded one has them from ``X_FIRST``/``Y_FIRST``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        _require(f, path, ("timeseries", "date"), "MintPy timeseries.h5")
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        values = f["timeseries"][()]
        times = check_times(parse_dates([_decode(d) for d in f["date"][()]],
                                        what=f"{path} dataset 'date'"))
    _check_cube(path, values, "timeseries", times, "date")
    # MintPy writes displacement in metres (UNIT = "m"); honour UNIT when it says otherwise.
    unit = units or attrs.get("UNIT", "m")
    note = ("the --units given" if units else "the file's UNIT attribute" if "UNIT" in attrs
            else "MintPy's convention (no UNIT attribute)")
    _, ny, nx = values.shape
    ds = _grid(values, unit, times)
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


def read_licsbas(path: Path, *, units: str | None,
                 date_format: str | None) -> tuple[xr.Dataset, str]:
    """A LiCSBAS ``cum.h5`` (``date_format`` is unused: the file defines its dates)."""
    import h5py

    with h5py.File(path, "r") as f:
        _require(f, path, ("cum", "imdates"), "LiCSBAS cum.h5")
        values = f["cum"][()]
        times = check_times(parse_dates(f["imdates"][()].astype(str),
                                        what=f"{path} dataset 'imdates'"))
        geo = {k: float(f[k][()]) for k in ("corner_lat", "corner_lon", "post_lat", "post_lon")
               if k in f}
        refarea = _decode(f["refarea"][()]) if "refarea" in f else None
    _check_cube(path, values, "cum", times, "imdates")
    _, ny, nx = values.shape
    ds = _grid(values, units or "mm", times)
    if len(geo) == 4:
        # LiCSBAS corner_lat/lon is the centre of the first (north-west) pixel; post_lat < 0.
        ds = ds.assign_coords(lat=("y", geo["corner_lat"] + np.arange(ny) * geo["post_lat"]),
                              lon=("x", geo["corner_lon"] + np.arange(nx) * geo["post_lon"]))
    if refarea:
        # "x1:x2/y1:y2" in pixels, end exclusive.
        ds.attrs["reference_area"] = refarea
    return ds, f"{units} (the --units given)" if units else "mm (LiCSBAS's convention)"
