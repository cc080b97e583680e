"""Calendar features: the factors every stack has, computed from its acquisition dates.

A stack without any environmental factor still tells the season through its dates. The
day-of-year sine and cosine (one annual cycle, phase from 1 January) stand in for the factors so
that every neural model, GLER's cross-attention included, can run on deformation alone. They are
*virtual* factors: :class:`gler.data.windows.WindowDataset` computes them from the dates of
whatever stack it is given, so a run trained with them forecasts any stack (its own or another)
without a factor file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Names of the calendar features, in the order they are added.
CALENDAR_FACTORS = ("day_of_year_sin", "day_of_year_cos")
#: Days of the mean (Julian) year.
YEAR_DAYS = 365.25


def calendar_features(times: Iterable) -> np.ndarray:
    """Day-of-year sine and cosine of each date, ``[T, 2]`` float32.

    The phase is ``2π (day_of_year − 1 + fraction of the day) / 365.25``, so 1 January gives
    ``(0, 1)`` and 1 July about ``(0, −1)``.

    Example
    -------
    >>> calendar_features(["2021-01-01", "2021-07-02"]).round(1).tolist()
    [[0.0, 1.0], [0.0, -1.0]]
    """
    index = pd.DatetimeIndex(pd.to_datetime(list(times)))
    day = (index.day_of_year.to_numpy() - 1
           + (index - index.normalize()) / pd.Timedelta(days=1))
    phase = 2 * np.pi * np.asarray(day, dtype=np.float64) / YEAR_DAYS
    return np.stack([np.sin(phase), np.cos(phase)], axis=-1).astype(np.float32)


def calendar_attrs(name: str) -> dict[str, str]:
    """CF-style attributes of a calendar feature."""
    return {"units": "1", "long_name": f"{name.replace('_', ' ')} of the acquisition date",
            "aggregation": "point", "source": "acquisition dates"}


def with_calendar(factors: Sequence[str], calendar: bool | None) -> list[str]:
    """The factors a model gets: ``factors``, plus the calendar features when asked.

    Parameters
    ----------
    factors
        The environmental factors chosen from the data.
    calendar
        ``True``: add the calendar features; ``False``: never; ``None`` (default): add them
        only when ``factors`` is empty, and say so in one log line.
    """
    factors = [f for f in factors if f not in CALENDAR_FACTORS]
    if calendar is False:
        return factors
    if calendar is None and factors:
        return factors
    if calendar is None:
        logger.warning("No environmental factor: the model gets calendar features instead "
                       "(day-of-year sine and cosine of the acquisition dates); --no-calendar "
                       "turns them off")
    return [*factors, *CALENDAR_FACTORS]
