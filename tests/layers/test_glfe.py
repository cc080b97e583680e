"""GLFE: dense and conv branches on the SD series, concatenated."""

from __future__ import annotations

import pytest
import torch

from gler.layers import GLFE


@pytest.mark.parametrize(("use_dense", "use_conv"), [(True, True), (True, False), (False, True)])
def test_width_is_sum_of_enabled_branches(use_dense, use_conv):
    """out_dim and the output width equal the sum of the enabled branch widths."""
    glfe = GLFE(in_chans=3, dense_dim=5, conv_dim=7, use_dense=use_dense, use_conv=use_conv)
    out = glfe(torch.randn(2, 10, 3))
    expected = 5 * use_dense + 7 * use_conv
    assert glfe.out_dim == expected
    assert out.shape == (2, 10, expected)
    assert list(glfe.branches) == [n for n, on in (("dense", use_dense), ("conv", use_conv)) if on]


def test_branches_are_concatenated_in_order():
    """The output is [dense(x), conv(x)] along the feature axis."""
    glfe = GLFE(in_chans=3, dense_dim=4, conv_dim=6).eval()
    x = torch.randn(2, 10, 3)
    out = glfe(x)
    torch.testing.assert_close(out[..., :4], glfe.branches["dense"](x))
    torch.testing.assert_close(out[..., 4:], glfe.branches["conv"](x))


def test_dense_branch_is_per_step_and_conv_branch_is_local():
    """Changing step 0 changes only step 0 of the dense features and only the conv features
    within the receptive field (kernel 3, dilations 1 and 2: 1 + 2 + 4 = 7 steps wide)."""
    glfe = GLFE(in_chans=1, dense_dim=4, conv_dim=4, kernel_sizes=(3, 3), dilations=(1, 2)).eval()
    x = torch.randn(1, 12, 1)
    y = x.clone()
    y[0, 0, 0] += 1.0
    changed = (glfe(x) - glfe(y)).abs().sum(-1)[0] > 0  # per step, [L]
    dense_changed = (glfe.branches["dense"](x) - glfe.branches["dense"](y)).abs().sum(-1)[0] > 0
    assert dense_changed.tolist() == [True] + [False] * 11
    assert changed[:4].all() and not changed[4:].any()  # half-width 1 + 2 = 3 steps after


def test_invalid_configuration_raises():
    """No branch, mismatched kernel/dilation lists or even kernels are refused by name."""
    with pytest.raises(ValueError, match="at least one branch"):
        GLFE(use_dense=False, use_conv=False)
    with pytest.raises(ValueError, match="same length"):
        GLFE(kernel_sizes=(3, 3), dilations=(1,))
    with pytest.raises(ValueError, match="must be odd"):
        GLFE(kernel_sizes=(4,), dilations=(1,))
