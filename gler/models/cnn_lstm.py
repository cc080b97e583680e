"""CNN-LSTM baseline: 1-D convolutions for local features, then an LSTM."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from gler.layers import ConvBranch, MultiOutputHead
from gler.models._registry import register_model
from gler.models.base import Forecaster
from gler.models.config import BaselineConfig


class CNNLSTM(Forecaster):
    """Two 'same'-padded 1-D convolutions over time, an LSTM, and a multi-output head.

    Parameters
    ----------
    config
        ``hidden`` (conv channels and LSTM size), ``kernel_size``, ``num_layers`` (LSTM
        layers) and ``dropout`` are used.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]`` or None; mask: ``[B, L]`` bool or None
    - out: ``[B, H]``
    """

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config, uses_ef=config.n_ef > 0)
        c = config
        self.conv = ConvBranch(self.in_chans, c.hidden, kernel_sizes=(c.kernel_size,) * 2,
                               dilations=(1, 1), act_layer=nn.ReLU, dropout=c.dropout)
        self.lstm = nn.LSTM(c.hidden, c.hidden, num_layers=c.num_layers, batch_first=True,
                            dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.head = MultiOutputHead(c.hidden, self.n_outputs, bidirectional=False,
                                    dropout=c.dropout)

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        z, _ = self.lstm(self.conv(self.channels(sd, ef, mask)))
        return self.head(z)


@register_model("cnn-lstm", kind="neural", uses_ef=True, family="convolutional",
                tags=("baseline",),
                description="1-D CNN feature extractor followed by an LSTM, multi-output head")
def cnn_lstm(*, window: int, horizon: int, n_ef: int, **overrides: Any) -> CNNLSTM:
    """CNN-LSTM; fields of :class:`BaselineConfig` as overrides."""
    return CNNLSTM(BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides))
