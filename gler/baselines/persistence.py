"""Persistence: the last observed displacement, held for every horizon step."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gler.baselines.base import ClassicalForecaster
from gler.models._registry import register_model


class Persistence(ClassicalForecaster):
    """``ŷ(t + h) = y(t)``, with ``y(t)`` the last observed (non-NaN) value of the window.

    Example
    -------
    >>> import numpy as np
    >>> from gler.baselines import Persistence
    >>> Persistence(window=3, horizon=2).predict(np.array([[1.0, 2.0, np.nan]]),
    ...                                          np.arange(5.0)).tolist()
    [[2.0, 2.0]]
    """

    def predict(self, sd: np.ndarray, t: np.ndarray, *, ddt: np.ndarray | None = None,
                ddf: np.ndarray | None = None) -> np.ndarray:
        """Repeat the last observation of each pixel ``[P, L]`` over H steps, ``[P, H]``.

        Pixels with no observation in the window get NaN (with a warning giving the count).
        ``ddt``/``ddf`` are accepted for the common signature and ignored.
        """
        sd, t = self.check(sd, t)
        last = _last_observed(sd)
        return np.repeat(last[:, None], self.horizon, axis=1)


def _last_observed(sd: np.ndarray) -> np.ndarray:
    empty = ~np.isfinite(sd).any(axis=1)
    if empty.any():
        msg = (f"{int(empty.sum())} of {sd.shape[0]} pixels have no observation in the window; "
               "their forecast is NaN.")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    last = sd.shape[1] - 1 - np.argmax(np.isfinite(sd)[:, ::-1], axis=1)
    return sd[np.arange(sd.shape[0]), last]


@register_model("persistence", kind="classical", uses_ef=False, family="classical",
                tags=("baseline",),
                description="Last observed value held constant (the reference for skill)")
def persistence(*, window: int, horizon: int, n_ef: int,
                **overrides: Any) -> Persistence:
    """Persistence; ``n_ef`` is ignored."""
    return Persistence(window=window, horizon=horizon, **overrides)
