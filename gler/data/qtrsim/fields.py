"""Spatial fields of a region: random fields, terrain, railway embankment and land cover.

Random fields are filtered white noise in the Fourier domain (vectorised, several fields per
call). They are drawn on a padded grid and cropped, so opposite edges are not correlated through
the periodic FFT.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gler.data.qtrsim.regions import EMBANKMENT, LAKE_RIM, MEADOW, STABLE, WATER, Region


def filtered_noise(rng: np.random.Generator, count: int, size: int, pad: int,
                    amplitude) -> np.ndarray:
    """``count`` fields ``[count, size, size]`` of white noise shaped by ``amplitude(k)``.

    ``amplitude`` maps the radial wavenumber (cycles per pixel) to the square root of the power
    spectrum; the fields are cropped from a ``size + pad`` grid and scaled to unit std each.
    """
    n = size + pad
    white = rng.standard_normal((count, n, n))
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(ky, kx)
    spectrum = np.fft.rfft2(white) * amplitude(k)
    fields = np.fft.irfft2(spectrum, s=(n, n))[:, :size, :size]
    fields -= fields.mean(axis=(1, 2), keepdims=True)
    std = fields.std(axis=(1, 2), keepdims=True)
    return fields / np.where(std > 0, std, 1.0)


def gaussian_fields(rng: np.random.Generator, count: int, size: int,
                    correlation_px: float) -> np.ndarray:
    """Unit-variance fields with a Gaussian covariance ``exp(-r²/L²)``, ``L`` in pixels."""
    pad = int(np.ceil(3 * correlation_px))

    def amplitude(k: np.ndarray) -> np.ndarray:
        # Power spectrum of exp(-r²/L²) is ∝ exp(-(π k L)²); the amplitude is its square root.
        return np.exp(-0.5 * (np.pi * k * correlation_px) ** 2)

    return filtered_noise(rng, count, size, pad, amplitude)


def power_law_fields(rng: np.random.Generator, count: int, size: int,
                     exponent: float) -> np.ndarray:
    """Unit-variance fields with power spectrum ``∝ k^-exponent`` (fractal terrain, APS)."""

    def amplitude(k: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            a = k ** (-exponent / 2)
        a[0, 0] = 0.0
        return a

    return filtered_noise(rng, count, size, size, amplitude)


def railway_geometry(size: int, spacing: float, region: Region, rng: np.random.Generator,
                     n_vertices: int = 65) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (m) of each pixel from a gently curved railway centreline, and the line itself.

    The line follows the region's railway bearing, passes within 10 % of the grid extent of the
    centre and curves with a radius of 4–10 km (either side).

    Returns
    -------
    distance, line_x, line_y
        ``[size, size]`` distance in metres; the centreline vertices (m) inside the grid.
    """
    x, y = grid_xy(size, spacing)
    extent = size * spacing
    theta = np.deg2rad(region.railway_bearing_deg)
    offset = rng.uniform(-0.1, 0.1) * extent
    radius = rng.uniform(4000.0, 10000.0) * rng.choice([-1.0, 1.0])
    # Along-track u (towards the bearing) and across-track w (to the right of it).
    xx, yy = np.meshgrid(x, y)
    u = xx * np.sin(theta) + yy * np.cos(theta)
    w = xx * np.cos(theta) - yy * np.sin(theta)
    distance = np.abs(w - (offset + u**2 / (2 * radius)))
    ul = np.linspace(-extent, extent, n_vertices)
    wl = offset + ul**2 / (2 * radius)
    lx = ul * np.sin(theta) + wl * np.cos(theta)
    ly = ul * np.cos(theta) - wl * np.sin(theta)
    half = extent / 2 + spacing
    inside = (np.abs(lx) <= half) & (np.abs(ly) <= half)
    return distance, lx[inside], ly[inside]


def grid_xy(size: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (m) centred on the region: x east, y north (row 0 north)."""
    centres = (np.arange(size) - (size - 1) / 2) * spacing
    return centres, centres[::-1].copy()


def river_distance(size: int, spacing: float, region: Region,
                   rng: np.random.Generator) -> np.ndarray:
    """Distance (m) from a meandering river that crosses the railway at a steep angle."""
    x, y = grid_xy(size, spacing)
    xx, yy = np.meshgrid(x, y)
    theta = np.deg2rad(region.railway_bearing_deg + 75.0)
    u = xx * np.sin(theta) + yy * np.cos(theta)
    w = xx * np.cos(theta) - yy * np.sin(theta)
    wavelength = rng.uniform(0.6, 1.0) * size * spacing
    amplitude = rng.uniform(0.05, 0.1) * size * spacing
    phase = rng.uniform(0, 2 * np.pi)
    return np.abs(w - amplitude * np.sin(2 * np.pi * u / wavelength + phase))


def land_cover(*, size: int, spacing: float, region: Region, dem_z: np.ndarray,
               rail_distance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Land-cover classes ``[size, size]`` int8 (codes in :data:`LAND_COVER`).

    Precedence: water (lakes where a smooth field is highest, kept 60 m off the track; the
    river at Tuotuohe) > embankment (within ``max(25 m, 0.9 px)`` of the centreline) > lake rim
    (within 60 m of a lake) > meadow (the wettest, lowest land: a smooth wetness field minus
    standardised elevation, above the quantile that gives the region's meadow fraction) >
    stable ground.
    """
    correlation_px = region.correlation_length_m / spacing
    lakes_field, wet_field = gaussian_fields(rng, 2, size, max(correlation_px * 0.6, 1.0))
    embankment = rail_distance <= max(25.0, 0.9 * spacing)
    water = np.zeros((size, size), dtype=bool)
    if region.lake_fraction > 0:
        water |= (lakes_field > np.quantile(lakes_field, 1 - region.lake_fraction)) & (
            rail_distance > 60.0)
    river = np.zeros_like(water)
    if region.river:
        river = river_distance(size, spacing, region, rng) <= max(45.0, 0.6 * spacing)
        water |= river & ~embankment  # the railway crosses the river on a bridge
    cover = np.full((size, size), STABLE, dtype=np.int8)
    lakes = water & ~river
    if lakes.any():
        near_lake = ndimage.distance_transform_edt(~lakes, sampling=spacing) <= 60.0
        cover[near_lake] = LAKE_RIM
    wetness = wet_field - 0.8 * dem_z
    land = ~water & ~embankment & (cover == STABLE)
    if land.any() and region.meadow_fraction > 0:
        threshold = np.quantile(wetness[land], 1 - region.meadow_fraction)
        cover[land & (wetness > threshold)] = MEADOW
    cover[embankment] = EMBANKMENT
    cover[water] = WATER
    return cover
