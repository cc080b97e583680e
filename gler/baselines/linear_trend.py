"""Linear trend: the velocity fit InSAR users know, extrapolated over the horizon."""

from __future__ import annotations

from typing import Any

import numpy as np

from gler.baselines.base import LeastSquaresForecaster
from gler.models._registry import register_model


class LinearTrend(LeastSquaresForecaster):
    """``y = c + v τ``, fitted per pixel on the window (NaN gaps skipped), ``τ = t − t[L − 1]``.

    The constant-velocity model, the simplest yardstick of an InSAR time series: its velocity
    is the slope of a straight line through the window, extrapolated to the horizon dates. With
    the annual sinusoid added it is :class:`~gler.baselines.Harmonic` (``harmonic``).

    Parameters
    ----------
    window, horizon
        L and H.

    Example
    -------
    >>> import numpy as np
    >>> from gler.baselines import LinearTrend
    >>> t = 2020 + np.arange(8) / 10
    >>> LinearTrend(window=6, horizon=2).predict((3 - 10 * t)[None, :6], t).round(6).tolist()
    [[-20199.0, -20200.0]]
    """

    def design(self, t: np.ndarray, *, ddt: np.ndarray | None = None,
               ddf: np.ndarray | None = None) -> np.ndarray:
        """Columns ``[1, τ]``, shape ``[L + H, 2]``."""
        return np.stack([np.ones_like(t), t - t[self.window - 1]], axis=-1)


@register_model("linear-trend", kind="classical", uses_ef=False, family="classical",
                tags=("baseline",),
                description="Least-squares offset + velocity on the window (a velocity fit)")
def linear_trend(*, window: int, horizon: int, n_ef: int,
                 **overrides: Any) -> LinearTrend:
    """Linear trend (velocity) least squares; ``n_ef`` is ignored."""
    return LinearTrend(window=window, horizon=horizon, **overrides)
