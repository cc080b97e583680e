"""A large synthetic InSAR frame, written to Zarr tile by tile or built in memory.

A simple, documented generator rather than QTR-sim (whose fields and climate are built for one
region at a time and would take minutes per frame), for the out-of-core forecasts of
:mod:`gler.outofcore` and the benchmarks: per pixel a linear trend, a Stefan-type freeze–thaw
term driven by scene-wide degree-days, white noise and missing values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.degree_days import degree_days
from gler.data.model import DISPLACEMENT, DISPLACEMENT_ATTRS

#: Factors written by :func:`make_synthetic_frame` (scene-wide, one value per acquisition).
FRAME_FACTORS = ("air_temperature", "thawing_degree_days", "freezing_degree_days")


def _frame_climate(times: pd.DatetimeIndex, interval_days: int) -> dict[str, np.ndarray]:
    """Scene-wide factors on the acquisition dates from a Beiluhe-like daily air temperature.

    Daily mean air temperature ``-4 + 12 cos(2π (doy - 200) / 365.25)`` degC (mean annual
    -4 degC, warmest in mid-July), aggregated as the mean over each acquisition interval;
    degree-days from :func:`gler.data.degree_days.degree_days` on the acquisition dates.
    """
    days = pd.date_range(times[0] - pd.Timedelta(days=interval_days), times[-1], freq="D",
                         unit="ns")
    doy = days.day_of_year.to_numpy()
    temp = -4.0 + 12.0 * np.cos(2 * np.pi * (doy - 200) / 365.25)
    ddt, ddf = degree_days(temp, days)
    pick = days.get_indexer(times)
    csum = np.concatenate([[0.0], np.cumsum(temp)])
    mean = (csum[pick + 1] - csum[pick + 1 - interval_days]) / interval_days
    return {"air_temperature": mean, "thawing_degree_days": ddt[pick],
            "freezing_degree_days": ddf[pick]}


def _frame_tile(rows: np.ndarray, cols: np.ndarray, climate: dict[str, np.ndarray],
                years: np.ndarray, *, seed: int, tile: tuple[int, int], noise_mm: float,
                gap_probability: float) -> np.ndarray:
    """Displacement ``[T, ny, nx]`` (mm, float32) of one tile; deterministic per (seed, tile).

    Per pixel: a linear trend (a smooth velocity field plus a random part, mm/yr) and a
    Stefan-type seasonal term ``-a sqrt(DDT) + b sqrt(DDF)`` (thaw settlement, frost heave),
    white noise and missing values, relative to the first acquisition (never missing).
    """
    rng = np.random.default_rng([seed, *tile])
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    velocity = (-8.0 + 5.0 * np.sin(yy / 300.0) * np.cos(xx / 400.0)
                + rng.normal(0.0, 2.0, yy.shape))
    thaw = rng.uniform(0.2, 1.0, yy.shape)
    heave = thaw * rng.uniform(0.5, 0.9, yy.shape)
    sqrt_ddt = np.sqrt(climate["thawing_degree_days"])[:, None, None]
    sqrt_ddf = np.sqrt(climate["freezing_degree_days"])[:, None, None]
    clean = (velocity * years[:, None, None] - thaw * sqrt_ddt + heave * sqrt_ddf)
    values = clean - clean[:1] + rng.normal(0.0, noise_mm, clean.shape)
    values[0] = 0.0
    gaps = rng.random(values.shape) < gap_probability
    gaps[0] = False
    values[gaps] = np.nan
    return values.astype(np.float32)


def _frame_factors(times: pd.DatetimeIndex, interval_days: int) -> dict[str, tuple]:
    climate = _frame_climate(times, interval_days)
    attrs = {
        "air_temperature": {"units": "degC", "aggregation": "mean",
                            "long_name": "air temperature"},
        "thawing_degree_days": {"units": "degC day", "long_name": "thawing degree-days"},
        "freezing_degree_days": {"units": "degC day", "long_name": "freezing degree-days"},
    }
    return {name: (("time",), climate[name].astype(np.float32), attrs[name])
            for name in FRAME_FACTORS}


def _scene(nt: int, start: str, interval_days: int) -> tuple[pd.DatetimeIndex, dict[str, tuple],
                                                               dict[str, np.ndarray], np.ndarray]:
    """The acquisition dates, the factor variables, the factors as float64 (what the tiles
    are driven by) and the years since the first date."""
    times = pd.date_range(start, periods=nt, freq=f"{interval_days}D", unit="ns")
    factors = _frame_factors(times, interval_days)
    climate = {name: value[1].astype(np.float64) for name, value in factors.items()}
    return times, factors, climate, np.asarray((times - times[0]) / pd.Timedelta(days=365.25))


def _frame(displacement: Any, times: pd.DatetimeIndex, factors: dict[str, tuple], *,
           pixel_spacing: float, seed: int, noise_mm: float) -> xr.Dataset:
    """The frame around ``displacement`` [time, y, x] (an array or a lazy one)."""
    ny, nx = displacement.shape[1:]
    return xr.Dataset(
        {DISPLACEMENT: (("time", "y", "x"), displacement, DISPLACEMENT_ATTRS), **factors},
        coords={"time": times, "y": pixel_spacing * np.arange(ny),
                "x": pixel_spacing * np.arange(nx)},
        attrs={"title": "gler synthetic frame (trend + Stefan seasonal + noise)",
               "seed": seed, "noise_sigma_mm": noise_mm},
    )


def synthetic_stack(*, ny: int = 100, nx: int = 100, nt: int = 180, seed: int = 0,
                    start: str = "2017-01-01", interval_days: int = 12,
                    pixel_spacing: float = 90.0, noise_mm: float = 2.0,
                    gap_probability: float = 0.02) -> xr.Dataset:
    """The in-memory version of :func:`make_synthetic_frame` (one tile), for small frames.

    Parameters are those of :func:`make_synthetic_frame`; the values equal those of a frame
    written with ``chunks=(ny, nx)``.

    Returns
    -------
    xarray.Dataset
        A stack ``(time, y, x)`` with ``displacement`` and the factors :data:`FRAME_FACTORS`.

    Example
    -------
    >>> synthetic_stack(ny=4, nx=5, nt=40)["displacement"].shape
    (40, 4, 5)
    """
    times, factors, climate, years = _scene(nt, start, interval_days)
    values = _frame_tile(np.arange(ny), np.arange(nx), climate, years, seed=seed, tile=(0, 0),
                         noise_mm=noise_mm, gap_probability=gap_probability)
    return _frame(values, times, factors, pixel_spacing=pixel_spacing, seed=seed,
                  noise_mm=noise_mm)


def make_synthetic_frame(path: str | Path, *, ny: int = 2000, nx: int = 2000, nt: int = 180,
                         chunks: tuple[int, int] = (250, 250), seed: int = 0,
                         start: str = "2017-01-01", interval_days: int = 12,
                         pixel_spacing: float = 90.0, noise_mm: float = 2.0,
                         gap_probability: float = 0.02, progress: bool = False) -> Path:
    """Write a large synthetic stack to Zarr one spatial tile at a time.

    A simple, documented generator rather than QTR-sim (whose fields and climate are built for
    one region at a time and would take minutes per frame): per pixel a linear trend from a
    smooth velocity field plus noise, a Stefan-type freeze–thaw term driven by scene-wide
    degree-days, white noise of ``noise_mm`` and randomly missing values. The factors
    :data:`FRAME_FACTORS` are scene-wide (dims ``("time",)``). Only one tile
    (``nt × chunks``) is in memory at a time, so any frame size can be written. The result is
    deterministic for a ``seed`` and the same ``chunks``.

    Parameters
    ----------
    path
        The ``.zarr`` store to (over)write.
    ny, nx, nt
        Frame size: rows, columns and acquisitions.
    chunks
        Spatial tile (rows, columns): the unit of writing and the Zarr chunk (time is whole).
    seed
        Seed; each tile draws from ``(seed, tile row, tile column)``.
    start, interval_days
        First acquisition and the repeat interval.
    pixel_spacing
        Pixel size in metres (the ``y``/``x`` coordinates).
    noise_mm, gap_probability
        Noise standard deviation and the probability of a missing value.
    progress
        Show a progress bar over tiles.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On non-positive sizes or chunks.

    Example
    -------
    >>> make_synthetic_frame("frame.zarr", ny=500, nx=500)  # doctest: +SKIP
    """
    sizes = {"ny": ny, "nx": nx, "nt": nt, "chunk rows": chunks[0], "chunk columns": chunks[1],
             "interval_days": interval_days}
    bad = [f"{k}={v!r}" for k, v in sizes.items() if not isinstance(v, int) or v < 1]
    if bad:
        msg = f"make_synthetic_frame needs positive integer sizes; got {', '.join(bad)}."
        raise ValueError(msg)
    import dask.array as da  # the gler[dask] extra: only the out-of-core frame needs it
    from tqdm.auto import tqdm

    path = Path(path)
    times, factors, climate, years = _scene(nt, start, interval_days)
    cy, cx = min(chunks[0], ny), min(chunks[1], nx)
    skeleton = _frame(da.zeros((nt, ny, nx), dtype=np.float32, chunks=(nt, cy, cx)), times,
                      factors, pixel_spacing=pixel_spacing, seed=seed, noise_mm=noise_mm)
    # Metadata and the small variables now; the displacement chunks one region at a time.
    skeleton.to_zarr(path, mode="w", compute=False, consolidated=False)
    tiles = [(i, j) for i in range(0, ny, cy) for j in range(0, nx, cx)]
    for i, j in tqdm(tiles, desc="synthetic frame", unit="tile", disable=not progress):
        rows, cols = np.arange(i, min(i + cy, ny)), np.arange(j, min(j + cx, nx))
        values = _frame_tile(rows, cols, climate, years, seed=seed, tile=(i // cy, j // cx),
                             noise_mm=noise_mm, gap_probability=gap_probability)
        tile = xr.Dataset({DISPLACEMENT: (("time", "y", "x"), values)})
        region = {"time": slice(0, nt), "y": slice(rows[0], rows[-1] + 1),
                  "x": slice(cols[0], cols[-1] + 1)}
        tile.to_zarr(path, region=region, consolidated=False)
    return path
