"""A tiny synthetic stack and a tiny forecaster for the pipeline tests (no simulator needed).

The stack: a few pixels with a trend plus a Stefan-like seasonal signal driven by a temperature
factor, white noise, a few gaps and one pixel with no data at all (a lake). The forecaster: a
linear layer following the neural forecaster contract, registered for one test at a time. The
quantile run: a small LSTM with a quantile head, trained briefly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from gler.config import TrainConfig
from gler.data.degree_days import degree_days
from gler.data.sample import SampleSpec
from gler.train import TrainResult, train

#: The levels of the tests' quantile heads.
QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def make_stack(ny: int = 3, nx: int = 4, *, start: str = "2017-01-01", end: str = "2022-12-31",
               noise: float = 0.3, seed: int = 0, points: bool = False) -> xr.Dataset:
    """A stack in the data model with ``displacement``, ``displacement_clean`` and factors."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D", unit="ns")
    doy = days.day_of_year.to_numpy()
    temp_daily = -4.0 + 12.0 * np.cos(2 * np.pi * (doy - 200) / 365.25)
    ddt_daily, ddf_daily = degree_days(temp_daily, days)
    times = days[::12]
    pick = np.searchsorted(days, times)
    ddt, ddf = ddt_daily[pick], ddf_daily[pick]
    years = ((times - times[0]).days / 365.25).to_numpy()
    n_pixel = ny * nx
    velocity = rng.uniform(-15, 0, n_pixel)
    thaw = rng.uniform(0.2, 0.8, n_pixel)
    seasonal = -thaw[:, None] * np.sqrt(ddt)[None] + 0.8 * thaw[:, None] * np.sqrt(ddf)[None]
    clean = velocity[:, None] * years[None] + seasonal
    clean -= clean[:, :1]
    noisy = clean + rng.normal(0, noise, clean.shape)
    gaps = rng.random(noisy.shape) < 0.03
    noisy[gaps] = np.nan
    noisy[0] = np.nan  # a lake pixel: never observed
    clean[0] = np.nan
    temp = np.array([temp_daily[max(0, p - 11):p + 1].mean() for p in pick])
    if points:
        dims, coords = ("time", "point"), {"point": np.arange(n_pixel)}
        shape = (len(times), n_pixel)
        space = {"lat": (("point",), 34.8 + 0.01 * np.arange(n_pixel)),
                 "lon": (("point",), 92.9 + 0.01 * np.arange(n_pixel))}
    else:
        dims, coords = ("time", "y", "x"), {"y": 30.0 * np.arange(ny), "x": 30.0 * np.arange(nx)}
        shape = (len(times), ny, nx)
        lat, lon = np.meshgrid(34.8 + 0.001 * np.arange(ny), 92.9 + 0.001 * np.arange(nx),
                               indexing="ij")
        space = {"lat": (("y", "x"), lat), "lon": (("y", "x"), lon)}
    attrs = {"units": "mm", "long_name": "cumulative surface displacement"}
    ds = xr.Dataset(
        {
            "displacement": (dims, noisy.T.reshape(shape).astype(np.float32), attrs),
            "displacement_clean": (dims, clean.T.reshape(shape).astype(np.float32), attrs),
            "air_temperature": (("time",), temp.astype(np.float32),
                                {"units": "degC", "aggregation": "mean"}),
            "thawing_degree_days": (("time",), ddt.astype(np.float32), {"units": "degC day"}),
            "freezing_degree_days": (("time",), ddf.astype(np.float32), {"units": "degC day"}),
        },
        coords={"time": times, **coords, **space},
    )
    return ds


class TinyForecaster(torch.nn.Module):
    """The smallest forecaster following the contract: a linear map of (sd, mask, mean ef)."""

    kind = "neural"

    def __init__(self, *, window: int, horizon: int, n_ef: int, scale: float = 1.0) -> None:
        super().__init__()
        self.window, self.horizon, self.n_ef, self.uses_ef = window, horizon, n_ef, n_ef > 0
        self.config = TinyConfig(window=window, horizon=horizon, n_ef=n_ef)
        self.linear = torch.nn.Linear(2 * window + n_ef, horizon)
        self.dropout = torch.nn.Dropout(0.1)
        self.scale = scale

    def forward(self, sd, ef=None, mask=None):
        mask = torch.ones_like(sd, dtype=torch.bool) if mask is None else mask
        parts = [sd.masked_fill(~mask, 0.0), mask.float()]
        if ef is not None and self.n_ef:
            parts.append(ef.mean(dim=1))
        return self.linear(self.dropout(torch.cat(parts, dim=-1))) * TINY_STATE["factor"]


@dataclass(frozen=True)
class TinyConfig:
    window: int
    horizon: int
    n_ef: int

    def to_dict(self) -> dict:
        return {"window": self.window, "horizon": self.horizon, "n_ef": self.n_ef}


#: Multiplies the tiny model's output: a test sets it to NaN to provoke a non-finite loss.
TINY_STATE = {"factor": 1.0}


def register_tiny(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``tiny`` (neural, uses factors) for the duration of one test; return its name."""
    from gler.models import _registry

    def build(*, window, horizon, n_ef):
        return TinyForecaster(window=window, horizon=horizon, n_ef=n_ef)

    monkeypatch.setitem(_registry._REGISTRY, "tiny", _registry.ModelInfo(
        "tiny", "neural", True, "test model", build, "recurrent"))
    monkeypatch.setitem(TINY_STATE, "factor", 1.0)
    return "tiny"


def interrupt_after(epoch: int) -> Callable[[dict], None]:
    """An ``on_epoch_end`` callback that stops a run after ``epoch`` as Ctrl-C would
    (``KeyboardInterrupt``), leaving its checkpoint for a resume."""

    def interrupt(entry: dict) -> None:
        if entry["epoch"] == epoch:
            raise KeyboardInterrupt

    return interrupt



def train_quantile_run(stack: xr.Dataset, out: Path) -> TrainResult:
    """A small LSTM with a quantile head at :data:`QUANTILE_LEVELS` (window 12, horizon 3),
    trained on the CPU for three epochs into ``out``."""
    return train(stack, "lstm", TrainConfig(epochs=3, batch_size=64, device="cpu",
                                            pixel_fraction=1.0),
                 {"hidden": 8, "num_layers": 1, "quantiles": QUANTILE_LEVELS}, out,
                 sample=SampleSpec(window=12, horizon=3), progress=False)
