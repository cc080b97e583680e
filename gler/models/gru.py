"""GRU baseline: Gated recurrent unit network (Cho et al. 2014)."""

from __future__ import annotations

from typing import Any

from torch import nn

from gler.models._registry import register_model
from gler.models.config import BaselineConfig
from gler.models.recurrent import RecurrentForecaster


@register_model("gru", kind="neural", uses_ef=True,
                description="Gated recurrent unit network (Cho et al. 2014), multi-output head")
def gru(
    *, window: int = 30, horizon: int = 6, n_ef: int = 0, **overrides: Any
) -> RecurrentForecaster:
    """GRU over SD, mask and factors; fields of :class:`BaselineConfig` as overrides."""
    config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
    return RecurrentForecaster(config, rnn_layer=nn.GRU, bidirectional=False)
