"""Stefan-type freeze–thaw deformation with secular trend and summer-wetness modulation.

For a pixel with secular rate ``v``, thaw coefficient ``E`` and wetness sensitivity ``β``, in
the freeze–thaw year ``y`` (starting on the season start of :mod:`gler.data.degree_days`)::

    s(t) = -E_y·sqrt(DDT(t)) + F_y·sqrt(DDF*(t)),   E_y = E·(1 + β·a_y)
    d(t) = v·(t - t0) + s(t) - s(t0)

``DDT`` is the thawing degree-days of the pixel's ground-surface temperature since the season
start (the ground is frozen then, so this is thaw onset); ``DDF*`` is the freezing degree-days
counted from the end of the thaw, i.e. after the last day of the year with a positive
temperature (zero before), so spring cold does not heave ground that is already frozen. ``a_y``
is the standardised summer-precipitation anomaly of the year.

Continuity: ``F_y`` is chosen from the closure ``s = 0`` on the last day of the year,
``F_y = E_y·sqrt(DDT_end/DDF*_end)``, so every year ends where it started and the restart of
the sums on the season start makes no jump (the secular trend carries the net change).

Per-pixel temperature is the region's ground-surface temperature plus a constant offset (the
lapse rate times the pixel's height above the region elevation). The degree-days of all pixels
are interpolated from those of a few offset levels spanning the offsets, which is exact to a
small fraction of a degree-day (the sums are piecewise linear in the offset) and vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gler.data.degree_days import degree_days, season_index

N_LEVELS = 33


def thaw_end_freezing(temperature: np.ndarray, ddf: np.ndarray,
                      season: np.ndarray) -> np.ndarray:
    """Freezing degree-days counted from the end of each year's thaw (``DDF*``).

    Parameters
    ----------
    temperature, ddf
        ``[..., D]`` daily temperature (°C) and its freezing degree-days since the season start.
    season
        ``[D]`` freeze–thaw year label of each day.

    Returns
    -------
    numpy.ndarray
        ``[..., D]``: 0 up to the last thawing day of the year, then ``DDF`` minus its value on
        that day.
    """
    out = np.zeros_like(ddf)
    for label in np.unique(season):
        days = np.flatnonzero(season == label)
        thawing = temperature[..., days] > 0
        # Index (within the year) of the last thawing day; -1 when the year never thaws.
        last = np.where(thawing.any(axis=-1),
                        thawing.shape[-1] - 1 - np.argmax(thawing[..., ::-1], axis=-1), -1)
        block = ddf[..., days]
        at_last = np.take_along_axis(block, np.maximum(last, 0)[..., None], axis=-1)
        at_last = np.where(last[..., None] >= 0, at_last, 0.0)
        after = np.arange(len(days)) > last[..., None]
        out[..., days] = np.where(after, block - at_last, 0.0)
    return out


def stefan_clock(gst: np.ndarray, days: pd.DatetimeIndex, offsets: np.ndarray,
                 sample: np.ndarray, season_start: str) -> dict[str, np.ndarray]:
    """Per-pixel degree-days on the sampled days and at the end of each freeze–thaw year.

    Parameters
    ----------
    gst
        ``[D]`` region-wide daily ground-surface temperature (°C); ``days`` must start on a
        season start and end on the day before one.
    offsets
        ``[P]`` per-pixel temperature offsets (°C).
    sample
        Indices into ``days`` of the acquisition dates ``[T]``.

    Returns
    -------
    dict
        ``ddt``, ``ddf`` ``[P, T]``; ``ddt_end``, ``ddf_end`` ``[P, S]`` (end of each year);
        ``season`` ``[T]`` index 0..S-1 of the year of each acquisition; ``seasons`` ``[S]``
        labels.
    """
    lo, hi = float(offsets.min()), float(offsets.max())
    levels = np.linspace(lo, hi, N_LEVELS) if hi > lo else np.array([lo, lo + 1.0])
    temperature = gst[None, :] + levels[:, None]
    ddt, ddf_start = degree_days(temperature, days, season_start=season_start)
    labels = season_index(days, season_start)
    ddf = thaw_end_freezing(temperature, ddf_start, labels)
    seasons, first = np.unique(labels, return_index=True)
    ends = np.r_[first[1:], len(days)] - 1

    position = (offsets - levels[0]) / (levels[1] - levels[0])
    i0 = np.clip(np.floor(position).astype(int), 0, len(levels) - 2)
    weight = np.clip(position - i0, 0.0, 1.0)[:, None]

    def at_pixels(table: np.ndarray) -> np.ndarray:
        return table[i0] * (1 - weight) + table[i0 + 1] * weight

    return {
        "ddt": at_pixels(ddt[:, sample]),
        "ddf": at_pixels(ddf[:, sample]),
        "ddt_end": at_pixels(ddt[:, ends]),
        "ddf_end": at_pixels(ddf[:, ends]),
        "season": np.searchsorted(seasons, labels[sample]),
        "seasons": seasons,
    }


def seasonal_coefficients(thaw_coeff: np.ndarray, beta: np.ndarray, anomaly: np.ndarray,
                          ddt_end: np.ndarray, ddf_end: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-year thaw and freeze coefficients ``[P, S]`` from the closure of each year."""
    e_year = thaw_coeff[:, None] * (1 + beta[:, None] * anomaly[None, :])
    ratio = np.sqrt(np.divide(ddt_end, ddf_end, out=np.zeros_like(ddt_end), where=ddf_end > 0))
    return e_year, e_year * ratio, ratio


def displacement_signal(*, velocity: np.ndarray, e_year: np.ndarray, f_year: np.ndarray,
                        clock: dict, years: np.ndarray) -> np.ndarray:
    """Noise-free displacement ``[T, P]`` (mm) relative to the first acquisition.

    ``years`` are the acquisition times in years since the first one.
    """
    season = clock["season"]
    seasonal = (-e_year[:, season] * np.sqrt(clock["ddt"])
                + f_year[:, season] * np.sqrt(clock["ddf"]))
    signal = velocity[:, None] * years[None, :] + seasonal
    return (signal - signal[:, :1]).T
