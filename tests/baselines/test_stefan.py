"""Stefan degree-day least squares recovers a planted freeze–thaw signal and extrapolates it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gler.baselines import Stefan
from gler.data.degree_days import degree_days
from gler.models import create_model, model_info

L, H, P = 30, 6, 50
# unit="ns": degree_days reads asi8 as nanoseconds (pandas 3 defaults to "us")
DAYS = pd.date_range("2019-01-01", "2021-12-31", freq="D", unit="ns")
TEMP = -3.0 + 12 * np.sin(2 * np.pi * (DAYS.day_of_year.to_numpy() - 120) / 365.25)
ACQ = np.arange(300, 300 + 12 * (L + H), 12)  # day indices: a window across a thaw season
T = 2019 + ACQ / 365.25


def degree_days_at_acquisitions(shift: np.ndarray | float = 0.0):
    ddt, ddf = degree_days(TEMP + np.atleast_1d(shift)[:, None], DAYS)
    return ddt[:, ACQ], ddf[:, ACQ]


def planted(ddt, ddf, seed=0):
    coef = np.random.default_rng(seed).normal(size=(P, 4)) * [2, 10, 0.5, 0.3]
    y = (coef[:, :1] + coef[:, 1:2] * (T - T[L - 1]) - coef[:, 2:3] * np.sqrt(ddt)
         + coef[:, 3:4] * np.sqrt(ddf))
    return coef, y


@pytest.mark.parametrize("gaps", [False, True])
def test_recovers_and_extrapolates_planted_signal(gaps):
    """Shared degree-days: coefficients and horizon recovered to 1e-6, NaN gaps skipped."""
    ddt, ddf = (a[0] for a in degree_days_at_acquisitions())
    assert ddt[L - 1] > 0 and ddf[:L].max() > 0  # the window sees both seasons
    coef, y = planted(ddt, ddf)
    sd = y[:, :L].copy()
    if gaps:
        sd[np.random.default_rng(3).random(sd.shape) < 0.2] = np.nan
    model = Stefan(window=L, horizon=H)
    np.testing.assert_allclose(model.fit_coefficients(sd, T, ddt=ddt, ddf=ddf), coef, atol=1e-6)
    np.testing.assert_allclose(model.predict(sd, T, ddt=ddt, ddf=ddf), y[:, L:], atol=1e-6)


def test_per_pixel_degree_days():
    """Degree-days given per pixel [P, L + H] (e.g. per-pixel temperature) work the same."""
    ddt, ddf = degree_days_at_acquisitions(np.linspace(-2, 2, P))
    _, y = planted(ddt, ddf)
    forecast = create_model("stefan", window=L, horizon=H).predict(y[:, :L], T, ddt=ddt, ddf=ddf)
    np.testing.assert_allclose(forecast, y[:, L:], atol=1e-6)


def test_needs_degree_days():
    """Missing, misshaped or negative degree-days raise ValueError saying what is needed."""
    model = Stefan(window=L, horizon=H)
    assert model_info("stefan").needs == {"ddt": "thawing_degree_days",
                                          "ddf": "freezing_degree_days"}
    sd = np.zeros((2, L))
    ddt = np.ones(L + H)
    with pytest.raises(ValueError, match="Stefan needs ddt"):
        model.predict(sd, T, ddf=ddt)
    with pytest.raises(ValueError, match="ddf has shape"):
        model.predict(sd, T, ddt=ddt, ddf=ddt[:L])
    with pytest.raises(ValueError, match="finite and >= 0"):
        model.predict(sd, T, ddt=-ddt, ddf=ddt)
    with pytest.raises(ValueError, match="per-pixel ddt has 3 rows but sd has 2"):
        model.predict(sd, T, ddt=np.ones((3, L + H)), ddf=ddt)
