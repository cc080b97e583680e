"""GRU baselines: a gated recurrent unit network (Cho et al. 2014), one- or bidirectional."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gler.layers import GRU
from gler.models._registry import register_model
from gler.models.config import BaselineConfig
from gler.models.recurrent import RecurrentForecaster


def _gru_builder(*, bidirectional: bool) -> Callable[..., RecurrentForecaster]:
    """The registry builder of a GRU baseline running in one or both directions."""

    def builder(*, window: int, horizon: int, n_ef: int, **overrides: Any) -> RecurrentForecaster:
        """(Bi)GRU over SD, mask and factors; fields of :class:`BaselineConfig` as overrides."""
        config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
        return RecurrentForecaster(config, rnn_layer=GRU, bidirectional=bidirectional)

    return builder


register_model("gru", kind="neural", uses_ef=True, family="recurrent", tags=("baseline",),
               description="Gated recurrent unit network (Cho et al. 2014), multi-output head",
               )(_gru_builder(bidirectional=False))
register_model("bigru", kind="neural", uses_ef=True, family="recurrent", tags=("baseline",),
               description="Bidirectional GRU without GLER's modules, multi-output head",
               )(_gru_builder(bidirectional=True))
