"""The gated recurrent unit of GLER-BiGRUnet and the GRU baselines, fused for CPU inference."""

from __future__ import annotations

from torch import Tensor, nn

from gler import kernels


class GRU(nn.GRU):
    """:class:`torch.nn.GRU` whose CPU inference runs :func:`gler.kernels.gru`.

    Same constructor, parameters, ``state_dict`` keys, initialisation and outputs as
    ``nn.GRU``. A batch-first GRU in eval mode, given a batched input and no initial state,
    computes its recurrence in the fused kernel (one pass per pixel, eight pixels per vector)
    when :func:`gler.kernels.active` (float32 on CPU, autograd off, kernels built and not
    switched off); otherwise, as for training, gradients, CUDA or an initial state, PyTorch's
    GRU runs. The two agree to about 1e-6. Either way the module is called as usual, so its
    forward hooks see the output.

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`torch.nn.GRU` (``input_size``, ``hidden_size``, ``num_layers``,
        ``batch_first``, ``bidirectional``, ``dropout``, ...).

    Shapes
    ------
    - x: ``[B, L, D]`` (batch first); hx: ``[layers * dirs, B, H]`` or None
    - returns ``(out [B, L, dirs * H], h_n [layers * dirs, B, H])``
    """

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if (hx is None and self.batch_first and not self.training and isinstance(x, Tensor)
                and x.dim() == 3 and kernels.active(x)):
            return kernels.gru(self, x)
        return super().forward(x, hx)
