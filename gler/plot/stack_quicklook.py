"""Quick look at a simulated or real stack (plain matplotlib; maps in the grid's own projected
metres): :func:`quicklook`, built from :func:`~gler.plot.maps.plot_parameter_map` and
:func:`~gler.plot.series.plot_pixel_series`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import xarray as xr
from matplotlib.figure import Figure

from gler.plot.maps import plot_parameter_map
from gler.plot.series import plot_pixel_series, representative_pixels


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
