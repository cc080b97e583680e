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

    Pixels without gaps that share one design matrix are solved by a single
    :func:`numpy.linalg.lstsq` call with one right-hand side per pixel. Pixels with gaps (or
    with their own design matrix) are solved together, in chunks of ``chunk`` pixels to bound
    memory, through a batched pseudo-inverse of the design with the unobserved rows zeroed;
    an unidentifiable coefficient (e.g. a degree-day term that is zero over the whole window)
    gets the minimum-norm value 0. Pixels with fewer observations than coefficients get NaN,
    with a warning giving their count.

    Parameters
    ----------
    design
        ``[n, k]`` shared by all pixels, or ``[P, n, k]``.
    y
        ``[P, n]`` observations, NaN where missing.

    Returns
    -------
    np.ndarray
        ``[P, k]`` coefficients.
    """
    observed = np.isfinite(y)
    P, k = y.shape[0], design.shape[-1]
    coef = np.full((P, k), np.nan)
    solvable = observed.sum(axis=1) >= k
    if not solvable.all():
        msg = (f"{int((~solvable).sum())} of {P} pixels have fewer than {k} observations in "
               f"the window, too few to fit {k} coefficients; their forecast is NaN.")
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    shared = design.ndim == 2
    if shared:
        complete = observed.all(axis=1)
        if complete.any():
            coef[complete] = np.linalg.lstsq(design, y[complete].T, rcond=None)[0].T
        solvable &= ~complete
    rest = np.flatnonzero(solvable)
    for start in range(0, rest.size, chunk):  # chunks bound memory; each is one batched solve
        sel = rest[start:start + chunk]
        seen = observed[sel]
        a = np.where(seen[..., None], design if shared else design[sel], 0.0)
        b = np.where(seen, y[sel], 0.0)
        coef[sel] = (np.linalg.pinv(a) @ b[..., None])[..., 0]
    return coef


class ClassicalForecaster:
    """Base of the classical baselines: ``predict(sd [P, L], t [L + H]) -> [P, H]`` in mm.

    Parameters
    ----------
    window, horizon
        Input length L and forecast steps H that ``predict`` expects.
    """

    kind: ClassVar[str] = "classical"
    needs_ef: ClassVar[bool] = False

    def __init__(self, *, window: int = 30, horizon: int = 6) -> None:
        for name, value in (("window", window), ("horizon", horizon)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{type(self).__name__}: {name} must be a positive integer; got {value!r}."
                raise ValueError(msg)
        self.window = window
        self.horizon = horizon

    def __repr__(self) -> str:
        return f"{type(self).__name__}(window={self.window}, horizon={self.horizon})"

    def check(self, sd: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``sd`` as float64 ``[P, L]`` and ``t`` as float64 ``[L + H]``, checked.

        Raises
        ------
        ValueError
            On wrong shapes or non-increasing / non-finite times.
        """
        name = type(self).__name__
        sd = np.asarray(sd, dtype=np.float64)
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
