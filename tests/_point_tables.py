"""A wide point table of settling, seasonal InSAR series, shared by the command-line tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def point_table(dates: pd.DatetimeIndex, n: int, rng: np.random.Generator, *,
                spacing: float = 0.001) -> pd.DataFrame:
    """pid, latitude, longitude and one column per date (``YYYYMMDD``, mm): a velocity of
    0 to -12 mm/yr, an annual cycle of 2 to 6 mm and 0.5 mm noise per point."""
    years = ((dates - dates[0]).days / 365.25).to_numpy()
    series = (rng.uniform(-12, 0, (n, 1)) * years
              + rng.uniform(2, 6, (n, 1)) * np.sin(2 * np.pi * years)
              + rng.normal(0, 0.5, (n, len(dates))))
    table = pd.DataFrame(series.round(2), columns=dates.strftime("%Y%m%d"))
    table.insert(0, "longitude", 92.9 + spacing * np.arange(n))
    table.insert(0, "latitude", 34.8 + spacing * np.arange(n))
    table.insert(0, "pid", [f"P{i}" for i in range(n)])
    return table
