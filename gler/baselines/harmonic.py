"""Harmonic least squares: offset, velocity and annual (and semi-annual) sinusoids."""

from __future__ import annotations

from typing import Any

import numpy as np

from gler.baselines.base import LeastSquaresForecaster
from gler.models._registry import register_model


class Harmonic(LeastSquaresForecaster):
    """``y = c + v τ + a sin 2πt + b cos 2πt (+ a₂ sin 4πt + b₂ cos 4πt)``, fitted per pixel.

    The standard InSAR time-series model (as in MintPy's velocity fit): fitted on the window,
    NaN gaps skipped, extrapolated to the horizon dates. ``t`` is in decimal years; the trend
    uses ``τ = t − t[L − 1]`` (time since the last window date) so the offset and velocity
    columns are not nearly collinear. All pixels share one design matrix, so the fit is one
    least-squares solve for the whole scene.

    Parameters
    ----------
    window, horizon
        L and H.
    semiannual
        Add the semi-annual pair (6 coefficients instead of 4).

    Example
    -------
    >>> import numpy as np
    >>> from gler.baselines import Harmonic
    >>> t = 2020 + np.arange(36) / 30
    >>> y = 1 + 5 * (t - t[29]) + 3 * np.sin(2 * np.pi * t)
    >>> model = Harmonic(window=30, horizon=6)
    >>> bool(np.allclose(model.predict(y[None, :30], t), y[30:]))
    True
    """

    def __init__(self, *, window: int, horizon: int, semiannual: bool = False) -> None:
        super().__init__(window=window, horizon=horizon)
        self.semiannual = semiannual

    def __repr__(self) -> str:
        return (f"Harmonic(window={self.window}, horizon={self.horizon}, "
                f"semiannual={self.semiannual})")

    def design(self, t: np.ndarray, *, ddt: np.ndarray | None = None,
               ddf: np.ndarray | None = None) -> np.ndarray:
        """Columns ``[1, τ, sin 2πt, cos 2πt (, sin 4πt, cos 4πt)]``, shape ``[L + H, k]``."""
        columns = [np.ones_like(t), t - t[self.window - 1],
                   np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
        if self.semiannual:
            columns += [np.sin(4 * np.pi * t), np.cos(4 * np.pi * t)]
        return np.stack(columns, axis=-1)


@register_model("harmonic", kind="classical", uses_ef=False, family="classical",
                tags=("baseline",),
                description="Least-squares offset + velocity + annual sinusoid (MintPy-style)")
def harmonic(*, window: int, horizon: int, n_ef: int,
             **overrides: Any) -> Harmonic:
    """Harmonic least squares; ``semiannual=True`` adds the semi-annual pair; ``n_ef`` ignored."""
    return Harmonic(window=window, horizon=horizon, **overrides)
