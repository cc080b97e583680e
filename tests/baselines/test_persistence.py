"""Persistence holds the last observed value."""

from __future__ import annotations

import numpy as np
import pytest

from gler.models import create_model

T = np.arange(7.0) / 30


def test_last_observed_value_is_held():
    """Each pixel repeats its last non-NaN value over the horizon."""
    sd = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 5.0, np.nan, np.nan]])
    forecast = create_model("persistence", window=4, horizon=3).predict(sd, T)
    np.testing.assert_array_equal(forecast, [[4.0] * 3, [5.0] * 3])


def test_empty_pixel_is_nan_with_warning():
    """A pixel with no observation gives NaN and a warning with the count."""
    sd = np.array([[np.nan] * 4, [1.0, 2.0, 3.0, 4.0]])
    with pytest.warns(RuntimeWarning, match="1 of 2 pixels have no observation"):
        forecast = create_model("persistence", window=4, horizon=3).predict(sd, T)
    assert np.isnan(forecast[0]).all() and (forecast[1] == 4.0).all()
