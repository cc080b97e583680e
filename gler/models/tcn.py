"""TCN baseline: a temporal convolutional network (Bai et al. 2018)."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from gler.models._registry import register_model
from gler.models.base import Forecaster
from gler.models.config import BaselineConfig


class TemporalBlock(nn.Module):
    """Two causal dilated convolutions with a residual connection.

    Shapes
    ------
    - x: ``[B, C, L]`` -> ``[B, D, L]``
    """

    def __init__(self, in_chans: int, out_chans: int, *, kernel_size: int, dilation: int,
                 dropout: float) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation  # left only: step t sees no later step
        self.conv1 = nn.Conv1d(in_chans, out_chans, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(out_chans, out_chans, kernel_size, dilation=dilation)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(in_chans, out_chans, 1) if in_chans != out_chans else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.drop(self.act(self.conv1(F.pad(x, (self.pad, 0)))))
        y = self.drop(self.act(self.conv2(F.pad(y, (self.pad, 0)))))
        return self.act(y + self.skip(x))


class TCN(Forecaster):
    """Stacked causal residual blocks with dilations 1, 2, 4, ...; the last step feeds the head.

    The number of blocks is ``num_layers`` or, if more are needed, the fewest whose receptive
    field ``1 + 2 (k - 1) (2^n - 1)`` covers the window, so the forecast sees every input step.

    Parameters
    ----------
    config
        ``hidden`` (channels), ``kernel_size``, ``num_layers`` and ``dropout`` are used.

    References
    ----------
    Bai S., Kolter J. Z., Koltun V. (2018). An empirical evaluation of generic convolutional
    and recurrent networks for sequence modeling. arXiv:1803.01271.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]`` or None; mask: ``[B, L]`` bool or None
    - out: ``[B, H]``
    """

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config, uses_ef=config.n_ef > 0)
        c = config
        needed = math.ceil(math.log2((c.window - 1) / (2 * (c.kernel_size - 1)) + 1))
        n_blocks = max(c.num_layers, needed)
        self.blocks = nn.Sequential(*[
            TemporalBlock(self.in_chans if i == 0 else c.hidden, c.hidden,
                          kernel_size=c.kernel_size, dilation=2**i, dropout=c.dropout)
            for i in range(n_blocks)
        ])
        self.head = nn.Linear(c.hidden, self.n_outputs)

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        x = self.channels(sd, ef, mask).transpose(1, 2)  # [B, C, L]
        return self.head(self.blocks(x)[:, :, -1])


@register_model("tcn", kind="neural", uses_ef=True, family="convolutional",
                tags=("baseline",),
                description="Temporal convolutional network (Bai et al. 2018), causal dilated")
def tcn(*, window: int, horizon: int, n_ef: int, **overrides: Any) -> TCN:
    """TCN; fields of :class:`BaselineConfig` as overrides."""
    return TCN(BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides))
