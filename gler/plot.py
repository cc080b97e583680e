"""Figures shared by the book and the command line.

Quick look at a simulated or real stack (plain matplotlib; maps in the grid's own projected
metres): :func:`quicklook`, built from :func:`plot_parameter_map` and :func:`plot_pixel_series`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Colour of each QTR-sim land-cover class in the series panel.
CLASS_COLOURS = {"stable_ground": "tab:grey", "meadow": "tab:green",
                 "embankment": "tab:red", "lake_rim": "tab:blue"}


def _extent_km(ds: xr.Dataset) -> list[float]:
    """imshow extent (km) of a grid whose ``x``/``y`` are pixel centres in metres."""
    x, y = ds["x"].values / 1000, ds["y"].values / 1000
    dx = (x[1] - x[0]) / 2 if len(x) > 1 else 0.5
    dy = (y[1] - y[0]) / 2 if len(y) > 1 else 0.5
    return [x[0] - dx, x[-1] + dx, y[-1] + dy, y[0] - dy]


def plot_parameter_map(ds: xr.Dataset, name: str, *, ax: Axes, cmap: str = "viridis",
                       symmetric: bool = False) -> Axes:
    """Map of a per-pixel variable ``name`` (dims ``y``, ``x``) with a labelled colour bar.

    The railway (``railway_x``/``railway_y``) and the reference pixel are drawn when present;
    masked pixels stay blank.
    """
    var = ds[name]
    values = np.ma.masked_invalid(var.values)
    limit = float(np.nanmax(np.abs(var.values))) if symmetric else None
    image = ax.imshow(values, extent=_extent_km(ds), origin="upper", cmap=cmap,
                      vmin=-limit if symmetric else None, vmax=limit)
    units = var.attrs.get("units", "")
    label = var.attrs.get("long_name", name)
    ax.figure.colorbar(image, ax=ax, label=f"{name} ({units})" if units else name, shrink=0.85)
    if "railway_x" in ds:
        ax.plot(ds["railway_x"] / 1000, ds["railway_y"] / 1000, "k-", lw=0.8, label="railway")
    if "reference_pixel_row" in ds.attrs:
        ax.plot(ds["x"].values[ds.attrs["reference_pixel_col"]] / 1000,
                ds["y"].values[ds.attrs["reference_pixel_row"]] / 1000, "k^", ms=6,
                label="reference")
    ax.set_title(label, fontsize="medium")
    ax.set_xlabel("easting (km)")
    ax.set_ylabel("northing (km)")
    ax.set_xlim(*_extent_km(ds)[:2])
    ax.set_ylim(*_extent_km(ds)[2:])
    return ax


def representative_pixels(ds: xr.Dataset) -> dict[str, tuple[int, int]]:
    """One pixel (row, col) per land-cover class: the one with the class's median velocity."""
    cover = ds["land_cover"].values
    meanings = ds["land_cover"].attrs["flag_meanings"].split()
    codes = ds["land_cover"].attrs["flag_values"]
    velocity = ds["velocity"].values if "velocity" in ds else np.zeros(cover.shape)
    out = {}
    for code, meaning in zip(codes, meanings, strict=True):
        rows, cols = np.nonzero((cover == code) & np.isfinite(velocity))
        if meaning == "water" or len(rows) == 0:
            continue
        v = velocity[rows, cols]
        pick = int(np.argmin(np.abs(v - np.median(v))))
        out[meaning] = (int(rows[pick]), int(cols[pick]))
    return out


def plot_pixel_series(ds: xr.Dataset, pixels: dict[str, tuple[int, int]], *, ax: Axes,
                      temperature: str = "air_temperature") -> tuple[Axes, Axes | None]:
    """Displacement of a few pixels (dots; noise-free truth as a line when present) with the
    per-acquisition ``temperature`` on a twin axis.

    Returns
    -------
    ax, twin
        The displacement axes and the temperature axes (None without a temperature).
    """
    time = ds["time"].values
    for label, (row, col) in pixels.items():
        colour = CLASS_COLOURS.get(label)
        observed = ds["displacement"].isel(y=row, x=col)
        ax.plot(time, observed, ".", ms=3, color=colour, label=label.replace("_", " "))
        if "displacement_clean" in ds:
            ax.plot(time, ds["displacement_clean"].isel(y=row, x=col), "-", lw=1, color=colour)
    ax.set_ylabel(f"displacement ({ds['displacement'].attrs.get('units', 'mm')})")
    ax.set_xlabel("date")
    ax.legend(loc="lower left", fontsize="small", ncols=2)
    twin = None
    if temperature in ds:
        twin = ax.twinx()
        twin.plot(time, ds[temperature], color="tab:orange", lw=0.8, alpha=0.7)
        units = ds[temperature].attrs.get("units", "degC").replace("degC", "°C")
        twin.set_ylabel(f"{temperature.replace('_', ' ')} ({units})", color="tab:orange")
    return ax, twin


def quicklook(ds: xr.Dataset, *, pixels: dict[str, tuple[int, int]] | None = None,
              figsize: tuple[float, float] = (11.0, 8.0)) -> Figure:
    """Quick look at a gridded stack: velocity and seasonal-amplitude maps and pixel series.

    Parameters
    ----------
    ds
        A stack with ``displacement`` (time, y, x); the maps need ``velocity`` and
        ``seasonal_amplitude`` (as QTR-sim provides), the series use ``land_cover`` to pick
        pixels unless ``pixels`` is given.
    pixels
        ``{label: (row, col)}`` of the series to draw; default one per land-cover class.
    figsize
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Two maps on top, the series (with temperature on a twin axis) below.

    Raises
    ------
    ValueError
        If the stack is not gridded or lacks the variables named above.

    Example
    -------
    >>> from gler.data.qtrsim import simulate_region
    >>> fig = quicklook(simulate_region("beiluhe", size=16, end="2018-12-31"))
    """
    needed = [n for n in ("displacement", "velocity", "seasonal_amplitude") if n not in ds]
    if pixels is None and "land_cover" not in ds:
        needed.append("land_cover (or pass pixels=)")
    if needed or ds["displacement"].dims != ("time", "y", "x"):
        msg = (f"quicklook needs a gridded stack (displacement dims time, y, x) with "
               f"displacement, velocity and seasonal_amplitude; missing: "
               f"{', '.join(needed) or 'none'}, displacement dims "
               f"{ds['displacement'].dims if 'displacement' in ds else 'n/a'}. "
               "Use gler.data.qtrsim.simulate_region output or add the maps.")
        raise ValueError(msg)
    pixels = representative_pixels(ds) if pixels is None else pixels
    fig = plt.figure(figsize=figsize, layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1.0])
    plot_parameter_map(ds, "velocity", ax=fig.add_subplot(grid[0, 0]), cmap="RdBu",
                       symmetric=True)
    plot_parameter_map(ds, "seasonal_amplitude", ax=fig.add_subplot(grid[0, 1]),
                       cmap="viridis")
    series = fig.add_subplot(grid[1, :])
    plot_pixel_series(ds, pixels, ax=series)
    title = ds.attrs.get("title", ds.attrs.get("region", ""))
    if title:
        fig.suptitle(title)
    return fig
