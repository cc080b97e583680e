"""RCSA: residual conv block followed by residual multi-head self-attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gler.layers import RCSA

B, L, D, N = 2, 9, 8, 2


def test_shapes_and_rows_sum_to_one():
    """out keeps [B, L, D]; attn is [B, N, L, L] with rows summing to one."""
    torch.manual_seed(0)
    out, attn = RCSA(d_model=D, n_heads=N)(torch.randn(B, L, D), need_weights=True)
    assert out.shape == (B, L, D)
    assert attn.shape == (B, N, L, L)
    torch.testing.assert_close(attn.sum(-1), torch.ones(B, N, L))


def test_zeroed_branches_leave_the_residual_path():
    """With the conv block and the attention projection zeroed, RCSA is norm2(norm1(x))."""
    rcsa = RCSA(d_model=D, n_heads=N)
    for module in (rcsa.conv_block[-1], rcsa.attn.proj):
        nn.init.zeros_(module.weight)
        nn.init.zeros_(module.bias)
    x = torch.randn(B, L, D)
    out, _ = rcsa(x)
    torch.testing.assert_close(out, rcsa.norm2(rcsa.norm1(x)))


def test_self_attention_mixes_distant_steps():
    """A change at step 0 reaches the last step (beyond the conv block's reach) via attention."""
    torch.manual_seed(0)
    rcsa = RCSA(d_model=D, n_heads=N, kernel_size=3).eval()
    x = torch.randn(1, L, D)
    y = x.clone()
    y[0, 0] += 1.0
    assert not torch.allclose(rcsa(x)[0][0, -1], rcsa(y)[0][0, -1])


def test_even_kernel_raises():
    """An even kernel cannot keep the length with symmetric padding and is refused."""
    with pytest.raises(ValueError, match="must be odd"):
        RCSA(d_model=D, n_heads=N, kernel_size=4)
