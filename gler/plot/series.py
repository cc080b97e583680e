"""Time series and profiles at chosen pixels: a stack's pixel series, forecast windows and the
profile across the railway embankment."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gler.plot.maps import fields_at_target

#: Colour of each QTR-sim land-cover class in the series panel.
CLASS_COLOURS = {"stable_ground": "tab:grey", "meadow": "tab:green",
                 "embankment": "tab:red", "lake_rim": "tab:blue"}


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


def plot_forecast_series(stack: xr.Dataset, forecast: xr.Dataset,
                         pixels: dict[str, tuple[int, int]], *, every: int = 6,
                         model: str = "GLER", start: str | None = "2021-01-01") -> Figure:
    """Series at characteristic pixels with forecast windows drawn (one panel per pixel).

    Each forecast issued every ``every``-th issue date is a short line from the last input
    value to its H targets; the shaded span is the forecast period.
    """
    fig, axes = plt.subplots(len(pixels), 1, figsize=(8, 2.2 * len(pixels) + 0.5),
                             sharex=True, layout="constrained", squeeze=False)
    issues = forecast["issue_time"].values
    span = pd.Timestamp(issues[0]), pd.Timestamp(forecast["target_time"].values.max())
    for ax, (label, (row, col)) in zip(axes[:, 0], pixels.items(), strict=True):
        series = stack["displacement"].isel(y=row, x=col)
        if start:
            series = series.sel(time=slice(start, None))
        ax.plot(series["time"], series, ".", ms=4, color="tab:blue", label="InSAR")
        if "displacement_clean" in stack:
            clean = stack["displacement_clean"].isel(y=row, x=col).sel(time=series["time"])
            ax.plot(clean["time"], clean, "-", lw=0.8, color="tab:grey", label="clean")
        for k in range(0, len(issues), every):
            fc = forecast["forecast"].isel(issue_time=k, y=row, x=col)
            last = stack["displacement"].isel(y=row, x=col).sel(time=issues[k])
            ax.plot(np.r_[issues[k], fc["target_time"].values], np.r_[last, fc.values], "-",
                    color="black", lw=1.4, label=model if k == 0 else None)
        ax.axvspan(*span, color="tab:orange", alpha=0.08, label="forecast period")
        ax.set_ylabel("displacement (mm)")
        ax.set_title(label.replace("_", " "), fontsize="small", loc="left")
    axes[0, 0].legend(fontsize="small", ncols=4, loc="lower left")
    axes[-1, 0].set_xlabel("date")
    return fig


def embankment_transect(stack: xr.Dataset, *, length_m: float = 900.0,
                        n: int = 31) -> xr.Dataset:
    """Pixel positions along a line across the railway at its midpoint (perpendicular to it).

    Returns
    -------
    xarray.Dataset
        ``row``, ``col`` (int) and ``distance`` (m from the railway, signed) on dim ``along``,
        with duplicated pixels removed.

    Raises
    ------
    ValueError
        Without ``railway_x``/``railway_y`` in the stack.
    """
    if "railway_x" not in stack:
        msg = "embankment_transect needs railway_x/railway_y in the stack (QTR-sim output)."
        raise ValueError(msg)
    rx, ry = stack["railway_x"].values, stack["railway_y"].values
    mid = len(rx) // 2
    dx, dy = rx[mid + 1] - rx[mid - 1], ry[mid + 1] - ry[mid - 1]
    normal = np.array([-dy, dx]) / np.hypot(dx, dy)
    distance = np.linspace(-length_m / 2, length_m / 2, n)
    px, py = rx[mid] + distance * normal[0], ry[mid] + distance * normal[1]
    x, y = stack["x"].values, stack["y"].values
    col = np.abs(x[None, :] - px[:, None]).argmin(axis=1)
    row = np.abs(y[None, :] - py[:, None]).argmin(axis=1)
    inside = (px >= x.min()) & (px <= x.max()) & (py >= y.min()) & (py <= y.max())
    keep = inside & np.r_[True, (np.diff(row) != 0) | (np.diff(col) != 0)]
    return xr.Dataset({"row": ("along", row[keep]), "col": ("along", col[keep]),
                       "distance": ("along", distance[keep], {"units": "m"})})


def plot_transect(stack: xr.Dataset, forecast: xr.Dataset, *, issue: int = -1,
                  horizon: int = 1, ax: Axes | None = None, model: str = "GLER") -> Axes:
    """Observed, predicted and clean displacement along :func:`embankment_transect`."""
    observed, predicted, target = fields_at_target(stack, forecast, issue, horizon)
    line = embankment_transect(stack)
    rows, cols = xr.DataArray(line["row"].values, dims="along"), xr.DataArray(
        line["col"].values, dims="along")
    if ax is None:
        ax = plt.figure(figsize=(7, 3.6), layout="constrained").add_subplot()
    dist = line["distance"].values
    ax.plot(dist, observed.isel(y=rows, x=cols), "o", ms=4, color="tab:blue",
            label="InSAR (simulated, noisy)")
    if "displacement_clean" in stack:
        ax.plot(dist, stack["displacement_clean"].sel(time=target).isel(y=rows, x=cols), "-",
                color="tab:grey", label="clean signal")
    ax.plot(dist, predicted.isel(y=rows, x=cols), "-", lw=2, color="black",
            label=f"{model} ({horizon} step(s) ahead)")
    if "land_cover" in stack:
        cover = stack["land_cover"].isel(y=rows, x=cols).values
        codes = list(stack["land_cover"].attrs["flag_values"])
        meanings = stack["land_cover"].attrs["flag_meanings"].split()
        embank = cover == codes[meanings.index("embankment")] if "embankment" in meanings else []
        if np.any(embank):
            half = float(np.median(np.abs(np.diff(dist)))) / 2 if len(dist) > 1 else 15.0
            ax.axvspan(dist[embank].min() - half, dist[embank].max() + half, color="tab:red",
                       alpha=0.15, label="embankment")
    ax.axvline(0, color="k", lw=0.5, ls=":")
    ax.set_xlabel("distance across the railway (m)")
    ax.set_ylabel("cumulative displacement (mm)")
    ax.set_title(f"Profile across the embankment on {target.date()}", fontsize="medium")
    ax.legend(fontsize="small")
    return ax
