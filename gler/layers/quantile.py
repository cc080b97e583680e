"""Quantile output: non-crossing quantiles of every horizon step from a model's raw outputs.

A model with a quantile head widens its last layer from H to H x Q outputs; :class:`QuantileOutput`
turns them into Q quantiles per step that never cross, whatever the inputs and weights: the
output at level 0.5 is the median itself, and each level further out adds (above) or subtracts
(below) a softplus-positive increment to its inner neighbour, so the quantiles are cumulative
sums of non-negative steps on either side of the median (the monotone parametrisation of
e.g. Gasthaus et al. 2019, spline quantile function RNNs, in its simplest, piecewise-constant
form). Floating-point addition of a non-negative number never decreases a value, so the order
holds in float32, bf16 and float64 alike.

References
----------
Gasthaus, J., Benidis, K., Wang, Y., Rangapuram, S. S., Salinas, D., Flunkert, V.,
Januschowski, T. (2019). Probabilistic forecasting with spline quantile function RNNs.
AISTATS 2019, PMLR 89, 1901-1910.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: The level whose quantile is the point forecast: a quantile head must forecast it.
MEDIAN = 0.5


def check_levels(levels: Sequence[float | str], *, head: bool = False) -> tuple[float, ...]:
    """``levels`` as a tuple of floats, checked: numbers strictly between 0 and 1, strictly
    increasing; for a quantile head (``head``) also the median 0.5 among them, a level on each
    side of it, and every lower level ``q`` matched by the upper level ``1 - q`` (the central
    intervals that conformalised quantile regression calibrates).

    Raises
    ------
    ValueError
        Naming the levels, the flag (``--quantiles``) and what is wrong.

    Example
    -------
    >>> check_levels((0.1, 0.5, 0.9), head=True)
    (0.1, 0.5, 0.9)
    """
    text = ",".join(f"{q:g}" if isinstance(q, int | float) else str(q) for q in levels)
    try:
        values = tuple(float(q) for q in levels)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(0.0 < q < 1.0 for q in values):
        msg = (f"Quantiles {text!r} (--quantiles): give levels strictly between 0 and 1, "
               "comma-separated, e.g. 0.05,0.5,0.95.")
        raise ValueError(msg)
    if any(b <= a for a, b in itertools.pairwise(values)):
        msg = f"Quantiles {text!r} (--quantiles) must increase strictly, e.g. 0.05,0.5,0.95."
        raise ValueError(msg)
    if head and MEDIAN not in values:
        msg = (f"Quantiles {text!r} (--quantiles): a quantile head needs the median 0.5 among "
               "its levels (it is the point forecast), e.g. 0.05,0.1,0.25,0.5,0.75,0.9,0.95.")
        raise ValueError(msg)
    if head and len(values) < 3:
        msg = (f"Quantiles {text!r} (--quantiles): a quantile head needs at least one level on "
               "each side of the median, e.g. 0.1,0.5,0.9.")
        raise ValueError(msg)
    unmatched = [q for q in values if not any(math.isclose(q + p, 1.0) for p in values)]
    if head and unmatched:
        msg = (f"Quantiles {text!r} (--quantiles): a quantile head needs levels symmetric about "
               f"0.5 (each level q with 1 - q; {', '.join(f'{q:g}' for q in unmatched)} "
               "unmatched), so that each pair bounds a central interval to calibrate.")
        raise ValueError(msg)
    return values


class QuantileOutput(nn.Module):
    """Raw outputs ``[B, H * Q]`` -> non-crossing quantiles ``[B, H, Q]``, no parameters.

    Output ``m`` (the median's position) is the median; the others are
    ``median + cumsum(softplus(raw))`` above it and ``median - cumsum(softplus(raw))`` below,
    outwards from the median.

    Parameters
    ----------
    levels
        Quantile levels (checked by :func:`check_levels` with ``head=True``); kept as the
        non-persistent buffer ``levels`` (it moves with the module, it is not saved).
    horizon
        Steps H.

    Shapes
    ------
    - raw: ``[B, H * Q]`` (step-major: step h's levels are ``raw[:, h * Q:(h + 1) * Q]``)
    - out: ``[B, H, Q]``, non-decreasing along the last axis
    """

    levels: Tensor

    def __init__(self, levels: Sequence[float], horizon: int) -> None:
        super().__init__()
        values = check_levels(levels, head=True)
        self.horizon = horizon
        self.median = values.index(MEDIAN)
        self.register_buffer("levels", torch.tensor(values, dtype=torch.float32),
                             persistent=False)

    def forward(self, raw: Tensor) -> Tensor:
        raw = raw.unflatten(-1, (self.horizon, len(self.levels)))
        m = self.median
        centre = raw[..., m:m + 1]
        above = centre + torch.cumsum(F.softplus(raw[..., m + 1:]), dim=-1)
        below = centre - torch.cumsum(F.softplus(raw[..., :m].flip(-1)), dim=-1)
        return torch.cat([below.flip(-1), centre, above], dim=-1)


def pinball(pred: Tensor, target: Tensor, levels: Tensor) -> Tensor:
    """Pinball (quantile) loss of each level, ``[..., Q]``: ``max(q (y - f), (q - 1) (y - f))``
    for quantile forecasts ``pred [..., Q]`` of ``target [...]``."""
    err = target.unsqueeze(-1) - pred
    return torch.maximum(levels * err, (levels - 1.0) * err)
