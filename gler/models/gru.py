"""GRU baseline: Gated recurrent unit network (Cho et al. 2014)."""

from __future__ import annotations

from typing import Any

from gler.layers import GRU
from gler.models._registry import register_model
from gler.models.config import BaselineConfig
from gler.models.recurrent import RecurrentForecaster


@register_model("gru", kind="neural", uses_ef=True, family="recurrent", tags=("baseline",),
                description="Gated recurrent unit network (Cho et al. 2014), multi-output head")
def gru(
    *, window: int, horizon: int, n_ef: int, **overrides: Any
) -> RecurrentForecaster:
    """GRU over SD, mask and factors; fields of :class:`BaselineConfig` as overrides."""
    config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
    return RecurrentForecaster(config, rnn_layer=GRU, bidirectional=False)
