"""BiGRU baseline: Bidirectional GRU without GLER's modules."""

from __future__ import annotations

from typing import Any

from gler.layers import GRU
from gler.models._registry import register_model
from gler.models.config import BaselineConfig
from gler.models.recurrent import RecurrentForecaster


@register_model("bigru", kind="neural", uses_ef=True, family="recurrent", tags=("baseline",),
                description="Bidirectional GRU without GLER's modules, multi-output head")
def bigru(
    *, window: int, horizon: int, n_ef: int, **overrides: Any
) -> RecurrentForecaster:
    """BiGRU over SD, mask and factors; fields of :class:`BaselineConfig` as overrides."""
    config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
    return RecurrentForecaster(config, rnn_layer=GRU, bidirectional=True)
