"""Tests for the overview map (gler/plot/overview.py; offline cartopy)."""

from __future__ import annotations

import cartopy
import matplotlib.pyplot as plt

from gler import plot


def test_overview_map_draws_offline(no_download, caplog):
    """Without Natural Earth files the overview map draws railway and regions, no download;
    the missing layers are logged, not written into the reader's figure title."""
    assert plot.natural_earth_path("land") is None
    with caplog.at_level("INFO", logger="gler.plot"):
        ax = plot.plot_overview_map()
    ax.figure.canvas.draw()
    texts = {t.get_text().split("\n")[0] for t in ax.texts}
    assert {"Xidatan", "Wudaoliang", "Beiluhe", "Tuotuohe"} <= texts
    assert ax.get_title() == "QTR-sim regions along the Qinghai–Tibet Railway"
    assert "No Natural Earth layers on disk" in caplog.text
    plt.close("all")


def test_natural_earth_found_when_present(monkeypatch, tmp_path):
    """A shapefile in cartopy's data dir layout is found."""
    path = tmp_path / "shapefiles" / "natural_earth" / "physical" / "ne_50m_land.shp"
    path.parent.mkdir(parents=True)
    path.touch()
    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path))
    assert plot.natural_earth_path("land") == path
