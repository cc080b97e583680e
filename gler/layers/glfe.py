"""GLFE: global–local feature extraction from the displacement series."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gler.layers.conv import apply_over_time


class ConvBranch(nn.Module):
    """Stacked 'same'-padded 1-D convolutions over time (GLFE's local branch).

    Shapes
    ------
    - x: ``[B, L, C]`` -> ``[B, L, D]``
    """

    def __init__(
        self,
        in_chans: int,
        out_dim: int,
        *,
        kernel_sizes: Sequence[int] = (3, 3),
        dilations: Sequence[int] = (1, 2),
        act_layer: type[nn.Module] = nn.GELU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != len(dilations):
            msg = (f"kernel_sizes {tuple(kernel_sizes)} and dilations {tuple(dilations)} must "
                   "have the same length (one dilation per convolution layer).")
            raise ValueError(msg)
        layers: list[nn.Module] = []
        for i, (k, d) in enumerate(zip(kernel_sizes, dilations, strict=True)):
            if k % 2 == 0:
                msg = f"GLFE kernel sizes must be odd for 'same' padding; got {k}."
                raise ValueError(msg)
            layers += [nn.Conv1d(in_chans if i == 0 else out_dim, out_dim, k,
                                 padding=d * (k - 1) // 2, dilation=d),
                       act_layer(), nn.Dropout(dropout)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return apply_over_time(self.layers, x)


class GLFE(nn.Module):
    """Global–local feature extraction: a dense branch and a convolution branch, concatenated.

    Paper: Huo et al. (2024), GLER-BiGRUnet, IEEE JSTARS 17, 14848–14861, module "GLFE".

    **Stated** in the paper: dense layers extract global features and one-dimensional
    convolution layers extract local features of the surface-deformation (SD) series; the two
    outputs are concatenated.

    **Our reconstruction**: the dense branch is a per-time-step MLP (two linear layers) on the
    input channels (SD value, its first difference, the observation mask); the local branch is
    a stack of 'same'-padded 1-D convolutions with small odd kernels and growing dilation
    (receptive field 1 + sum((k - 1) * d), 7 steps at the default). Either branch can be
    switched off for the ablations; the output width is the sum of the enabled branches.

    Parameters
    ----------
    in_chans
        Input channels C per time step.
    dense_dim, conv_dim
        Widths of the dense and convolution branches.
    kernel_sizes, dilations
        One odd kernel size and one dilation per convolution layer.
    use_dense, use_conv
        Enable each branch; at least one must be on.
    act_layer
        Activation type used in both branches.
    dropout
        Dropout after each hidden activation.

    Shapes
    ------
    - x: ``[B, L, C]``
    - out: ``[B, L, D]`` with ``D = out_dim = dense_dim * use_dense + conv_dim * use_conv``
    """

    def __init__(
        self,
        *,
        in_chans: int = 3,
        dense_dim: int = 16,
        conv_dim: int = 16,
        kernel_sizes: Sequence[int] = (3, 3),
        dilations: Sequence[int] = (1, 2),
        use_dense: bool = True,
        use_conv: bool = True,
        act_layer: type[nn.Module] = nn.GELU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not (use_dense or use_conv):
            msg = "GLFE needs at least one branch: set use_dense=True or use_conv=True."
            raise ValueError(msg)
        branches: dict[str, nn.Module] = {}
        if use_dense:
            branches["dense"] = nn.Sequential(
                nn.Linear(in_chans, dense_dim), act_layer(), nn.Dropout(dropout),
                nn.Linear(dense_dim, dense_dim), act_layer(),
            )
        if use_conv:
            branches["conv"] = ConvBranch(in_chans, conv_dim, kernel_sizes=kernel_sizes,
                                          dilations=dilations, act_layer=act_layer,
                                          dropout=dropout)
        self.branches = nn.ModuleDict(branches)
        self.out_dim = dense_dim * use_dense + conv_dim * use_conv

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches.values()], dim=-1)
