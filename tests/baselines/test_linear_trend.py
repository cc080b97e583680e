"""Linear trend recovers a planted velocity, with gaps, and is registered as a baseline."""

from __future__ import annotations

import numpy as np

from gler.baselines import LinearTrend
from gler.models import create_model, model_info

L, H, P = 30, 6, 50
T = 2019.3 + np.arange(L + H) * 12 / 365.25


def test_recovers_velocity_with_gaps():
    """Offset and velocity come back to 1e-6 and the horizon is the straight line."""
    rng = np.random.default_rng(0)
    offset, velocity = rng.normal(size=(P, 1)), rng.normal(scale=20, size=(P, 1))
    y = offset + velocity * (T - T[L - 1])
    sd = y[:, :L].copy()
    sd[rng.random(sd.shape) < 0.3] = np.nan
    sd[:, :2] = y[:, :2]  # at least two observations per pixel
    model = LinearTrend(window=L, horizon=H)
    np.testing.assert_allclose(model.fit_coefficients(sd, T),
                               np.hstack([offset, velocity]), atol=1e-6)
    np.testing.assert_allclose(model.predict(sd, T), y[:, L:], atol=1e-6)


def test_registered_as_classical_without_factors():
    """create_model builds it; it uses no factor."""
    info = model_info("linear-trend")
    assert (info.kind, info.uses_ef) == ("classical", False)
    assert isinstance(create_model("linear-trend", window=L, horizon=H), LinearTrend)
