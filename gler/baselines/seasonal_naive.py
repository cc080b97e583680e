"""Seasonal naive with drift: last year's value at the same phase plus one year's change."""

from __future__ import annotations

from typing import Any

import numpy as np

from gler.baselines.base import ClassicalForecaster, fill_gaps
from gler.baselines.persistence import _last_observed
from gler.models._registry import register_model


class SeasonalNaive(ClassicalForecaster):
    """``ŷ(t + h) = y(t + h − m) + (m / s) · [y(t) − y(t − s)]`` with ``s = min(m, L − 1)``.

    ``m`` is the number of acquisitions per year, ``round(1 / median(diff(t)))`` (30 at a
    12-day revisit). For ``L ≥ m + 1`` this is exactly the protocol's
    ``y(t + h − m) + [y(t) − y(t − m)]``; at ``L = m`` the value one year before ``t`` lies
    just outside the window, so the annual drift is the change over the last ``m − 1`` steps
    scaled to ``m`` steps (our choice, so the default L = 30 works at a 12-day revisit).
    NaN gaps are filled by carrying the last observation forward (leading gaps: the first
    observation) before the formula is applied.

    Raises
    ------
    ValueError
        (from ``predict``) if ``L < m`` or ``H > m``: the seasonal analogue of a horizon step
        must lie in the window.
    """

    def predict(self, sd: np.ndarray, t: np.ndarray, *, ddt: np.ndarray | None = None,
                ddf: np.ndarray | None = None) -> np.ndarray:
        """Forecast ``[P, H]`` from the window ``[P, L]``; ``ddt``/``ddf`` are ignored."""
        sd, t = self.check(sd, t)
        L, H = self.window, self.horizon
        m = round(1.0 / float(np.median(np.diff(t))))
        if m < 2 or L < m or H > m:
            msg = (f"SeasonalNaive needs window >= m and horizon <= m, where m = {m} "
                   f"acquisitions per year (from the median spacing of t); got window={L}, "
                   f"horizon={H}. Use a window of at least one year.")
            raise ValueError(msg)
        _last_observed(sd)  # warns about pixels without any observation
        filled = fill_gaps(sd)
        s = min(m, L - 1)
        drift = (m / s) * (filled[:, L - 1] - filled[:, L - 1 - s])
        same_phase = filled[:, L - 1 - m + np.arange(1, H + 1)]  # y(t + h − m)
        return same_phase + drift[:, None]


@register_model("seasonal-naive", kind="classical", uses_ef=False, family="classical",
                tags=("baseline",),
                description="Seasonal naive with drift: last year's value plus annual change")
def seasonal_naive(*, window: int, horizon: int, n_ef: int,
                   **overrides: Any) -> SeasonalNaive:
    """Seasonal naive with drift; ``n_ef`` is ignored."""
    return SeasonalNaive(window=window, horizon=horizon, **overrides)
