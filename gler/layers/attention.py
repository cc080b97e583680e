"""Multi-head attention, with or without its weights: the common core of MCAR and RCSA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Attention(nn.Module):
    """Multi-head scaled dot-product attention returning ``(out, attn)``.

    Queries come from ``x``, keys and values from ``context`` (``x`` itself for
    self-attention). With ``need_weights=True`` the weights are computed explicitly and
    returned (the book plots them); otherwise the fused kernel
    :func:`torch.nn.functional.scaled_dot_product_attention` runs and ``attn`` is None. Both
    give the same output. The fused kernel never writes the ``[B, N, L, L]`` weights to
    memory: on one CPU core at batch 256 it halves the attention time (the explicit weights
    no longer fit in the L2 cache), and on CUDA it is the flash/memory-efficient kernel.

    A ``context`` with batch 1 is shared by every sample (MCAR's factors on a map forecast):
    its keys and values are projected once, and the fused kernel sees the ``B * Lq`` queries as
    one long sequence attending to the same ``Lk`` keys (each query row is independent, so
    this is the same attention), one kernel call instead of ``B`` small ones.

    Parameters
    ----------
    dim
        Width D of queries, keys, values and output.
    n_heads
        Number of heads N; must divide ``dim``.
    qkv_bias
        Bias on the query/key/value projections. Off by default: a key bias cannot change
        the softmax (it adds the same logit to every key of a query), so it would only be a
        parameter that never receives a gradient.
    attn_drop, proj_drop
        Dropout on the attention weights (training only) and on the output.

    Shapes
    ------
    - x: ``[B, Lq, D]``; context: ``[B, Lk, D]`` or ``[1, Lk, D]`` (shared by the batch)
    - out: ``[B, Lq, D]``; attn: ``[B, N, Lq, Lk]``, rows sum to one (taken before dropout),
      or None without ``need_weights``.
    """

    def __init__(
        self,
        dim: int,
        *,
        n_heads: int = 4,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % n_heads:
            msg = f"Attention width dim={dim} must be divisible by n_heads={n_heads}."
            raise ValueError(msg)
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        self.scale = self.head_dim**-0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split(self, x: Tensor) -> Tensor:
        B, L, _ = x.shape
        return x.reshape(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # [B, N, L, D/N]

    def forward(self, x: Tensor, context: Tensor | None = None, *,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        B, Lq, D = x.shape
        context = x if context is None else context
        if context.shape[0] not in (1, B):
            msg = (f"Attention context has batch {context.shape[0]} but the queries have {B}; "
                   "pass one context per sample or a single one shared by all ([1, Lk, D]).")
            raise ValueError(msg)
        k, v = self._split(self.k(context)), self._split(self.v(context))  # [B or 1, N, Lk, D/N]
        q = self.q(x)
        attn = None
        if need_weights:
            q = self._split(q)
            # softmax in the logits' own dtype: under autocast that is what the kernel policy picks
            attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)  # broadcasts
            out = self.attn_drop(attn) @ v  # [B, N, Lq, D/N]
        else:
            q = self._split(q.reshape(k.shape[0], -1, D))  # shared context: [1, N, B * Lq, D/N]
            drop = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        out = out.transpose(1, 2).reshape(B, Lq, D)
        return self.proj_drop(self.proj(out)), attn
