"""MCAR: cross-attention from SD features to embedded factors, residual and layer norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gler.layers import MCAR

B, L, D, E, N = 2, 9, 8, 3, 2


def test_shapes_and_rows_sum_to_one():
    """out is [B, L, D]; attn is [B, N, L, L] per head with non-negative rows summing to 1."""
    torch.manual_seed(0)
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N, dropout=0.5).train()
    out, attn = mcar(torch.randn(B, L, D), torch.randn(B, L, E), need_weights=True)
    assert out.shape == (B, L, D)
    assert attn.shape == (B, N, L, L)
    assert (attn >= 0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(B, N, L))  # before dropout


def test_zeroed_attention_branch_returns_normalised_sd():
    """With the attention output projection at zero, MCAR returns LayerNorm(sd)."""
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N)
    nn.init.zeros_(mcar.attn.proj.weight)
    nn.init.zeros_(mcar.attn.proj.bias)
    sd = torch.randn(B, L, D)
    out, _ = mcar(sd, torch.randn(B, L, E))
    torch.testing.assert_close(out, mcar.norm(sd))
    torch.testing.assert_close(out, nn.functional.layer_norm(sd, (D,)))


def test_factors_change_the_output():
    """The EF series reaches the output (the cross-attention is not a no-op)."""
    torch.manual_seed(0)
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N).eval()
    sd = torch.randn(B, L, D)
    out1, attn1 = mcar(sd, torch.randn(B, L, E), need_weights=True)
    out2, attn2 = mcar(sd, torch.randn(B, L, E), need_weights=True)
    assert not torch.allclose(out1, out2)
    assert not torch.allclose(attn1, attn2)


def test_invalid_sizes_raise():
    """n_ef < 1 and d_model not divisible by n_heads are refused."""
    with pytest.raises(ValueError, match="at least one environmental factor"):
        MCAR(d_model=D, n_ef=0)
    with pytest.raises(ValueError, match="divisible by n_heads=3"):
        MCAR(d_model=D, n_ef=E, n_heads=3)


def test_fused_kernel_matches_explicit_weights():
    """Without need_weights the fused attention kernel gives the explicit path's output."""
    torch.manual_seed(0)
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N).eval()
    sd, ef = torch.randn(B, L, D), torch.randn(B, L, E)
    fused, none = mcar(sd, ef)
    explicit, attn = mcar(sd, ef, need_weights=True)
    assert none is None and attn.shape == (B, N, L, L)
    torch.testing.assert_close(fused, explicit)


@pytest.mark.parametrize("need_weights", [False, True])
def test_factors_shared_by_the_batch_match_per_sample_factors(need_weights):
    """ef [1, L, E] (one window for the batch, as on a map) gives the output of that window
    repeated for every sample, through the fused kernel and the explicit weights alike."""
    torch.manual_seed(0)
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N).eval()
    sd, ef = torch.randn(5, L, D), torch.randn(1, L, E)
    shared, attn_shared = mcar(sd, ef, need_weights=need_weights)
    repeated, attn_repeated = mcar(sd, ef.repeat(5, 1, 1), need_weights=need_weights)
    torch.testing.assert_close(shared, repeated)
    if need_weights:
        assert attn_shared.shape == (5, N, L, L)
        torch.testing.assert_close(attn_shared, attn_repeated)


def test_factor_batch_neither_one_nor_b_is_refused():
    """Three factor windows for five samples is an error that says what fits."""
    mcar = MCAR(d_model=D, n_ef=E, n_heads=N)
    with pytest.raises(ValueError, match=r"batch 3 but the queries have 5.*\[1, Lk, D\]"):
        mcar(torch.randn(5, L, D), torch.randn(3, L, E))
