"""LSTM baseline: long short-term memory network (Hochreiter and Schmidhuber 1997)."""

from __future__ import annotations

from typing import Any

from torch import nn

from gler.models._registry import register_model
from gler.models.config import BaselineConfig
from gler.models.recurrent import RecurrentForecaster


@register_model(
    "lstm", kind="neural", uses_ef=True, family="recurrent", tags=("baseline",),
    description="Long short-term memory (Hochreiter and Schmidhuber 1997), multi-output head",
)
def lstm(
    *, window: int, horizon: int, n_ef: int, **overrides: Any
) -> RecurrentForecaster:
    """LSTM over SD, mask and factors; fields of :class:`BaselineConfig` as overrides."""
    config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
    return RecurrentForecaster(config, rnn_layer=nn.LSTM, bidirectional=False)
