"""Harmonic least squares recovers and extrapolates a planted signal, with gaps, vectorised."""

from __future__ import annotations

import numpy as np
import pytest

from gler.baselines import Harmonic, masked_lstsq
from gler.models import create_model, model_info

L, H, P = 30, 6, 200
T = 2019.3 + np.arange(L + H) * 12 / 365.25  # 12-day revisit, decimal years


def planted(semiannual: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Harmonic]:
    model = Harmonic(window=L, horizon=H, semiannual=semiannual)
    coef = np.random.default_rng(seed).normal(scale=[2, 20, 5, 5, 1, 1][: 4 + 2 * semiannual],
                                              size=(P, 4 + 2 * semiannual))
    return coef, coef @ model.design(T).T, model


def add_gaps(y: np.ndarray, seed: int = 1) -> np.ndarray:
    sd = y[:, :L].copy()
    sd[np.random.default_rng(seed).random(sd.shape) < 0.25] = np.nan
    sd[0] = y[0, :L]  # one complete pixel goes through the shared solve
    return sd


@pytest.mark.parametrize("semiannual", [False, True])
@pytest.mark.parametrize("gaps", [False, True])
def test_recovers_and_extrapolates_planted_signal(semiannual, gaps):
    """Planted coefficients come back to 1e-6 and the horizon is forecast to 1e-6 mm."""
    coef, y, model = planted(semiannual)
    sd = add_gaps(y) if gaps else y[:, :L]
    np.testing.assert_allclose(model.fit_coefficients(sd, T), coef, atol=1e-6)
    forecast = model.predict(sd, T)
    assert forecast.shape == (P, H)
    np.testing.assert_allclose(forecast, y[:, L:], atol=1e-6)


def test_matches_per_pixel_lstsq_on_noisy_data():
    """On noisy data with gaps the vectorised fit equals a per-pixel numpy lstsq."""
    _, y, model = planted(True)
    rng = np.random.default_rng(2)
    sd = add_gaps(y + rng.normal(scale=2.0, size=y.shape))
    design = model.design(T)[:L]
    expected = np.stack([np.linalg.lstsq(design[np.isfinite(row)], row[np.isfinite(row)],
                                         rcond=None)[0] for row in sd])
    np.testing.assert_allclose(model.fit_coefficients(sd, T), expected, atol=1e-9)


def test_too_few_observations_give_nan_with_warning():
    """A pixel with fewer observations than coefficients is NaN and counted in a warning."""
    _, y, model = planted(False)
    sd = y[:, :L].copy()
    sd[3, 2:] = np.nan  # 2 observations < 4 coefficients
    with pytest.warns(RuntimeWarning, match=f"1 of {P} pixels have fewer than 4 observations"):
        forecast = model.predict(sd, T)
    assert np.isnan(forecast[3]).all() and np.isfinite(np.delete(forecast, 3, axis=0)).all()


def test_masked_lstsq_chunks_agree():
    """Chunking the batched solve does not change the result."""
    _, y, model = planted(False)
    sd = add_gaps(y)
    design = model.design(T)[:L]
    np.testing.assert_allclose(masked_lstsq(design, sd, chunk=7), masked_lstsq(design, sd))


def test_registry_and_shape_errors():
    """create_model builds it; wrong shapes of sd or t raise ValueError naming the rule."""
    model = create_model("harmonic", window=L, horizon=H)
    assert (model.kind, model_info("harmonic").needs) == ("classical", {})
    with pytest.raises(ValueError, match=f"L = window = {L}"):
        model.predict(np.zeros((2, L - 1)), T)
    with pytest.raises(ValueError, match=rf"\[L \+ H\] = \[{L + H}\]"):
        model.predict(np.zeros((2, L)), T[:-1])
    with pytest.raises(ValueError, match="strictly increasing"):
        model.predict(np.zeros((2, L)), T[::-1])
