"""Multi-output head: all H future steps at once from a recurrent sequence."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MultiOutputHead(nn.Module):
    """Map the final recurrent states to the H forecast steps in one shot.

    The paper's network has "multiple outputs"; we read that as a direct multi-step head (no
    autoregressive roll-out). The summary of the sequence is the last output of the forward
    direction and, for a bidirectional recurrence, the first output of the backward direction
    (both have seen the whole window), the same as the GRU's final hidden states.

    Parameters
    ----------
    hidden
        Hidden size per direction.
    horizon
        Number of future steps H.
    bidirectional
        Whether ``z`` holds two directions (``2 * hidden`` features, forward first).
    dropout
        Dropout before the linear map.

    Shapes
    ------
    - z: ``[B, L, hidden * (1 + bidirectional)]``
    - out: ``[B, H]``
    """

    def __init__(self, hidden: int, horizon: int, *, bidirectional: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (1 + bidirectional), horizon)

    def forward(self, z: Tensor) -> Tensor:
        summary = z[:, -1, : self.hidden]
        if self.bidirectional:
            summary = torch.cat([summary, z[:, 0, self.hidden:]], dim=-1)  # [B, 2 * hidden]
        return self.fc(self.drop(summary))
