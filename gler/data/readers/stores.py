"""NetCDF and Zarr stores already in the data model (validated, in mm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from gler.data.model import DISPLACEMENT, LENGTH_TO_MM, validate_stack

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")


def is_netcdf(path: Path) -> bool:
    """A file with a NetCDF suffix."""
    return path.suffix.lower() in NETCDF_SUFFIXES and path.is_file()


def is_zarr(path: Path) -> bool:
    """A ``.zarr`` path, or a folder with Zarr metadata (``zarr.json`` or ``.zgroup``)."""
    return path.suffix.lower() == ".zarr" or (path.is_dir() and any(
        (path / name).exists() for name in ("zarr.json", ".zgroup")))


def _in_model(ds: xr.Dataset, path: Path, fmt: str, units: str | None) -> tuple[xr.Dataset, str]:
    """``ds`` validated against the data model; ``units`` may only confirm mm."""
    stated = ds[DISPLACEMENT].attrs.get("units") if DISPLACEMENT in ds else None
    if units is not None and LENGTH_TO_MM.get(str(units).strip().lower()) != 1.0:
        msg = (f"--units {units} does not apply to {fmt}: a store in the data model is in mm "
               "already (--units mm only confirms it). Convert the displacement to mm and set "
               "its units attribute.")
        raise ValueError(msg)
    try:
        ds = validate_stack(ds)
    except ValueError as err:
        msg = f"{path}: {err}"
        raise ValueError(msg) from None
    return ds, f"{stated} (the file's units attribute)"


def read_netcdf(path: Path, *, units: str | None, date_format: str | None,
                **open_kw: Any) -> tuple[xr.Dataset, str]:
    """A NetCDF stack (``open_kw`` go to :func:`xarray.open_dataset`; ``date_format`` is
    unused: the store defines its dates)."""
    return _in_model(xr.open_dataset(path, **open_kw), path, "netcdf", units)


def read_zarr(path: Path, *, units: str | None, date_format: str | None,
              **open_kw: Any) -> tuple[xr.Dataset, str]:
    """A Zarr stack (``open_kw`` go to :func:`xarray.open_zarr`; ``date_format`` is unused)."""
    return _in_model(xr.open_zarr(path, **open_kw), path, "zarr", units)
