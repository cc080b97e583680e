"""Tests for the book's map and evaluation figures in gler.plot (offline cartopy)."""

from __future__ import annotations

import cartopy
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler import plot
from gler.data.qtrsim import simulate_region


@pytest.fixture(scope="module")
def stack():
    return simulate_region("beiluhe", size=16, end="2018-12-31")


@pytest.fixture(scope="module")
def forecast(stack):
    """A fake forecast: the clean signal at the next two dates of three issue dates."""
    issues = stack["time"].values[30:33]
    targets = np.stack([stack["time"].values[31:34], stack["time"].values[32:35]], axis=1)
    values = np.stack([stack["displacement_clean"].sel(time=t).values for t in targets])
    return xr.Dataset({"forecast": (("issue_time", "horizon", "y", "x"), values,
                                    {"units": "mm"})},
                      coords={"issue_time": issues, "horizon": [1, 2],
                              "target_time": (("issue_time", "horizon"), targets),
                              "y": stack["y"], "x": stack["x"], "lat": stack["lat"],
                              "lon": stack["lon"]})


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """Empty cartopy data directories and a downloader that fails the test if called."""
    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path))
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path))

    def refuse(*args, **kwargs):
        pytest.fail("cartopy tried to download data")

    monkeypatch.setattr(cartopy.io.Downloader, "acquire_resource", refuse)


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


def test_series_and_error_figures(stack, forecast):
    """Series panels, per-horizon curves, stability and attention heatmaps draw."""
    fig = plot.plot_forecast_series(stack, forecast, {"meadow": (3, 3), "embankment": (8, 8)},
                                    every=1, start=None)
    assert len(fig.axes) == 2
    per_h = pd.DataFrame({"model": ["gler", "gler", "noise floor", "noise floor"],
                          "horizon": [1, 2, 1, 2], "rmse": [1.0, 1.5, 0.5, 0.5]})
    ax = plot.plot_horizon_errors(per_h)
    assert {line.get_label() for line in ax.lines} == {"gler", "noise floor"}
    table = pd.DataFrame({"region": ["a"] * 3, "model": ["gler"] * 3, "kind": ["neural"] * 3,
                          "rmse": [1.0, 1.2, 1.1]})
    assert plot.plot_stability(table).get_yticklabels()[0].get_text() == "gler"
    fig = plot.plot_attention({"thaw": np.full((4, 4), 0.25), "freeze": np.eye(4)},
                              dates=pd.date_range("2021-01-01", periods=4, freq="12D"))
    assert "attention weight" in fig.axes[-1].get_ylabel()
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [0.9, 0.7]})
    assert plot.plot_training_curves(history).get_yscale() == "log"
    plt.close("all")


def test_feature_maps_and_splits(stack):
    """Feature heatmaps get one colour bar each; the split timeline shows three periods."""
    dates = stack.indexes["time"][:6]
    fig = plot.plot_feature_maps({"dense": np.ones((6, 3)), "factors": np.zeros((6, 2))},
                                 dates=dates, row_labels={"factors": ["a", "b"]})
    assert sum(ax.get_ylabel() == "activation" for ax in fig.axes) == 2
    times = stack.indexes["time"]
    ax = plot.plot_splits(times, pd.Timestamp("2017-12-31"), pd.Timestamp("2018-06-30"),
                          window=8, horizon=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["train", "validation", "test"]
    plt.close("all")
