"""Stefan degree-day least squares: freeze–thaw physics of the active layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from gler.baselines.base import LeastSquaresForecaster
from gler.data.degree_days import DEGREE_DAY_FACTORS
from gler.models._registry import register_model


class Stefan(LeastSquaresForecaster):
    """``y = c + v τ − E·sqrt(DDT(t)) + F·sqrt(DDF(t))``, fitted per pixel on the window.

    Thaw settlement grows with the square root of the thawing degree-days (Stefan's
    solution for the thaw depth) and frost heave with that of the freezing degree-days;
    ``DDT``/``DDF`` are those of :func:`gler.data.degree_days.degree_days` (°C·day, reset on
    each freeze–thaw season start). ``τ = t − t[L − 1]``. NaN gaps are skipped; a term whose
    degree-days are zero over the whole window (e.g. a window inside one winter) cannot be
    identified and gets coefficient 0.

    The horizon's degree-days come from the factors the caller supplies in ``ddt``/``ddf``
    for the L + H dates: observed values (hindcast, as in the evaluation) or a climatology
    (a real forecast). The forecast is only as good as those horizon degree-days.

    Parameters
    ----------
    window, horizon
        L and H.
    """

    def design(self, t: np.ndarray, *, ddt: np.ndarray | None = None,
               ddf: np.ndarray | None = None) -> np.ndarray:
        """Columns ``[1, τ, −sqrt(DDT), sqrt(DDF)]``: ``[L + H, 4]`` or ``[P, L + H, 4]``.

        Raises
        ------
        ValueError
            If ``ddt`` or ``ddf`` is missing, has the wrong length, is negative or NaN.
        """
        n = self.window + self.horizon
        checked = []
        for name, dd in (("ddt", ddt), ("ddf", ddf)):
            if dd is None:
                msg = (f"Stefan needs {name} (degree-days in °C·day on the L + H = {n} dates, "
                       "see gler.data.degree_days); got None.")
                raise ValueError(msg)
            dd = np.asarray(dd, dtype=np.float64)
            if dd.shape[-1] != n or dd.ndim not in (1, 2):
                msg = (f"Stefan: {name} has shape {dd.shape} but must be [L + H] = [{n}] or "
                       f"[P, {n}].")
                raise ValueError(msg)
            if not np.isfinite(dd).all() or (dd < 0).any():
                msg = f"Stefan: {name} must be finite and >= 0 (degree-days)."
                raise ValueError(msg)
            checked.append(dd)
        ddt, ddf = np.broadcast_arrays(*checked)
        tau = np.broadcast_to(t - t[self.window - 1], ddt.shape)
        return np.stack([np.ones_like(ddt), tau, -np.sqrt(ddt), np.sqrt(ddf)], axis=-1)

    def predict(self, sd: np.ndarray, t: np.ndarray, *, ddt: np.ndarray | None = None,
                ddf: np.ndarray | None = None) -> np.ndarray:
        """Fit on the window, extrapolate with the horizon's ``ddt``/``ddf``; ``[P, H]``.

        Raises
        ------
        ValueError
            If per-pixel degree-days do not have one row per pixel of ``sd``.
        """
        for name, dd in (("ddt", ddt), ("ddf", ddf)):
            if dd is not None and np.ndim(dd) == 2 and np.shape(dd)[0] != np.shape(sd)[0]:
                msg = (f"Stefan: per-pixel {name} has {np.shape(dd)[0]} rows but sd has "
                       f"{np.shape(sd)[0]} pixels.")
                raise ValueError(msg)
        return super().predict(sd, t, ddt=ddt, ddf=ddf)


@register_model("stefan", kind="classical", uses_ef=True, family="classical",
                tags=("baseline",),
                needs=dict(zip(("ddt", "ddf"), DEGREE_DAY_FACTORS, strict=True)),
                description="Least-squares Stefan model: velocity + sqrt(DDT) + sqrt(DDF) terms")
def stefan(*, window: int, horizon: int, n_ef: int, **overrides: Any) -> Stefan:
    """Stefan degree-day least squares; needs ``ddt``/``ddf`` in ``predict``; ``n_ef`` ignored."""
    return Stefan(window=window, horizon=horizon, **overrides)
