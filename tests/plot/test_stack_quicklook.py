"""Tests for the quick-look figure (gler/plot/stack_quicklook.py)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from gler.data.qtrsim import simulate_region
from gler.plot import quicklook, representative_pixels


@pytest.fixture(scope="module")
def stack():
    """A larger stack than the shared one, so that every land-cover class has pixels."""
    return simulate_region("beiluhe", size=24, end="2018-06-30")


def test_quicklook_draws_maps_with_units_and_one_series_per_class(stack):
    fig = quicklook(stack)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "velocity (mm/yr)" in labels and "seasonal_amplitude (mm)" in labels
    assert "displacement (mm)" in labels
    assert any("air temperature" in label and "°C" in label for label in labels)
    series = next(ax for ax in fig.axes if ax.get_ylabel() == "displacement (mm)")
    legend = [t.get_text() for t in series.get_legend().get_texts()]
    classes = representative_pixels(stack)
    assert legend == [name.replace("_", " ") for name in classes]
    assert {"stable_ground", "meadow", "embankment"} <= set(classes)
    maps = [ax for ax in fig.axes if ax.get_xlabel() == "easting (km)"]
    assert len(maps) == 2 and all(ax.images for ax in maps)
    plt.close(fig)


def test_quicklook_refuses_a_stack_without_maps(stack):
    with pytest.raises(ValueError, match="missing: velocity"):
        quicklook(stack.drop_vars("velocity"))
