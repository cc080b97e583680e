"""Tests for gler.data.calendar: day-of-year features and when they are added."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gler.data.calendar import CALENDAR_FACTORS, calendar_features, with_calendar


def test_features_follow_the_day_of_year():
    """1 January is (0, 1), 1 April about (1, 0); the same day of two years is the same."""
    values = calendar_features(pd.to_datetime(["2021-01-01", "2021-04-02", "2022-04-02"]))
    np.testing.assert_allclose(values[0], [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(values[1], [1.0, 0.0], atol=0.02)
    np.testing.assert_allclose(values[1], values[2], atol=0.01)
    assert values.dtype == np.float32


def test_added_only_without_factors_unless_asked(caplog):
    """Default: calendar only when there is no factor (said once); True/False force it."""
    with caplog.at_level(logging.WARNING):
        assert with_calendar([], None) == list(CALENDAR_FACTORS)
    assert "calendar features" in caplog.text
    assert with_calendar(["precipitation"], None) == ["precipitation"]
    assert with_calendar(["precipitation"], True) == ["precipitation", *CALENDAR_FACTORS]
    assert with_calendar([], False) == []
