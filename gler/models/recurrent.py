"""A recurrent network with a multi-output head: the shared core of LSTM, GRU and BiGRU."""

from __future__ import annotations

from torch import Tensor, nn

from gler.layers import MultiOutputHead
from gler.models.base import Forecaster
from gler.models.config import BaselineConfig


class RecurrentForecaster(Forecaster):
    """An RNN over the input channels, then all H steps at once from its final states.

    Parameters
    ----------
    config
        ``hidden`` (per direction), ``num_layers`` and ``dropout`` are used.
    rnn_layer
        ``nn.LSTM`` or :class:`gler.layers.GRU`.
    bidirectional
        Run the recurrence in both directions.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]`` or None; mask: ``[B, L]`` bool or None
    - out: ``[B, H]``
    """

    def __init__(self, config: BaselineConfig, *, rnn_layer: type[nn.RNNBase] = nn.LSTM,
                 bidirectional: bool = False) -> None:
        super().__init__(config, uses_ef=config.n_ef > 0)
        c = config
        self.rnn = rnn_layer(self.in_chans, c.hidden, num_layers=c.num_layers, batch_first=True,
                             dropout=c.dropout if c.num_layers > 1 else 0.0,
                             bidirectional=bidirectional)
        self.head = MultiOutputHead(c.hidden, self.n_outputs, bidirectional=bidirectional,
                                    dropout=c.dropout)

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        z = self.rnn(self.channels(sd, ef, mask))[0]
        return self.head(z)
