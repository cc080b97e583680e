"""RCSA: a residual convolution block embedded in multi-head self-attention."""

from __future__ import annotations

from torch import Tensor, nn

from gler.layers.attention import Attention
from gler.layers.conv import apply_over_time


class RCSA(nn.Module):
    """Local residual 1-D convolution block followed by residual multi-head self-attention.

    Paper: Huo et al. (2024), GLER-BiGRUnet, IEEE JSTARS 17, 14848–14861, module "RCSA".

    **Stated** in the paper: a local residual block is embedded in a self-attention
    mechanism; residual connections and self-attention merge the multiscale features and
    improve the fit.

    **Our reconstruction**: a residual block of two 'same'-padded 1-D convolutions over time
    (local), then multi-head self-attention over all L steps (global), each with a residual
    add and post-layer-norm::

        x = norm1(x + conv2(act(conv1(x))))
        x = norm2(x + drop(self_attn(x)))

    Parameters
    ----------
    d_model
        Width D of the features (kept unchanged).
    n_heads
        Number of heads N; must divide ``d_model``.
    kernel_size
        Odd kernel size of both convolutions.
    dropout
        Dropout inside the conv block, on attention weights and on the attention output.
    act_layer, norm_layer
        Activation and normalisation types.

    Returns
    -------
    out, attn
        The merged features and, with ``need_weights=True``, the per-head self-attention
        weights (before dropout); otherwise None (the fused attention kernel runs).

    Shapes
    ------
    - x: ``[B, L, D]``
    - out: ``[B, L, D]``
    - attn: ``[B, N, L, L]`` per head, rows sum to one.
    """

    def __init__(
        self,
        *,
        d_model: int = 32,
        n_heads: int = 4,
        kernel_size: int = 3,
        dropout: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            msg = f"RCSA kernel_size must be odd for 'same' padding; got {kernel_size}."
            raise ValueError(msg)
        pad = kernel_size // 2
        self.conv_block = nn.Sequential(
            nn.Conv1d(d_model, d_model, kernel_size, padding=pad), act_layer(),
            nn.Dropout(dropout), nn.Conv1d(d_model, d_model, kernel_size, padding=pad),
        )
        self.norm1 = norm_layer(d_model)
        self.attn = Attention(d_model, n_heads=n_heads, attn_drop=dropout, proj_drop=dropout)
        self.norm2 = norm_layer(d_model)

    def forward(self, x: Tensor, *, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        x = self.norm1(x + apply_over_time(self.conv_block, x))
        mixed, attn = self.attn(x, need_weights=need_weights)
        return self.norm2(x + mixed), attn
