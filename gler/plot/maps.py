"""Maps of one field: in the grid's projected metres (:func:`plot_parameter_map`) or on
latitude/longitude with cartopy (:func:`plot_map`), and the observed-versus-predicted maps of a
forecast (:func:`plot_observed_predicted`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gler.plot.layout import map_axes


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


def plot_map(field: xr.DataArray, *, ax: Axes, stack: xr.Dataset | None = None,
             cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
             symmetric: bool = False, label: str | None = None, title: str | None = None,
             colorbar: bool = True):
    """A (y, x) field on its lat/lon with gridline labels, the railway and a labelled colour bar.

    Parameters
    ----------
    field
        Values on dims (y, x) with 2-D ``lat``/``lon`` coordinates (QTR-sim layout).
    ax
        A cartopy GeoAxes (see :func:`~gler.plot.layout.map_axes`).
    stack
        Source of ``railway_lon``/``railway_lat`` (drawn when present).
    cmap, vmin, vmax, symmetric
        Colour scale; ``symmetric`` centres it on zero (for differences).
    label
        Colour-bar label (default: long name and units of ``field``).
    title
        Panel title.
    colorbar
        Add a colour bar.

    Returns
    -------
    matplotlib.collections.QuadMesh
        The mesh (for a shared colour bar).

    Raises
    ------
    ValueError
        If ``field`` lacks 2-D ``lat``/``lon`` coordinates.
    """
    import cartopy.crs as ccrs
    from cartopy.mpl.ticker import LatitudeFormatter, LongitudeFormatter
    from matplotlib import patheffects
    from matplotlib import ticker as mticker

    if "lat" not in field.coords or "lon" not in field.coords or field.ndim != 2:
        msg = (f"plot_map needs a 2-D field with lat/lon coordinates; got dims {field.dims} and "
               f"coordinates {list(field.coords)}. Select one date first (e.g. .isel(time=-1)).")
        raise ValueError(msg)
    values = np.ma.masked_invalid(field.values)
    if symmetric:
        # The 99th percentile, so that one outlier does not wash out the colour scale.
        finite = np.isfinite(field.values).any()
        limit = float(np.nanpercentile(np.abs(field.values), 99)) if finite else 1.0
        vmin, vmax = -limit, limit
    mesh = ax.pcolormesh(field["lon"].values, field["lat"].values, values, cmap=cmap,
                         vmin=vmin, vmax=vmax, transform=ccrs.PlateCarree(), shading="auto")
    if stack is not None and "railway_lon" in stack:
        # White under black: the railway stays visible on dark and light colours alike.
        ax.plot(stack["railway_lon"], stack["railway_lat"], "--", color="k", lw=1.2,
                transform=ccrs.PlateCarree(),
                path_effects=[patheffects.withStroke(linewidth=3, foreground="white")])
    lon, lat = field["lon"].values, field["lat"].values
    ax.set_extent([lon.min(), lon.max(), lat.min(), lat.max()], crs=ccrs.PlateCarree())
    grid = ax.gridlines(draw_labels=True, lw=0.3, color="0.5", linestyle=":",
                        xlocs=mticker.MaxNLocator(3), ylocs=mticker.MaxNLocator(3))
    grid.top_labels = grid.right_labels = False
    grid.xformatter = LongitudeFormatter(number_format=".3f")
    grid.yformatter = LatitudeFormatter(number_format=".3f")
    grid.xlabel_style = grid.ylabel_style = {"size": 9}
    if colorbar:
        units = field.attrs.get("units", "")
        text = label or f"{field.attrs.get('long_name', field.name)} ({units})"
        ax.figure.colorbar(mesh, ax=ax, label=text, shrink=0.7)
    if title:
        ax.set_title(title, fontsize="medium")
    return mesh


def fields_at_target(stack: xr.Dataset, forecast: xr.Dataset, issue: int,
                     horizon: int) -> tuple[xr.DataArray, xr.DataArray, pd.Timestamp]:
    """The observed and predicted (y, x) fields at the target date of one forecast.

    Returns
    -------
    observed, predicted, target
        The stack's displacement on the target date, the forecast made at position ``issue``
        of ``issue_time`` for ``horizon`` steps ahead, and the target date.
    """
    fc = forecast["forecast"].isel(issue_time=issue).sel(horizon=horizon)
    target = pd.Timestamp(fc["target_time"].values)
    observed = stack["displacement"].sel(time=target)
    return observed, fc.drop_vars(["issue_time", "target_time", "horizon"]), target


def plot_observed_predicted(stack: xr.Dataset, forecast: xr.Dataset, *, issue: int = -1,
                            horizon: int = 1, model: str = "GLER") -> Figure:
    """Observed (InSAR), predicted and difference maps for one target date.

    Parameters
    ----------
    stack
        The region's stack (``displacement`` on time, y, x).
    forecast
        :func:`gler.forecast.predict` output for the same grid.
    issue
        Position of the issue date in ``forecast.issue_time``.
    horizon
        Step ahead (1 … H).
    model
        Model name for the titles.

    Returns
    -------
    matplotlib.figure.Figure
        Three map panels; observed and predicted share one colour scale.
    """
    observed, predicted, target = fields_at_target(stack, forecast, issue, horizon)
    difference = predicted - observed
    fig, axes = map_axes(3)
    both = np.concatenate([observed.values.ravel(), predicted.values.ravel()])
    vmin, vmax = np.nanpercentile(both, [1, 99])
    region = stack.attrs.get("region_name", stack.attrs.get("region", ""))
    plot_map(observed, ax=axes[0, 0], stack=stack, cmap="viridis", vmin=vmin, vmax=vmax,
             label="displacement (mm)", title=f"{region}: InSAR (simulated)")
    plot_map(predicted, ax=axes[0, 1], stack=stack, cmap="viridis", vmin=vmin, vmax=vmax,
             label="displacement (mm)", title=f"{model}, {horizon} step(s) ahead")
    plot_map(difference, ax=axes[0, 2], stack=stack, cmap="RdBu_r", symmetric=True,
             label="predicted − observed (mm)", title="difference")
    fig.suptitle(f"Cumulative displacement on {target.date()}", fontsize="medium")
    return fig
