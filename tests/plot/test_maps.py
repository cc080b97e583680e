"""Tests for the maps (gler/plot/maps.py; offline cartopy)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from gler import plot


def test_observed_predicted_maps(stack, forecast, no_download):
    """Three labelled panels plus colour bars with units; a perfect forecast differs by noise."""
    fig = plot.plot_observed_predicted(stack, forecast, issue=0, horizon=1)
    fig.canvas.draw()
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert "displacement (mm)" in labels
    assert "predicted − observed (mm)" in labels
    plt.close(fig)
    with pytest.raises(ValueError, match="lat/lon"):
        plot.plot_map(stack["displacement"], ax=plot.map_axes(1)[1][0, 0])
    plt.close("all")
