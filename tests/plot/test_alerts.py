"""Tests for the figures of probabilistic forecasts and alerts (gler/plot/alerts.py)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from gler import plot
from gler.alerts import PROBABILITY
from gler.conformal import QUANTILE


@pytest.fixture(scope="module")
def quantile_forecast(forecast):
    """The fake forecast with 80 % and 90 % intervals of ±1 and ±2 mm around it."""
    offsets = xr.DataArray([-2.0, -1.0, 1.0, 2.0], dims="quantile",
                           coords={"quantile": [0.05, 0.1, 0.9, 0.95]})
    return forecast.assign({QUANTILE: forecast["forecast"] + offsets})


@pytest.fixture(scope="module")
def alerts(stack, forecast):
    """An alert map as :func:`gler.alerts.alert_map` lays it out, over two steps ahead."""
    steps = forecast["forecast"].drop_vars(["horizon", "target_time"])
    change = steps.isel(horizon=1) - steps.isel(horizon=0)
    return xr.Dataset({PROBABILITY: xr.full_like(change, 0.5), "observed_change": change,
                       "clean_change": 0.9 * change},
                      coords={"alert_time": ("issue_time",
                                             forecast["target_time"].values[:, 1])},
                      attrs={"threshold_mm": 1.0, "direction": "settlement"})


def test_interval_series_draws_a_band_per_interval(stack, quantile_forecast):
    fig = plot.plot_interval_series(stack, quantile_forecast, {"meadow": (3, 3), "e": (8, 8)},
                                    step=2, start=None)
    assert len(fig.axes) == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["90% interval", "80% interval", "forecast 2 steps ahead", "InSAR",
                      "clean"]
    assert fig.axes[-1].get_xlabel() == "target date"
    plt.close("all")


def test_pit_and_reliability_show_their_references():
    """A flat PIT line at density 1 and the diagonal of perfect reliability."""
    ax = plot.plot_pit({"a": [0.1] * 10, "b": np.linspace(0.05, 0.15, 10)})
    assert len(ax.patches) == 2 and ax.get_xlabel() == "PIT"
    assert [line.get_ydata()[0] for line in ax.lines] == [1.0]
    table = [{"mean_probability": 0.1, "observed_frequency": 0.2},
             {"mean_probability": 0.7, "observed_frequency": 0.6}]
    ax = plot.plot_reliability({"gler": table})
    assert ax.lines[0].get_label() == "gler" and len(ax.lines) == 2
    assert list(ax.lines[-1].get_xdata()) == [0, 1] == list(ax.lines[-1].get_ydata())
    plt.close("all")


def test_alert_maps_show_probability_and_both_changes(alerts, stack, no_download):
    fig = plot.plot_alert_maps(alerts, stack, issue=1)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["alert probability", "InSAR change", "clean change"]
    assert fig.get_suptitle().startswith("settlement of 1 mm or more from ")
    plt.close(fig)
    fig = plot.plot_alert_maps(alerts.drop_vars("clean_change"), stack)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["alert probability",
                                                                     "InSAR change"]
    plt.close("all")
