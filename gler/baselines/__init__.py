"""Classical forecasters with one signature, vectorised over all pixels.

``predict(sd [P, L] mm with NaN gaps, t [L + H] decimal years, *, ddt=None, ddf=None)
-> [P, H]`` mm. Importing this package registers them with :func:`gler.models.create_model`.
"""

from __future__ import annotations

from gler.baselines.base import (
    ClassicalForecaster,
    LeastSquaresForecaster,
    fill_gaps,
    masked_lstsq,
)
from gler.baselines.harmonic import Harmonic
from gler.baselines.linear_trend import LinearTrend
from gler.baselines.persistence import Persistence
from gler.baselines.seasonal_naive import SeasonalNaive
from gler.baselines.stefan import Stefan

__all__ = [
    "ClassicalForecaster",
    "Harmonic",
    "LeastSquaresForecaster",
    "LinearTrend",
    "Persistence",
    "SeasonalNaive",
    "Stefan",
    "fill_gaps",
    "masked_lstsq",
]
