"""Tests for gler.data.degree_days: hand-checkable sums, the season reset, refused gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gler.data.degree_days import degree_days, season_index


def _days(start: str, periods: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=periods, freq="D")


def test_sums_are_running_positive_and_negative_parts():
    """DDT sums max(T, 0) and DDF sums max(-T, 0), day by day."""
    dates = _days("2020-05-01", 5)
    ddt, ddf = degree_days(np.array([2.0, -1.0, 3.0, 0.0, -4.0]), dates)
    np.testing.assert_allclose(ddt, [2, 2, 5, 5, 5])
    np.testing.assert_allclose(ddf, [0, 1, 1, 1, 5])


def test_season_reset_on_season_start():
    """Both sums restart at zero on the season start (1 April by default, or as given)."""
    dates = _days("2021-03-30", 4)  # 30 Mar, 31 Mar | 1 Apr, 2 Apr
    ddt, ddf = degree_days(np.array([1.0, -2.0, 3.0, 4.0]), dates)
    np.testing.assert_allclose(ddt, [1, 1, 3, 7])
    np.testing.assert_allclose(ddf, [0, 2, 0, 0])
    ddt_oct, _ = degree_days(np.array([1.0, 1.0, 1.0, 1.0]), dates, season_start="03-31")
    np.testing.assert_allclose(ddt_oct, [1, 1, 2, 3])


def test_freezing_counts_from_the_thaw_onset():
    """Cold days before the season's first thawing day add no freezing degree-days."""
    dates = _days("2020-04-01", 6)
    ddt, ddf = degree_days(np.array([-5.0, -5.0, 2.0, -1.0, 3.0, -2.0]), dates)
    np.testing.assert_allclose(ddt, [0, 0, 2, 2, 5, 5])
    np.testing.assert_allclose(ddf, [0, 0, 0, 1, 1, 3])


def test_leading_axes_are_independent_series():
    """A [P, D] input gives one running sum per row."""
    dates = _days("2020-06-01", 3)
    temps = np.array([[1.0, 1.0, 1.0], [-1.0, 2.0, -3.0]])
    ddt, ddf = degree_days(temps, dates)
    np.testing.assert_allclose(ddt, [[1, 2, 3], [0, 2, 2]])
    np.testing.assert_allclose(ddf, [[0, 0, 0], [0, 0, 3]])


def test_gap_in_dates_is_refused():
    """A missing day is named in the error."""
    dates = _days("2020-06-01", 4).delete(2)
    with pytest.raises(ValueError, match="jumps from 2020-06-02 to 2020-06-04"):
        degree_days(np.zeros(3), dates)


def test_nan_and_length_mismatch_are_refused():
    """NaN temperatures and a wrong number of days give clear errors."""
    dates = _days("2020-06-01", 3)
    with pytest.raises(ValueError, match="1 NaN"):
        degree_days(np.array([1.0, np.nan, 2.0]), dates)
    with pytest.raises(ValueError, match="must match"):
        degree_days(np.zeros(4), dates)


def test_season_index_and_bad_season_start():
    """Dates before the season start belong to the previous freeze–thaw year."""
    dates = pd.DatetimeIndex(["2020-03-31", "2020-04-01", "2021-01-15"])
    np.testing.assert_array_equal(season_index(dates), [2019, 2020, 2020])
    with pytest.raises(ValueError, match="MM-DD"):
        season_index(dates, "April")


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_any_datetime_unit_counts_days(unit):
    """Day steps are counted in days whatever resolution pandas gives the dates."""
    dates = pd.date_range("2020-05-01", periods=3, freq="D").as_unit(unit)
    ddt, _ = degree_days(np.array([1.0, 2.0, 3.0]), dates)
    np.testing.assert_allclose(ddt, [1, 3, 6])
