"""Transformer baseline: a vanilla Transformer encoder (Vaswani et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gler.models._registry import register_model
from gler.models.base import Forecaster
from gler.models.config import BaselineConfig


class TransformerForecaster(Forecaster):
    """Per-step linear embedding plus learned positions, a pre-norm Transformer encoder, and a
    linear head on the flattened sequence (every step keeps its own read-out weights).

    Parameters
    ----------
    config
        ``hidden`` (width D), ``n_heads``, ``num_layers`` and ``dropout`` are used; the
        feed-forward width is ``2 * hidden``.

    References
    ----------
    Vaswani A. et al. (2017). Attention is all you need. NeurIPS 30.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]`` or None; mask: ``[B, L]`` bool or None
    - out: ``[B, H]``
    """

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config, uses_ef=config.n_ef > 0)
        c = config
        self.embed = nn.Linear(self.in_chans, c.hidden)
        self.pos_embed = nn.Parameter(torch.zeros(1, c.window, c.hidden))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(c.hidden, c.n_heads, dim_feedforward=2 * c.hidden,
                                           dropout=c.dropout, batch_first=True, norm_first=True)
        # nested tensors only help with padding masks, which this model never uses
        self.encoder = nn.TransformerEncoder(layer, c.num_layers, norm=nn.LayerNorm(c.hidden),
                                             enable_nested_tensor=False)
        self.head = nn.Linear(c.window * c.hidden, self.n_outputs)

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        x = self.encoder(self.embed(self.channels(sd, ef, mask)) + self.pos_embed)
        return self.head(x.flatten(1))  # [B, L * D]


@register_model("transformer", kind="neural", uses_ef=True, family="attention",
                tags=("baseline",),
                description="Vanilla Transformer encoder (Vaswani et al. 2017), linear head")
def transformer(
    *, window: int, horizon: int, n_ef: int, **overrides: Any
) -> TransformerForecaster:
    """Transformer encoder; fields of :class:`BaselineConfig` as overrides."""
    config = BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides)
    return TransformerForecaster(config)
