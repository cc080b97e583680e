"""1-D convolutions over time on features stored time-major, ``[B, L, C]``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def conv_over_time(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv`` applied along L to ``x [B, L, C]``, returning ``[B, L, D]``.

    ``nn.Conv1d`` wants ``[B, C, L]``; transposing there and back costs two copies and the
    transposed input sends oneDNN down a slow path (10.9 µs against 2.2 µs per pixel for a
    32-channel kernel-3 convolution, batch 1,024, one CPU thread). ``[B, L, C]`` memory is
    already the channels-last layout of a ``[B, C, 1, L]`` image, so the same convolution runs
    as a 2-D one of height 1 on a view, with the module's own weights and settings.
    """
    if isinstance(conv.padding, str):
        msg = "conv_over_time needs numeric padding (e.g. padding=1), not 'same'/'valid'."
        raise ValueError(msg)
    out = F.conv2d(x.transpose(1, 2).unsqueeze(2), conv.weight.unsqueeze(2), conv.bias,
                   stride=(1, conv.stride[0]), padding=(0, conv.padding[0]),
                   dilation=(1, conv.dilation[0]), groups=conv.groups)
    return out.squeeze(2).transpose(1, 2)


def apply_over_time(layers: nn.Sequential, x: Tensor) -> Tensor:
    """Run a stack of ``nn.Conv1d`` and element-wise layers (activation, dropout) on
    ``x [B, L, C]``, convolutions through :func:`conv_over_time`."""
    for layer in layers:
        x = conv_over_time(layer, x) if isinstance(layer, nn.Conv1d) else layer(x)
    return x
