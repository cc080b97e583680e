"""Figure layout shared by the book's figures: panel grids, map axes and model colours."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Colour per model family in the comparison figures (others cycle through tab10).
MODEL_COLOURS = {"gler": "black", "persistence": "tab:grey", "harmonic": "tab:olive",
                 "stefan": "tab:brown", "seasonal-naive": "tab:pink", "linear-trend": "darkkhaki",
                 "noise floor": "tab:red"}

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
    """A figure of ``nrows × ncols`` cartopy PlateCarree axes for
    :func:`~gler.plot.maps.plot_map` panels."""
    import cartopy.crs as ccrs

    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols + 0.6, 0.8 * panel * nrows + 0.4),
                             subplot_kw={"projection": ccrs.PlateCarree()},
                             layout="constrained", squeeze=False)
    return fig, axes
