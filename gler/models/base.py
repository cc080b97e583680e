"""The one contract every neural forecaster follows, and its input handling."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from gler.layers.quantile import QuantileOutput


class Forecaster(nn.Module):
    """Base of the neural forecasters: ``forward(sd, ef=None, mask=None) -> [B, H]``.

    Holds ``window`` (L), ``horizon`` (H), ``n_ef`` (E), ``uses_ef`` and ``config``; checks
    the inputs and assembles the per-step input channels so no model re-implements the
    masking rule: SD values where ``mask`` is False are zeroed and the mask is given as a
    channel, so those values cannot affect the output.

    The factors may come as one window shared by the whole batch, ``ef [1, L, E]``: a map
    forecast at one issue date with scene-wide factors (air temperature, degree-days) gives
    every pixel the same factor window, and :func:`gler.forecast.predict` passes it once.
    GLER's MCAR then embeds it and computes its keys and values once per batch instead of once
    per pixel; the other models broadcast it.

    **Quantile head.** A config with ``quantiles`` (levels, 0.5 among them; one generic
    mechanism for every model) makes the model forecast those quantiles: its last layer has
    :attr:`n_outputs` = H x Q outputs instead of H (the one line each model file needs), and a
    forward hook registered here turns them into non-crossing quantiles ``[B, H, Q]``
    (:class:`~gler.layers.QuantileOutput`). The head thus reads the model's last
    representation, and training, validation and forecasts go through ``model(...)`` as for a
    point model.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]``, ``[1, L, E]`` (shared) or None; mask: ``[B, L]`` bool
      or None (all observed)
    - out: ``[B, H]``, or ``[B, H, Q]`` with a quantile head
    """

    kind: ClassVar[str] = "neural"
    #: Accepts ``ef [1, L, E]`` for the whole batch; models registered from outside that do
    #: not set it keep getting ``[B, L, E]`` from :func:`gler.forecast.predict`.
    accepts_shared_factors: ClassVar[bool] = True

    def __init__(self, config: Any, *, uses_ef: bool) -> None:
        super().__init__()
        self.config = config
        self.window: int = config.window
        self.horizon: int = config.horizon
        self.n_ef: int = config.n_ef
        self.uses_ef = uses_ef
        levels = tuple(getattr(config, "quantiles", ()))
        self.quantile_output = QuantileOutput(levels, self.horizon) if levels else None
        if self.quantile_output is not None:
            self.register_forward_hook(_quantiles_of_outputs)

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: H, or H x Q with a quantile head."""
        return self.horizon * (len(self.quantile_output.levels) if self.quantile_output else 1)

    def outputs(self, raw: Tensor) -> Tensor:
        """The forecast from the last layer's ``raw [B, n_outputs]``: itself for a point
        model, non-crossing quantiles ``[B, H, Q]`` with a quantile head (what the forward hook
        applies; for a method that is not ``forward``, e.g. GLER's
        ``forward_with_attention``)."""
        return raw if self.quantile_output is None else self.quantile_output(raw)

    @property
    def in_chans(self) -> int:
        """Channels of :meth:`channels`: SD, mask and (if used) the E factors."""
        return 2 + self.n_ef * self.uses_ef

    def check_inputs(self, sd: Tensor, ef: Tensor | None,
                     mask: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor]:
        """Validate shapes against ``window``/``n_ef``; return ``(sd, ef, mask)``, mask filled.

        Raises
        ------
        ValueError
            If a shape does not match ``window``, ``n_ef`` or the batch, or factors are
            missing for a model that uses them.
        """
        name = type(self).__name__
        if sd.ndim != 2 or sd.shape[1] != self.window:
            msg = (f"{name}: sd has shape {tuple(sd.shape)} but must be [B, L] with "
                   f"L = window = {self.window}.")
            raise ValueError(msg)
        B = sd.shape[0]
        if ef is None and self.uses_ef:
            msg = (f"{name} was built with n_ef={self.n_ef} and uses the factors, but ef is "
                   "None; pass ef [B, L, E] or build the model with n_ef=0.")
            raise ValueError(msg)
        if ef is not None and (ef.ndim != 3 or ef.shape[0] not in (1, B)
                               or tuple(ef.shape[1:]) != (self.window, self.n_ef)):
            msg = (f"{name}: ef has shape {tuple(ef.shape)} but must be [B, L, E] = "
                   f"[{B}, {self.window}, {self.n_ef}], or [1, {self.window}, {self.n_ef}] for "
                   f"one factor window shared by the batch (sd has {sd.shape[1]} steps, "
                   f"window={self.window}, n_ef={self.n_ef}).")
            raise ValueError(msg)
        if mask is None:
            mask = torch.ones_like(sd, dtype=torch.bool)
        elif tuple(mask.shape) != tuple(sd.shape) or mask.dtype != torch.bool:
            msg = (f"{name}: mask must be a bool tensor shaped like sd {tuple(sd.shape)}; got "
                   f"{mask.dtype} {tuple(mask.shape)}.")
            raise ValueError(msg)
        return sd, (ef if self.uses_ef else None), mask

    def channels(self, sd: Tensor, ef: Tensor | None, mask: Tensor | None) -> Tensor:
        """Checked inputs as one ``[B, L, C]`` tensor: masked SD, mask, factors if used."""
        sd, ef, mask = self.check_inputs(sd, ef, mask)
        parts = [sd.masked_fill(~mask, 0.0).unsqueeze(-1), mask.to(sd.dtype).unsqueeze(-1)]
        if ef is not None:
            parts.append(ef.to(sd.dtype).expand(sd.shape[0], -1, -1))
        return torch.cat(parts, dim=-1)


def _quantiles_of_outputs(model: Forecaster, args: tuple, raw: Tensor) -> Tensor:
    """Forward hook of a model with a quantile head: its raw outputs as quantiles."""
    return model.quantile_output(raw)
