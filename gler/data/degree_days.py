"""Thawing and freezing degree-days: the clock of Stefan-type freeze–thaw deformation.

One definition serves the simulator, the factor alignment and the Stefan baseline.

A *freeze–thaw year* starts on ``season_start`` (default 1 April: on the Qinghai–Tibet Plateau
the ground is still frozen then and frost heave is complete). Within each such year

- ``DDT(d)`` is the sum of ``max(T, 0)`` (°C·day) from the season start to day ``d``;
- ``DDF(d)`` is the sum of ``max(-T, 0)`` from the season's thaw onset (its first day with
  ``T > 0``) to day ``d``, and zero before it.

Both restart at zero on the next season start. Settlement grows as ``-E·sqrt(DDT)`` through the
thaw season and heave recovers it as ``+F·sqrt(DDF)`` through the following winter. Counting
``DDF`` from the thaw onset keeps the cold days of spring, when the ground is still frozen and
heave is complete, from heaving it again; it uses only days up to ``d``, so it can be computed
for a forecast's issue date. (QTR-sim counts freezing from the *end* of the thaw, which needs
the whole season; the two differ only by the few freezing days inside the thaw season.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_SEASON_START = "04-01"
#: The degree-day factors of a stack (thawing, freezing), in the order the models read them.
DEGREE_DAY_FACTORS = ("thawing_degree_days", "freezing_degree_days")
#: The daily temperatures the degree-days are computed from, by default.
DEGREE_DAY_HINT = "air_temperature or ground_surface_temperature in degC"


def season_index(dates: pd.DatetimeIndex, season_start: str = DEFAULT_SEASON_START) -> np.ndarray:
    """Integer label of the freeze–thaw year each date belongs to (the calendar year it starts)."""
    try:
        month, day = (int(part) for part in season_start.split("-"))
        pd.Timestamp(year=2001, month=month, day=day)
    except (ValueError, TypeError) as err:
        msg = f"season_start must be 'MM-DD' (e.g. '04-01'), got {season_start!r}."
        raise ValueError(msg) from err
    dates = pd.DatetimeIndex(dates)
    before = (dates.month < month) | ((dates.month == month) & (dates.day < day))
    return dates.year.to_numpy() - before.astype(int)


def degree_days(
    temperature: np.ndarray,
    dates: pd.DatetimeIndex,
    season_start: str = DEFAULT_SEASON_START,
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative thawing and freezing degree-days of a daily temperature series.

    Parameters
    ----------
    temperature
        Daily temperature in °C, shape ``[..., D]`` (the last axis is time).
    dates
        The ``D`` consecutive days.
    season_start
        ``"MM-DD"`` on which each freeze–thaw year starts.

    Returns
    -------
    ddt, ddf
        Arrays shaped like ``temperature`` in °C·day (``ddf`` from the thaw onset).

    Raises
    ------
    ValueError
        If the dates are not consecutive days, or the temperature has NaN or a wrong length.
    """
    dates = pd.DatetimeIndex(dates)
    temperature = np.asarray(temperature, dtype=np.float64)
    if temperature.shape[-1] != len(dates):
        msg = (f"temperature has {temperature.shape[-1]} days on its last axis but dates has "
               f"{len(dates)}; they must match.")
        raise ValueError(msg)
    steps = np.diff(dates.values.astype("datetime64[D]").astype(np.int64))
    if np.any(steps != 1):
        first = int(np.flatnonzero(steps != 1)[0])
        msg = (f"Degree-days need consecutive daily temperatures; the series jumps from "
               f"{dates[first].date()} to {dates[first + 1].date()}. Fill or interpolate the gap.")
        raise ValueError(msg)
    if np.isnan(temperature).any():
        msg = (f"The temperature series has {int(np.isnan(temperature).sum())} NaN values; "
               "degree-days need a complete series. Interpolate the gaps first.")
        raise ValueError(msg)
    season = season_index(dates, season_start)
    starts = np.flatnonzero(np.r_[True, season[1:] != season[:-1]])
    lengths = np.diff(np.r_[starts, len(dates)])

    def seasonal_cumsum(values: np.ndarray) -> np.ndarray:
        total = np.cumsum(values, axis=-1)
        before_season = np.take(total, starts, axis=-1) - np.take(values, starts, axis=-1)
        return total - np.repeat(before_season, lengths, axis=-1)

    ddt = seasonal_cumsum(np.maximum(temperature, 0.0))
    after_onset = ddt > 0  # the season has had a thawing day
    return ddt, seasonal_cumsum(np.where(after_onset, np.maximum(-temperature, 0.0), 0.0))
