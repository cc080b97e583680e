"""Figures shared by the book and the command line, one concern per module.

- :mod:`~gler.plot.layout`: panel grids, map axes and the colour of each model;
- :mod:`~gler.plot.maps`: maps of one field, projected or on latitude/longitude, and the
  observed-versus-predicted maps of a forecast;
- :mod:`~gler.plot.series`: pixel series, forecast windows and the profile across the railway;
- :mod:`~gler.plot.stack_quicklook`: :func:`quicklook`, maps and series of a stack at a glance;
- :mod:`~gler.plot.overview`: the overview map of the railway and the study sites;
- :mod:`~gler.plot.diagnostics`: splits, training curves, attention, feature maps, errors per
  step ahead and stability over seeds;
- :mod:`~gler.plot.alerts`: interval series, PIT, reliability and alert maps.

Every figure is importable from here. ``import gler.plot`` loads neither torch nor the
simulator; cartopy and the data layer are imported by the functions that need them.

Example
-------
>>> from gler import plot
>>> fig, axes = plot.panel_grid(2)
"""

from __future__ import annotations

from gler.plot.alerts import plot_alert_maps, plot_interval_series, plot_pit, plot_reliability
from gler.plot.diagnostics import (
    plot_attention,
    plot_feature_maps,
    plot_folds,
    plot_horizon_errors,
    plot_learning_curves,
    plot_splits,
    plot_stability,
    plot_training_curves,
)
from gler.plot.layout import FREE_COLOURS, MODEL_COLOURS, map_axes, model_palette, panel_grid
from gler.plot.maps import plot_map, plot_observed_predicted, plot_parameter_map
from gler.plot.overview import NATURAL_EARTH, natural_earth_path, plot_overview_map
from gler.plot.series import (
    CLASS_COLOURS,
    embankment_transect,
    plot_forecast_series,
    plot_pixel_series,
    plot_transect,
    representative_pixels,
)
from gler.plot.stack_quicklook import quicklook

__all__ = [
    "CLASS_COLOURS",
    "FREE_COLOURS",
    "MODEL_COLOURS",
    "NATURAL_EARTH",
    "embankment_transect",
    "map_axes",
    "model_palette",
    "natural_earth_path",
    "panel_grid",
    "plot_alert_maps",
    "plot_attention",
    "plot_feature_maps",
    "plot_folds",
    "plot_forecast_series",
    "plot_horizon_errors",
    "plot_interval_series",
    "plot_learning_curves",
    "plot_map",
    "plot_observed_predicted",
    "plot_overview_map",
    "plot_parameter_map",
    "plot_pit",
    "plot_pixel_series",
    "plot_reliability",
    "plot_splits",
    "plot_stability",
    "plot_training_curves",
    "plot_transect",
    "quicklook",
    "representative_pixels",
]
