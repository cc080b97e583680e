"""InSAR noise: atmospheric phase screen, pixel noise and decorrelation gaps.

``noise_sigma_mm = sqrt(aps² + pixel²)`` is the root-mean-square of ``displacement −
displacement_clean`` over the valid pixels of every acquisition after the first: the APS of each
date is referenced to the reference pixel and scaled to the requested RMS (its strength varies
from date to date, stronger in summer, with an RMS of one over the dates); the first date and
the reference pixel carry no noise (cumulative SBAS time series are zero there by definition;
dropping the first date's atmosphere only removes a constant per pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.qtrsim.climate import summer_weight
from gler.data.qtrsim.fields import power_law_fields

#: Noise presets: RMS (mm) of the atmospheric residual and of the pixel noise.
NOISE_PRESETS: dict[str, dict[str, float]] = {
    "none": {"aps_mm": 0.0, "pixel_mm": 0.0},
    "smooth": {"aps_mm": 0.2, "pixel_mm": 0.1},
    "default": {"aps_mm": 1.5, "pixel_mm": 0.4},
    "high": {"aps_mm": 3.0, "pixel_mm": 1.0},
}
#: Exponent of the APS power spectrum (Kolmogorov turbulence: P(k) ∝ k^(-8/3)).
APS_EXPONENT = 8.0 / 3.0


def noise_levels(noise: str, scale: float) -> dict[str, float]:
    """APS and pixel RMS (mm) of a preset times ``scale``, and their total.

    Raises
    ------
    ValueError
        If the preset is unknown or ``scale`` is negative or not finite.
    """
    if noise not in NOISE_PRESETS:
        msg = (f"Unknown noise preset {noise!r}; choose one of {', '.join(NOISE_PRESETS)} "
               "(and noise_scale= to scale it).")
        raise ValueError(msg)
    if not np.isfinite(scale) or scale < 0:
        msg = (f"noise_scale must be a finite number >= 0 (0 = noise-free), got {scale!r}.")
        raise ValueError(msg)
    levels = {k: v * float(scale) for k, v in NOISE_PRESETS[noise].items()}
    levels["total_mm"] = float(np.hypot(levels["aps_mm"], levels["pixel_mm"]))
    return levels


def insar_noise(*, rng: np.random.Generator, n_times: int, size: int, valid: np.ndarray,
                reference: int, summer: np.ndarray, aps_mm: float,
                pixel_mm: float) -> np.ndarray:
    """Noise ``[T, P]`` (mm): referenced APS plus white pixel noise, zero on the first date.

    ``valid`` ``[P]`` marks land pixels (the RMS is set over them), ``reference`` is the flat
    index of the reference pixel, ``summer`` ``[T]`` the 0..1 summer weight of each date.
    """
    aps_rng, strength_rng, pixel_rng = rng.spawn(3)
    out = np.zeros((n_times, size * size))
    if aps_mm > 0 and n_times > 1:
        screens = power_law_fields(aps_rng, n_times - 1, size, APS_EXPONENT).reshape(
            n_times - 1, -1)
        screens -= screens[:, reference : reference + 1]
        rms = np.sqrt(np.mean(screens[:, valid] ** 2, axis=1, keepdims=True))
        strength = (1 + 0.5 * summer[1:]) * np.exp(strength_rng.normal(0, 0.3, n_times - 1))
        strength /= np.sqrt(np.mean(strength**2))
        out[1:] = aps_mm * strength[:, None] * screens / np.where(rms > 0, rms, 1.0)
    if pixel_mm > 0:
        out[1:] += pixel_mm * pixel_rng.standard_normal((n_times - 1, size * size))
    out[:, reference] = 0.0
    return out


def decorrelation_mask(*, rng: np.random.Generator, base: np.ndarray, extra_summer: np.ndarray,
                       coherence: np.ndarray, summer: np.ndarray, reference: int) -> np.ndarray:
    """Boolean ``[T, P]``: True where a pixel-date is lost to decorrelation.

    The probability is ``(base + extra_summer·summer(t))·coherence`` (per-pixel ``base`` and
    ``extra_summer`` from the land cover, ``coherence`` a smooth field with mean one), capped at
    0.5; the first date and the reference pixel are always kept.
    """
    probability = np.minimum(
        (base[None, :] + extra_summer[None, :] * summer[:, None]) * coherence[None, :], 0.5)
    lost = rng.random(probability.shape) < probability
    lost[0] = False
    lost[:, reference] = False
    return lost


def noise_coverage(stack: xr.Dataset, dates: Sequence, levels: Sequence[float] = (0.8, 0.9),
                   *, draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """The coverage a perfectly calibrated forecast of a QTR-sim region would get on ``dates``.

    An oracle that knows the clean signal exactly and the noise's distribution exactly still
    misses the noise: its central interval at level ``1 - a`` covers ``1 - a`` of the targets
    on average over many periods, but one period's coverage varies, because the pixels of a
    date share that date's atmospheric screen. The noise of ``stack`` (its ``aps_sigma_mm``
    and ``pixel_sigma_mm``, reference pixel, land ``mask`` and acquisition dates) is drawn
    again ``2 * draws`` times with :func:`insar_noise`: the first ``draws`` give the pooled
    quantiles of the noise over ``dates`` and land pixels (one distribution for the period,
    as split conformal has one per step), the other ``draws`` the coverage of one period
    each.

    Returns
    -------
    pandas.DataFrame
        One row per scored draw, one column per level (nominal %), coverage in %.

    Raises
    ------
    ValueError
        If ``stack`` is not a QTR-sim region (no noise attributes) or a date is not one of its
        acquisitions.

    Example
    -------
    >>> table = noise_coverage(stack, stack.time.values[-30:], draws=50)  # doctest: +SKIP
    >>> (table - table.columns).abs().le(2).mean()  # share of periods within 2 pp  # doctest: +SKIP
    """
    missing = [k for k in ("aps_sigma_mm", "pixel_sigma_mm", "reference_pixel_row",
                           "reference_pixel_col") if k not in stack.attrs]
    if missing or "mask" not in stack:
        msg = (f"noise_coverage needs a QTR-sim region (gler simulate); these data lack "
               f"{', '.join(missing or ['the mask variable'])}.")
        raise ValueError(msg)
    times = pd.DatetimeIndex(stack["time"].values)
    pick = times.get_indexer(pd.DatetimeIndex(dates))
    if (pick < 0).any():
        msg = f"{int((pick < 0).sum())} of the dates are not acquisitions of this stack."
        raise ValueError(msg)
    size = stack.sizes["y"]
    valid = stack["mask"].values.ravel().astype(bool)
    reference = int(stack.attrs["reference_pixel_row"]) * size + int(
        stack.attrs["reference_pixel_col"])
    summer = summer_weight(times)
    rngs = np.random.default_rng(seed).spawn(2 * draws)
    noise = np.stack([insar_noise(rng=rng, n_times=len(times), size=size, valid=valid,
                                  reference=reference, summer=summer,
                                  aps_mm=float(stack.attrs["aps_sigma_mm"]),
                                  pixel_mm=float(stack.attrs["pixel_sigma_mm"]))[pick][:, valid]
                      for rng in rngs])  # [2 draws, dates, land pixels]
    known, scored = noise[:draws], noise[draws:]
    table = {}
    for level in levels:
        low, high = np.quantile(known, (0.5 - level / 2, 0.5 + level / 2))
        table[round(100 * level)] = 100 * ((scored >= low) & (scored <= high)).mean(axis=(1, 2))
    out = pd.DataFrame(table)
    out.index.name = "draw"
    out.columns.name = "nominal %"
    return out
