"""Convolutions over time on [B, L, C] features equal nn.Conv1d on [B, C, L]."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gler.layers.conv import apply_over_time, conv_over_time


@pytest.mark.parametrize(("kernel", "dilation", "padding", "stride", "groups", "bias"), [
    (3, 1, 1, 1, 1, True), (3, 2, 2, 1, 1, True), (5, 1, 0, 2, 1, False), (3, 1, 1, 1, 4, True),
])
def test_conv_over_time_matches_conv1d(kernel, dilation, padding, stride, groups, bias) -> None:
    torch.manual_seed(kernel + dilation + stride + groups)
    conv = nn.Conv1d(8, 12, kernel, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=bias)
    x = torch.randn(5, 17, 8)
    expected = conv(x.transpose(1, 2)).transpose(1, 2)
    out = conv_over_time(conv, x)
    assert out.shape == expected.shape and out.is_contiguous()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_gradients_match_conv1d() -> None:
    torch.manual_seed(0)
    layers = nn.Sequential(nn.Conv1d(4, 6, 3, padding=1), nn.GELU(), nn.Conv1d(6, 6, 3, padding=2,
                                                                             dilation=2))
    x = torch.randn(3, 9, 4, requires_grad=True)
    apply_over_time(layers, x).square().sum().backward()
    ours = [x.grad.clone(), *(p.grad.clone() for p in layers.parameters())]
    x.grad = None
    layers.zero_grad()
    layers(x.transpose(1, 2)).transpose(1, 2).square().sum().backward()
    for got, want in zip(ours, [x.grad, *(p.grad for p in layers.parameters())], strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_string_padding_is_refused() -> None:
    with pytest.raises(ValueError, match="numeric padding"):
        conv_over_time(nn.Conv1d(2, 2, 3, padding="same"), torch.zeros(1, 4, 2))
