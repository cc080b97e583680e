"""GLER-BiGRUnet (Huo et al. 2024): GLFE -> MCAR -> RCSA -> BiGRU -> multi-output head."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from gler.layers import GLFE, GRU, MCAR, RCSA, MultiOutputHead
from gler.models._registry import register_model
from gler.models.base import Forecaster
from gler.models.config import GLERConfig


class GLEROutput(NamedTuple):
    """Forecast and attention maps of one forward pass (None where a module is off).

    Shapes: forecast ``[B, H]`` (``[B, H, Q]`` with a quantile head); mcar_attn and rcsa_attn
    ``[B, N, L, L]`` per head.
    """

    forecast: Tensor
    mcar_attn: Tensor | None
    rcsa_attn: Tensor | None


class GLERBiGRUNet(Forecaster):
    """GLER-BiGRUnet: multiscale SD features fused with environmental factors, then a BiGRU.

    Paper: Huo T., He Y., Zhang L., et al. (2024), "GLER-BiGRUnet: A Surface Deformation
    Prediction Model Fusing Multiscale Features of InSAR Deformation Information and
    Environmental Factors", IEEE JSTARS 17, 14848–14861, doi:10.1109/JSTARS.2024.3443833.

    **Stated**: a bidirectional GRU network with multiple outputs built from GLFE
    (global–local features of the SD series), MCAR (multi-head cross-attention between EFs and
    SD features with a residual) and RCSA (a local residual block embedded in self-attention).

    **Our reconstruction** (the paper gives no layer sizes or wiring details):

    1. Input channels per step: SD (zeroed where unobserved), its first difference (zero
       unless both steps are observed) and the observation mask.
    2. :class:`~gler.layers.GLFE` -> linear projection to ``d_model`` plus a learned position
       embedding (attention alone is order-blind).
    3. :class:`~gler.layers.MCAR` cross-attends to the factors (``ef_mode="cross_attention"``);
       ablations: factors concatenated to the GLFE features before the projection
       (``"concat"``) or dropped (``"none"``). With ``n_ef=0`` the factor path is skipped.
    4. :class:`~gler.layers.RCSA`, then a (Bi)GRU (:class:`~gler.layers.GRU`) over the fused
       sequence.
    5. :class:`~gler.layers.MultiOutputHead`: all H steps at once from the final states.

    ``encode`` returns the GRU output sequence, ``head`` maps it to ``[B, H]``;
    ``forward_with_attention`` also returns the MCAR and RCSA attention maps for plotting.

    Cost at the default size (``GLERConfig()``, L=30, H=6, measured with
    :func:`gler.models.count_flops` and a parameter sum; ``tests/models/test_gler.py`` checks
    these numbers):

    ====  ==========  ====================
    n_ef  parameters  forward FLOPs/sample
    ====  ==========  ====================
    0     26,822      1,602,048 (1.6 M)
    5     31,206      1,972,608 (2.0 M)
    ====  ==========  ====================

    (FLOPs = 2 x multiply-accumulates of the matrix products and convolutions, GRU included;
    element-wise operations are not counted.) With one factor window shared by a batch of
    1,024 (``ef [1, L, E]``, a map at one issue date) MCAR embeds the factors and computes
    their keys and values once per batch: 1,840,257 FLOPs per sample. The plain forward runs
    MCAR and RCSA through a fused attention kernel and, for CPU inference, the BiGRU through
    :mod:`gler.kernels` too; ``forward_with_attention`` computes the same output with explicit
    weights. Measured throughput: ``benchmarks/bench.py`` and
    ``benchmarks/NOTES.md``.

    Parameters
    ----------
    config
        Architecture; see :class:`~gler.models.config.GLERConfig`.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]``, ``[1, L, E]`` (one window shared by the batch) or
      None; mask: ``[B, L]`` bool or None
    - encode: ``[B, L, G]`` with ``G = gru_hidden * (1 + bidirectional)``
    - forward: ``[B, H]``
    """

    def __init__(self, config: GLERConfig | None = None) -> None:
        config = config or GLERConfig()
        super().__init__(config, uses_ef=config.uses_ef)
        c = config
        self.glfe = GLFE(in_chans=3, dense_dim=c.dense_dim, conv_dim=c.conv_dim,
                         kernel_sizes=c.kernel_sizes, dilations=c.dilations,
                         use_dense=c.use_dense, use_conv=c.use_conv, dropout=c.dropout)
        concat = self.uses_ef and c.ef_mode == "concat"
        self.proj = nn.Linear(self.glfe.out_dim + c.n_ef * concat, c.d_model)
        self.pos_embed = nn.Parameter(torch.zeros(1, c.window, c.d_model))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.mcar = (MCAR(d_model=c.d_model, n_ef=c.n_ef, n_heads=c.n_heads, dropout=c.dropout)
                     if self.uses_ef and c.ef_mode == "cross_attention" else None)
        self.rcsa = (RCSA(d_model=c.d_model, n_heads=c.n_heads, kernel_size=c.rcsa_kernel_size,
                          dropout=c.dropout) if c.use_rcsa else None)
        self.bigru = GRU(c.d_model, c.gru_hidden, num_layers=c.gru_layers, batch_first=True,
                         bidirectional=c.bidirectional,
                         dropout=c.dropout if c.gru_layers > 1 else 0.0)
        self.head = MultiOutputHead(c.gru_hidden, self.n_outputs, bidirectional=c.bidirectional,
                                    dropout=c.dropout)

    def _encode(self, sd: Tensor, ef: Tensor | None, mask: Tensor | None,
                need_weights: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        sd, ef, mask = self.check_inputs(sd, ef, mask)
        sd = sd.masked_fill(~mask, 0.0)
        both = mask[:, 1:] & mask[:, :-1]
        diff = torch.cat([torch.zeros_like(sd[:, :1]),
                          (sd[:, 1:] - sd[:, :-1]).masked_fill(~both, 0.0)], dim=1)
        x = self.glfe(torch.stack([sd, diff, mask.to(sd.dtype)], dim=-1))  # [B, L, 3] -> [B, L, G]
        mcar_attn = rcsa_attn = None
        if ef is not None and self.mcar is None:  # ef_mode == "concat"
            x = torch.cat([x, ef.to(x.dtype).expand(x.shape[0], -1, -1)], dim=-1)
        x = self.proj(x) + self.pos_embed
        if self.mcar is not None:
            x, mcar_attn = self.mcar(x, ef, need_weights=need_weights)
        if self.rcsa is not None:
            x, rcsa_attn = self.rcsa(x, need_weights=need_weights)
        z = self.bigru(x)[0]
        return z, mcar_attn, rcsa_attn

    def encode(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The fused sequence (GRU outputs), ``[B, L, gru_hidden * (1 + bidirectional)]``."""
        return self._encode(sd, ef, mask, need_weights=False)[0]

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encode(sd, ef, mask))

    def forward_with_attention(self, sd: Tensor, ef: Tensor | None = None,
                               mask: Tensor | None = None) -> GLEROutput:
        """Forecast plus MCAR and RCSA attention weights (``None`` for a disabled module)."""
        z, mcar_attn, rcsa_attn = self._encode(sd, ef, mask, need_weights=True)
        return GLEROutput(self.outputs(self.head(z)), mcar_attn, rcsa_attn)


# name -> (ablation presets, one-line description); each becomes a registered builder.
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "gler": ({}, "GLER-BiGRUnet (Huo et al. 2024): GLFE + MCAR + RCSA + BiGRU, multi-output"),
    "gler-no-dense": ({"use_dense": False}, "GLER ablation: GLFE without its dense branch"),
    "gler-no-conv": ({"use_conv": False}, "GLER ablation: GLFE without its convolution branch"),
    "gler-no-mcar": ({"ef_mode": "none"}, "GLER ablation: no MCAR, factors dropped"),
    "gler-concat-ef": ({"ef_mode": "concat"},
                       "GLER ablation: factors concatenated instead of cross-attended"),
    "gler-no-rcsa": ({"use_rcsa": False}, "GLER ablation: without RCSA"),
    "gler-gru": ({"bidirectional": False}, "GLER ablation: one-directional GRU instead of BiGRU"),
}


def _register_variant(name: str, presets: dict[str, Any], description: str) -> None:
    @register_model(name, kind="neural", uses_ef=presets.get("ef_mode") != "none",
                    description=description, family="gler",
                    tags=("ablation",) if presets else ("proposed",))
    def builder(*, window: int, horizon: int, n_ef: int,
                **overrides: Any) -> GLERBiGRUNet:
        config = GLERConfig.create(window=window, horizon=horizon, n_ef=n_ef, presets=presets,
                                   **overrides)
        return GLERBiGRUNet(config)


for _name, (_presets, _description) in VARIANTS.items():
    _register_variant(_name, _presets, _description)
