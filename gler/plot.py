"""Figures shared by the book and the command line.

Quick look at a simulated or real stack (plain matplotlib; maps in the grid's own projected
metres): :func:`quicklook`, built from :func:`plot_parameter_map` and :func:`plot_pixel_series`.
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

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


# -- maps and evaluation figures for the book (cartopy; offline) ---------------------------------

#: Natural Earth layers drawn on the overview map when their shapefiles are already on disk.
NATURAL_EARTH = (("physical", "land", "#f2efe6"), ("physical", "lakes", "#cfe3f3"),
                 ("physical", "rivers_lake_centerlines", "#6fa8dc"),
                 ("cultural", "admin_1_states_provinces_lines", "#999999"))
#: Colour per model family in the comparison figures (others cycle through tab10).
MODEL_COLOURS = {"gler": "black", "persistence": "tab:grey", "harmonic": "tab:olive",
                 "stefan": "tab:brown", "seasonal-naive": "tab:pink", "linear-trend": "darkkhaki",
                 "noise floor": "tab:red"}


def natural_earth_path(name: str, category: str = "physical", resolution: str = "50m"):
    """Path of a Natural Earth shapefile already on disk, or None (never downloads).

    Looks in ``cartopy.config["pre_existing_data_dir"]`` and ``cartopy.config["data_dir"]``
    under cartopy's own layout ``shapefiles/natural_earth/<category>/ne_<res>_<name>.shp``.
    """
    from pathlib import Path

    import cartopy

    relative = Path("shapefiles", "natural_earth", category, f"ne_{resolution}_{name}.shp")
    for key in ("pre_existing_data_dir", "data_dir"):
        base = cartopy.config.get(key)
        if base and str(base) not in ("", ".") and (Path(base) / relative).is_file():
            return Path(base) / relative
    return None


#: Colours for the other models, none of them used in :data:`MODEL_COLOURS`.
FREE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:cyan", "navy",
                "goldenrod", "teal", "magenta", "lime")


def model_palette(names) -> dict[str, str]:
    """A colour per model name: fixed for GLER, the classical baselines and the noise floor,
    the others in alphabetical order from :data:`FREE_COLOURS` (stable across figures)."""
    others = sorted(n for n in set(names) if n.split("@")[0] not in MODEL_COLOURS)
    palette = {n: FREE_COLOURS[k % len(FREE_COLOURS)] for k, n in enumerate(others)}
    palette.update({n: MODEL_COLOURS[n.split("@")[0]] for n in names
                    if n.split("@")[0] in MODEL_COLOURS})
    return palette


def plot_overview_map(*, regions: list[str] | None = None, ax: Axes | None = None,
                      natural_earth: bool = True) -> Axes:
    """The Qinghai–Tibet Railway, its stations and the QTR-sim regions on a Lambert conformal map.

    The railway, its stations and the regions come from :mod:`gler.data.geography`; Natural
    Earth land, lakes, rivers and provincial borders are added only when their shapefiles are
    already on disk (:func:`natural_earth_path`), so the map never triggers a download.

    Parameters
    ----------
    regions
        Region ids to mark (default: all four).
    ax
        A cartopy GeoAxes; default: a new figure with a Lambert conformal projection.
    natural_earth
        Draw the Natural Earth layers that are present locally.

    Returns
    -------
    cartopy.mpl.geoaxes.GeoAxes

    Example
    -------
    >>> ax = plot_overview_map()
    """
    import cartopy.crs as ccrs
    import cartopy.feature as cfeature

    from gler.data.geography import railway_line, railway_stations, study_sites

    data_crs = ccrs.PlateCarree()
    if ax is None:
        projection = ccrs.LambertConformal(central_longitude=93.0, central_latitude=33.0,
                                           standard_parallels=(30.0, 36.0))
        fig = plt.figure(figsize=(6.5, 7.0), layout="constrained")
        ax = fig.add_subplot(1, 1, 1, projection=projection)
    ax.set_extent([89.5, 96.5, 29.0, 37.2], crs=data_crs)
    drawn = []
    for category, name, colour in NATURAL_EARTH if natural_earth else ():
        path = natural_earth_path(name, category)
        if path is None:
            continue
        from cartopy.io.shapereader import Reader

        face = colour if name in ("land", "lakes") else "none"
        edge = "none" if name in ("land", "lakes") else colour
        ax.add_feature(cfeature.ShapelyFeature(Reader(str(path)).geometries(), data_crs,
                                               facecolor=face, edgecolor=edge, lw=0.6),
                       zorder=0)
        drawn.append(name)
    ax.set_facecolor("#f7f7f7")
    line = railway_line()
    ax.plot(line["lon"], line["lat"], "k-", lw=1.6, transform=data_crs,
            label="Qinghai–Tibet Railway (approx.)")
    stations = railway_stations()
    ax.plot(stations["lon"], stations["lat"], "ko", ms=3, transform=data_crs)
    sites = study_sites()
    for row in stations.itertuples():
        if row.name.lower() not in sites.index:
            ax.text(row.lon + 0.12, row.lat, row.name, fontsize=8, transform=data_crs,
                    va="center", color="0.3")
    for site in sites.loc[regions or list(sites.index)].itertuples():
        ax.plot(site.lon, site.lat, "s", ms=9, mfc="tab:red", mec="k", transform=data_crs)
        ax.text(site.lon + 0.18, site.lat, f"{site.name}\n{site.elevation_m:,.0f} m",
                fontsize=9, fontweight="bold", transform=data_crs, va="center")
    grid = ax.gridlines(draw_labels=True, x_inline=False, y_inline=False, lw=0.4,
                        color="0.6", linestyle=":")
    grid.top_labels = grid.right_labels = False
    grid.xlabel_style = {"rotation": 0}
    ax.plot([], [], "s", mfc="tab:red", mec="k", label="QTR-sim region")
    ax.legend(loc="upper left", fontsize=8)
    if not drawn:
        logger.info("No Natural Earth layers on disk: the overview map shows the railway only")
    ax.set_title("QTR-sim regions along the Qinghai–Tibet Railway", fontsize="medium")
    return ax


def panel_grid(n: int, *, ncols: int = 2, panel: tuple[float, float] = (4.8, 3.2),
               **subplot_kw) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels, ``ncols`` to a row, no wider than the book's text column at
    the chapters' 80 dpi (so fonts are printed at their size); unused cells are removed.

    Example
    -------
    >>> fig, axes = panel_grid(3)
    >>> len(axes), len(fig.axes)
    (3, 3)
    """
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows),
                             layout="constrained", squeeze=False, subplot_kw=subplot_kw or None)
    axes = list(grid.ravel())
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def map_axes(ncols: int, *, nrows: int = 1, panel: float = 3.6) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` cartopy PlateCarree axes for :func:`plot_map` panels."""
    import cartopy.crs as ccrs

    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols + 0.6, 0.8 * panel * nrows + 0.4),
                             subplot_kw={"projection": ccrs.PlateCarree()},
                             layout="constrained", squeeze=False)
    return fig, axes


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
        A cartopy GeoAxes (see :func:`map_axes`).
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


def _target_fields(stack: xr.Dataset, forecast: xr.Dataset, issue: int,
                   horizon: int) -> tuple[xr.DataArray, xr.DataArray, pd.Timestamp]:
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
    observed, predicted, target = _target_fields(stack, forecast, issue, horizon)
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
    observed, predicted, target = _target_fields(stack, forecast, issue, horizon)
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


def plot_horizon_errors(per_horizon: pd.DataFrame, *, metric: str = "rmse",
                        ax: Axes | None = None, title: str | None = None,
                        legend: bool = True) -> Axes:
    """Error per step ahead for each model (mean over seeds), the noise floor dashed.

    Parameters
    ----------
    per_horizon
        :func:`gler.experiment.horizon_scores` rows of one region (or averaged beforehand).
    legend
        Draw the legend on the axes (off for small multiples that share one figure legend).
    """
    if ax is None:
        ax = plt.figure(figsize=(6.5, 4), layout="constrained").add_subplot()
    mean = per_horizon.groupby(["model", "horizon"])[metric].mean().unstack("model")
    # Colours follow the alphabetical order of the names, so that a model keeps its colour in
    # every panel; the legend follows the error order.
    palette = model_palette(mean.columns)
    for name in mean.mean().sort_values().index:
        style = "--" if name == "noise floor" else "-o"
        ax.plot(mean.index, mean[name], style, ms=3, color=palette[name], label=name,
                lw=2.2 if name == "gler" else 1.2)
    ax.set_xlabel("steps ahead (12 days each)")
    ax.set_ylabel(f"{metric.upper()} (mm)")
    ax.set_xticks(mean.index)
    if legend:
        ax.legend(fontsize="x-small", ncols=2)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_stability(table: pd.DataFrame, *, metric: str = "rmse",
                   ax: Axes | None = None) -> Axes:
    """Each seed's score (dots) and mean ± std (bar) per neural model and region.

    Parameters
    ----------
    table
        :func:`gler.experiment.scores` output.
    """
    neural = table[table["kind"] == "neural"]
    regions = list(dict.fromkeys(neural["region"]))
    models = neural.groupby("model")[metric].mean().sort_values().index
    if ax is None:
        ax = plt.figure(figsize=(7, 0.5 * len(models) + 1.6),
                        layout="constrained").add_subplot()
    offsets = np.linspace(-0.25, 0.25, len(regions)) if len(regions) > 1 else [0.0]
    for j, region in enumerate(regions):
        colour = plt.get_cmap("tab10")(j)
        for i, name in enumerate(models):
            values = neural[(neural["region"] == region) & (neural["model"] == name)][metric]
            if values.empty:
                continue
            y = i + offsets[j]
            ax.plot(values, np.full(len(values), y), "o", ms=3, color=colour, alpha=0.6)
            ax.errorbar(values.mean(), y, xerr=values.std() if len(values) > 1 else 0,
                        fmt="|", ms=10, color=colour, capsize=3,
                        label=region if i == 0 else None)
    ax.set_yticks(range(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.upper()} over the test period (mm)")
    ax.set_title("Stability over training seeds (dots: seeds; bars: mean ± std)",
                 fontsize="medium")
    ax.legend(fontsize="small", title="region")
    return ax


def plot_attention(weights: dict[str, np.ndarray], *, dates: pd.DatetimeIndex | None = None,
                   xlabel: str = "key step", ylabel: str = "query step") -> Figure:
    """Heatmaps of attention matrices ``[L, L]`` side by side with one shared colour bar.

    Parameters
    ----------
    weights
        ``{panel title: matrix}``; rows are queries, columns keys (rows sum to one).
    dates
        Dates of the window steps, for tick labels (month-day).
    """
    fig, axes = plt.subplots(1, len(weights), figsize=(3.9 * len(weights) + 0.8, 3.9),
                             layout="constrained", squeeze=False)
    # A shared scale over the data's own range: near-uniform attention (1/L everywhere) would
    # look flat on a 0..max scale although its structure is what the figure is about.
    vmin = min(float(np.min(w)) for w in weights.values())
    vmax = max(float(np.max(w)) for w in weights.values())
    image = None
    for ax, (title, matrix) in zip(axes[0], weights.items(), strict=True):
        image = ax.imshow(matrix, cmap="magma", vmin=vmin, vmax=vmax, origin="upper")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if dates is not None:
            ticks = np.arange(0, len(dates), max(len(dates) // 5, 1))
            labels = [pd.Timestamp(d).strftime("%b %d") for d in np.asarray(dates)[ticks]]
            ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(ticks, labels, fontsize=7)
    size = next(iter(weights.values())).shape[-1]
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85,
                 label=f"attention weight\n(rows sum to 1; uniform 1/{size} = {1 / size:.3f})")
    return fig


def plot_training_curves(history: pd.DataFrame, *, ax: Axes | None = None,
                         label: str = "") -> Axes:
    """Training and validation loss per epoch (normalised units), best epoch marked."""
    if ax is None:
        ax = plt.figure(figsize=(6, 3.6), layout="constrained").add_subplot()
    line, = ax.plot(history["epoch"], history["train_loss"], "-o", ms=3,
                    label=f"{label} train".strip())
    ax.plot(history["epoch"], history["val_loss"], "--s", ms=3, color=line.get_color(),
            label=f"{label} validation".strip())
    best = history.loc[history["val_loss"].idxmin()]
    ax.plot(best["epoch"], best["val_loss"], "*", ms=12, color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE, normalised units)")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


def plot_feature_maps(maps: dict[str, np.ndarray], *, dates: pd.DatetimeIndex | None = None,
                      row_labels: dict[str, list[str]] | None = None,
                      value_label: str = "activation") -> Figure:
    """Heatmaps of feature sequences ``[L, C]`` (one panel each; channels as rows, time as
    columns), each with its own colour bar.

    Parameters
    ----------
    maps
        ``{panel title: array [L, C]}``.
    dates
        Dates of the L steps (tick labels).
    row_labels
        ``{panel title: channel names}`` where channels have names (e.g. factors).
    value_label
        Label of the colour bars (what the values are).
    """
    fig, axes = plt.subplots(len(maps), 1, figsize=(8, 1.2 + 0.16 * sum(
        m.shape[1] for m in maps.values()) + 0.8 * len(maps)), layout="constrained",
        squeeze=False)
    for ax, (title, values) in zip(axes[:, 0], maps.items(), strict=True):
        limit = float(np.nanmax(np.abs(values))) or 1.0
        image = ax.imshow(values.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, label=value_label, pad=0.01)
        ax.set_title(title, fontsize="medium", loc="left")
        names = (row_labels or {}).get(title)
        if names:
            ax.set_yticks(range(len(names)), names, fontsize=8)
        else:
            ax.set_ylabel("channel")
        if dates is not None:
            ticks = np.arange(0, len(dates), max(len(dates) // 6, 1))
            ax.set_xticks(ticks, [pd.Timestamp(d).strftime("%Y-%m-%d")
                                  for d in np.asarray(dates)[ticks]], fontsize=8, rotation=20)
    axes[-1, 0].set_xlabel("input step (date)")
    return fig


def plot_splits(times: pd.DatetimeIndex, train_end: pd.Timestamp, val_end: pd.Timestamp, *,
                window: int, horizon: int, ax: Axes | None = None) -> Axes:
    """The acquisition timeline with the train/validation/test periods (by target date) and one
    example sample per period (input window and horizon as bars)."""
    times = pd.DatetimeIndex(times)
    if ax is None:
        ax = plt.figure(figsize=(9, 2.6), layout="constrained").add_subplot()
    bounds = [times[0], train_end, val_end, times[-1]]
    colours = ("tab:blue", "tab:orange", "tab:green")
    for k, (name, colour) in enumerate(zip(("train", "validation", "test"), colours,
                                           strict=True)):
        ax.axvspan(bounds[k], bounds[k + 1], color=colour, alpha=0.12, label=f"{name} targets")
        # The example issue: the last one whose horizon ends inside the period.
        last = int(np.searchsorted(times, bounds[k + 1], side="right")) - 1
        issue = last - horizon
        ax.barh(k, times[issue] - times[issue - window + 1], left=times[issue - window + 1],
                height=0.5, color="0.6", label="input window" if k == 0 else None)
        ax.barh(k, times[last] - times[issue + 1], left=times[issue + 1], height=0.5,
                color=colour, label="horizon" if k == 0 else None)
    ax.plot(times, np.full(len(times), -0.8), "|", color="k", ms=6, label="acquisitions")
    ax.set_yticks([0, 1, 2], ["train", "validation", "test"])
    ax.set_ylim(-1.2, 2.6)
    ax.set_xlabel("date")
    ax.set_title(f"Chronological split by target date: window L = {window}, horizon H = "
                 f"{horizon} acquisitions", fontsize="medium")
    ax.legend(fontsize="x-small", ncols=4, loc="upper left")
    return ax
