"""The overview map of the Qinghai–Tibet Railway and the study sites (cartopy; offline)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

#: Natural Earth layers drawn on the overview map when their shapefiles are already on disk.
NATURAL_EARTH = (("physical", "land", "#f2efe6"), ("physical", "lakes", "#cfe3f3"),
                 ("physical", "rivers_lake_centerlines", "#6fa8dc"),
                 ("cultural", "admin_1_states_provinces_lines", "#999999"))


def natural_earth_path(name: str, category: str = "physical",
                       resolution: str = "50m") -> Path | None:
    """Path of a Natural Earth shapefile already on disk, or None (never downloads).

    Looks in ``cartopy.config["pre_existing_data_dir"]`` and ``cartopy.config["data_dir"]``
    under cartopy's own layout ``shapefiles/natural_earth/<category>/ne_<res>_<name>.shp``.
    """
    import cartopy

    relative = Path("shapefiles", "natural_earth", category, f"ne_{resolution}_{name}.shp")
    for key in ("pre_existing_data_dir", "data_dir"):
        base = cartopy.config.get(key)
        if base and str(base) not in ("", ".") and (Path(base) / relative).is_file():
            return Path(base) / relative
    return None


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
