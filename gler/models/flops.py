"""Size and cost of a neural forecaster: parameters and forward FLOPs per sample."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, *, batch: int = 8, shared_factors: bool = False) -> float:
    """Forward FLOPs per sample, counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    Runs one forward pass in eval mode on zero inputs shaped from the model's ``window`` and
    ``n_ef``, with autograd on (so PyTorch's fused inference fast path of the Transformer
    encoder is not taken and its matrix products are seen). FLOPs are 2 x the
    multiply-accumulates of matrix products and convolutions (the GRU's included);
    element-wise operations are not counted. A model with ``forward_with_attention`` (GLER) is
    counted through it: the counter does not see inside the fused attention kernel of the
    plain forward, which computes the same two products per head. PyTorch's fused LSTM
    kernel is not decomposed, so an LSTM's own cost is missing from the count.

    Parameters
    ----------
    model
        A neural forecaster (attributes ``window``, ``n_ef``, ``uses_ef``).
    batch
        Batch size of the measuring pass; the result is divided by it.
    shared_factors
        Give the batch one factor window (``ef [1, L, E]``, as :func:`gler.forecast.predict`
        does on a map with scene-wide factors) instead of one per sample. GLER then computes
        its factor keys and values once per batch, so its FLOPs per sample fall with ``batch``.

    Returns
    -------
    float
        FLOPs per sample.

    Example
    -------
    >>> from gler.models import count_flops, create_model
    >>> count_flops(create_model("gler", n_ef=5)) > 0
    True
    """
    param = next(model.parameters())
    sd = torch.zeros(batch, model.window, device=param.device, dtype=param.dtype)
    ef = (torch.zeros(1 if shared_factors else batch, model.window, model.n_ef,
                      device=param.device, dtype=param.dtype) if model.uses_ef else None)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            getattr(model, "forward_with_attention", model)(sd, ef)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / batch
