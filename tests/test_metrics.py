"""Tests for gler.metrics: masked errors, R², skill, trends, seed spread."""

from __future__ import annotations

import numpy as np
import pytest

from gler.metrics import correlation, mae, mean_std, r2, rmse, skill, trend


def test_errors_skip_nans_and_respect_the_mask():
    """NaN in either array and masked-out positions do not count."""
    pred = np.array([1.0, 2.0, np.nan, 10.0])
    obs = np.array([0.0, 4.0, 1.0, np.nan])
    assert rmse(pred, obs) == pytest.approx(np.sqrt((1 + 4) / 2))
    assert mae(pred, obs) == pytest.approx(1.5)
    assert rmse(pred, obs, mask=np.array([True, False, True, True])) == pytest.approx(1.0)


def test_per_axis_reduction_and_empty_groups():
    """Reducing over axes gives one value per remaining index; an empty group is NaN."""
    pred = np.zeros((2, 3))
    obs = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, np.nan]])
    np.testing.assert_allclose(rmse(pred, obs, axis=0)[:2], [np.sqrt(5), np.sqrt(10)])
    assert np.isnan(rmse(pred, obs, axis=0)[2])


def test_r2_perfect_mean_and_shape_mismatch():
    """R² is 1 for a perfect forecast, 0 for the mean; mismatched shapes are refused."""
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2(obs, obs) == pytest.approx(1.0)
    assert r2(np.full(4, 2.5), obs) == pytest.approx(0.0)
    np.testing.assert_allclose(r2(np.stack([obs, obs]), np.stack([obs, obs]), axis=1), [1, 1])
    with pytest.raises(ValueError, match="must match"):
        rmse(obs, obs[:3])


def test_skill_trend_and_correlation():
    """Skill is 1 − ratio; trend recovers a slope despite gaps; correlation of a line is 1."""
    assert skill(1.0, 2.0) == pytest.approx(0.5)
    assert np.isnan(skill(1.0, 0.0))
    years = np.linspace(0, 1, 10)
    series = np.stack([3.0 * years + 1, -2.0 * years])
    series[0, 4] = np.nan
    np.testing.assert_allclose(trend(series, years), [3.0, -2.0])
    assert correlation([1, 2, 3, 4], [2, 4, 6, 8.5]) > 0.99
    assert np.isnan(correlation([1, 2], [1, 2]))


def test_mean_std_over_seeds():
    """Sample std over finite values; one value has std 0."""
    out = mean_std([1.0, 2.0, 3.0, float("nan")])
    assert out == {"mean": 2.0, "std": 1.0, "n": 3}
    assert mean_std([5.0])["std"] == 0.0
