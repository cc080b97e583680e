"""Tests for the series and the profile across the railway (gler/plot/series.py)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from gler import plot


def test_transect_crosses_the_railway(stack, forecast):
    """The transect has pixels on both sides of the railway and no duplicates."""
    line = plot.embankment_transect(stack)
    d = line["distance"].values
    assert d.min() < 0 < d.max()
    pairs = list(zip(line["row"].values, line["col"].values, strict=True))
    assert len(pairs) == len(set(pairs))
    ax = plot.plot_transect(stack, forecast, issue=0)
    assert ax.get_xlabel() == "distance across the railway (m)"
    plt.close("all")


def test_forecast_series_has_one_panel_per_pixel(stack, forecast):
    fig = plot.plot_forecast_series(stack, forecast, {"meadow": (3, 3), "embankment": (8, 8)},
                                    every=1, start=None)
    assert len(fig.axes) == 2
    plt.close("all")
