"""Multi-head attention, with or without its weights: the common core of MCAR and RCSA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gler import kernels


class Attention(nn.Module):
    """Multi-head scaled dot-product attention returning ``(out, attn)``.

    Queries come from ``x``, keys and values from ``context`` (``x`` itself for
    self-attention). With ``need_weights=True`` the weights are computed explicitly and
    returned (the book plots them); otherwise a fused kernel runs and ``attn`` is None: for
    CPU inference :func:`gler.kernels.attention` (one pass per pixel, eight pixels per vector),
    elsewhere :func:`torch.nn.functional.scaled_dot_product_attention` (on CUDA the
    flash/memory-efficient kernel). All give the same output; the fused kernels never write
    the ``[B, N, L, L]`` weights to memory.

    A ``context`` with batch 1 is shared by every sample (MCAR's factors on a map forecast):
    its keys and values are projected once. PyTorch's kernel then sees the ``B * Lq`` queries
    as one long sequence attending to the same ``Lk`` keys (each query row is independent, so
    this is the same attention), one call instead of ``B`` small ones; the CPU kernel reads
    the one set of keys and values for every pixel.

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
        q, k, v = self.q(x), self.k(context), self.v(context)  # [B, Lq, D], [B or 1, Lk, D]
        attn = None
        if need_weights:
            q, k, v = self._split(q), self._split(k), self._split(v)
            # softmax in the logits' own dtype: under autocast that is what the kernel policy picks
            attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)  # broadcasts
            out = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(B, Lq, D)
        elif not self.training and kernels.active(q):
            out = kernels.attention(q, k, v, n_heads=self.n_heads, scale=self.scale)
        else:
            k, v = self._split(k), self._split(v)  # [B or 1, N, Lk, D/N]
            q = self._split(q.reshape(k.shape[0], -1, D))  # shared context: [1, N, B * Lq, D/N]
            drop = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
            out = out.transpose(1, 2).reshape(B, Lq, D)
        return self.proj_drop(self.proj(out)), attn
