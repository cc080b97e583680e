"""Seasonal naive with drift: last year's value at the same phase plus the annual change."""

from __future__ import annotations

import numpy as np
import pytest

from gler.baselines import SeasonalNaive, fill_gaps

M, H = 30, 6  # acquisitions per year, horizon


def series(L: int, P: int = 4, seed: int = 0):
    t = 2020 + np.arange(L + H) / M
    rng = np.random.default_rng(seed)
    phase = rng.normal(size=(P, M))  # any periodic pattern with period M steps
    v = rng.normal(scale=10, size=(P, 1))
    y = phase[:, np.arange(L + H) % M] + v * t
    return t, y


@pytest.mark.parametrize("L", [M + 1, M + 7])
def test_exact_for_periodic_signal_with_drift(L):
    """For L >= m + 1 a periodic pattern plus a linear trend is forecast exactly."""
    t, y = series(L)
    forecast = SeasonalNaive(window=L, horizon=H).predict(y[:, :L], t)
    np.testing.assert_allclose(forecast, y[:, L:], atol=1e-9)


def test_window_of_one_year_scales_the_drift():
    """At L = m the drift over m - 1 steps is scaled to a year: exact for a linear trend."""
    t = 2020 + np.arange(M + H) / M
    y = np.array([[3.0], [-7.0]]) * t + 1.0
    forecast = SeasonalNaive(window=M, horizon=H).predict(y[:, :M], t)
    np.testing.assert_allclose(forecast, y[:, M:], atol=1e-9)


def test_gaps_are_filled_forward():
    """NaN gaps take the previous observation (leading gaps the first one) before the formula."""
    sd = np.array([[np.nan, 1.0, np.nan, np.nan, 4.0, np.nan]])
    np.testing.assert_array_equal(fill_gaps(sd), [[1.0, 1.0, 1.0, 1.0, 4.0, 4.0]])
    L = M + 1
    t, y = series(L, P=1)
    sd = y[:, :L].copy()
    sd[0, L - 1 - M + 2] = np.nan  # the value one year before horizon step 2
    forecast = SeasonalNaive(window=L, horizon=H).predict(sd, t)
    drift = y[0, L - 1] - y[0, L - 1 - M]
    assert forecast[0, 1] == pytest.approx(y[0, L - 1 - M + 1] + drift)


def test_short_window_raises():
    """L < m (or H > m) is refused with m and the fix in the message."""
    t = 2020 + np.arange(20 + H) / M
    with pytest.raises(ValueError, match=f"window >= m and horizon <= m, where m = {M}"):
        SeasonalNaive(window=20, horizon=H).predict(np.zeros((1, 20)), t)
