"""The classical-forecaster contract, input checks and one least-squares solve for all pixels."""

from __future__ import annotations

import logging
import warnings
from typing import ClassVar

import numpy as np

logger = logging.getLogger(__name__)


def fill_gaps(sd: np.ndarray) -> np.ndarray:
    """Carry the last observation forward over NaN gaps (leading gaps take the first one).

    Vectorised over pixels; an all-NaN row stays NaN.

    Shapes: ``sd [P, L]`` -> ``[P, L]``.
    """
    observed = np.isfinite(sd)
    steps = np.arange(sd.shape[1])
    last = np.maximum.accumulate(np.where(observed, steps, 0), axis=1)
    first = np.argmax(observed, axis=1)[:, None]
    source = np.where(np.logical_or.accumulate(observed, axis=1), last, first)
    return np.take_along_axis(sd, source, axis=1)


def masked_lstsq(design: np.ndarray, y: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
    """Least-squares coefficients of every pixel, skipping NaN observations.

    Pixels without gaps that share one design matrix are fitted by one matrix product with the
    design's pseudo-inverse (``[P, n] @ [n, k]``, no copy when every pixel is complete). Pixels
    with gaps (or with their own design matrix) are fitted together, in chunks of ``chunk``
    pixels to bound memory, through their ``k × k`` normal equations, built for the whole
    chunk by one product and solved by one batched :func:`numpy.linalg.solve`; a chunk with a
    singular system (e.g. a degree-day term that is zero over the whole window) is solved with
    the pseudo-inverse instead, which gives the same minimum-norm solution as ``lstsq`` (the
    unidentifiable coefficient is 0). Pixels with fewer observations than coefficients get
    NaN, with a warning giving their count.

    Parameters
    ----------
    design
        ``[n, k]`` shared by all pixels, or ``[P, n, k]``.
    y
        ``[P, n]`` observations, NaN where missing; float32 input is fitted in float32 where
        complete (the normal equations always use float64).

    Returns
    -------
    np.ndarray
        ``[P, k]`` coefficients, in the floating dtype of ``y``.
    """
    observed = np.isfinite(y)
    P, k = y.shape[0], design.shape[-1]
    coef = np.full((P, k), np.nan, dtype=np.result_type(y.dtype, np.float32))
    solvable = observed.sum(axis=1) >= k
    if not solvable.all():
        msg = (f"{int((~solvable).sum())} of {P} pixels have fewer than {k} observations in "
               f"the window, too few to fit {k} coefficients; their forecast is NaN.")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    shared = design.ndim == 2
    if shared:
        projector = np.linalg.pinv(design).T.astype(coef.dtype)  # [n, k]
        complete = observed.all(axis=1)
        if complete.all():
            return y @ projector
        coef[complete] = y[complete] @ projector
        solvable &= ~complete
    rest = np.flatnonzero(solvable)
    for start in range(0, rest.size, chunk):  # chunks bound memory; each is one batched solve
        sel = rest[start:start + chunk]
        weight = observed[sel].astype(np.float64)
        values = np.where(observed[sel], y[sel], 0.0)
        if shared:
            outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), k * k)
            normal = (weight @ outer).reshape(-1, k, k)
            rhs = values @ design
        else:
            normal = np.einsum("pn,pnk,pnj->pkj", weight, design[sel], design[sel])
            rhs = np.einsum("pn,pnk->pk", values, design[sel])
        try:
            coef[sel] = np.linalg.solve(normal, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a rank-deficient pixel: minimum-norm solution
            coef[sel] = (np.linalg.pinv(normal) @ rhs[..., None])[..., 0]
    return coef


class ClassicalForecaster:
    """Base of the classical baselines: ``predict(sd [P, L], t [L + H]) -> [P, H]`` in mm.

    Parameters
    ----------
    window, horizon
        Input length L and forecast steps H that ``predict`` expects.
    """

    kind: ClassVar[str] = "classical"

    def __init__(self, *, window: int, horizon: int) -> None:
        for name, value in (("window", window), ("horizon", horizon)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{type(self).__name__}: {name} must be a positive integer; got {value!r}."
                raise ValueError(msg)
        self.window = window
        self.horizon = horizon

    def __repr__(self) -> str:
        return f"{type(self).__name__}(window={self.window}, horizon={self.horizon})"

    def check(self, sd: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``sd`` as floats ``[P, L]`` (float32 kept) and ``t`` as float64 ``[L + H]``.

        Raises
        ------
        ValueError
            On wrong shapes or non-increasing / non-finite times.
        """
        name = type(self).__name__
        sd = np.asarray(sd)
        sd = sd.astype(np.result_type(sd.dtype, np.float32), copy=False)
        t = np.asarray(t, dtype=np.float64)
        if sd.ndim != 2 or sd.shape[1] != self.window:
            msg = (f"{name}: sd has shape {sd.shape} but must be [P, L] with L = window = "
                   f"{self.window}.")
            raise ValueError(msg)
        n = self.window + self.horizon
        if t.shape != (n,):
            msg = (f"{name}: t has shape {t.shape} but must be [L + H] = [{n}] (the window "
                   f"dates then the horizon dates, window={self.window}, horizon={self.horizon}).")
            raise ValueError(msg)
        if not np.isfinite(t).all() or np.any(np.diff(t) <= 0):
            msg = f"{name}: t must be finite and strictly increasing decimal years."
            raise ValueError(msg)
        return sd, t


class LeastSquaresForecaster(ClassicalForecaster):
    """A linear model in time fitted on the window and evaluated on the horizon.

    Subclasses give :meth:`design`, the ``[L + H, k]`` (or per-pixel ``[P, L + H, k]``)
    matrix of regressors; the fit is one :func:`masked_lstsq` call for all pixels.
    """

    def design(self, t: np.ndarray, *, ddt: np.ndarray | None,
               ddf: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, sd: np.ndarray, t: np.ndarray, ddt: np.ndarray | None,
             ddf: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        sd, t = self.check(sd, t)
        design = self.design(t, ddt=ddt, ddf=ddf)
        return masked_lstsq(design[..., : self.window, :], sd), design[..., self.window:, :]

    def fit_coefficients(self, sd: np.ndarray, t: np.ndarray, *, ddt: np.ndarray | None = None,
                         ddf: np.ndarray | None = None) -> np.ndarray:
        """Per-pixel coefficients ``[P, k]`` fitted on the window (columns of :meth:`design`)."""
        return self._fit(sd, t, ddt, ddf)[0]

    def predict(self, sd: np.ndarray, t: np.ndarray, *, ddt: np.ndarray | None = None,
                ddf: np.ndarray | None = None) -> np.ndarray:
        """Fit on the window (NaN = gap) and extrapolate to the H horizon dates, ``[P, H]``."""
        coef, future = self._fit(sd, t, ddt, ddf)
        if future.ndim == 2:
            return coef @ future.T
        return np.einsum("phk,pk->ph", future, coef)
