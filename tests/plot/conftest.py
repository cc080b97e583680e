"""Shared inputs of the figure tests: a small QTR-sim stack, a fake forecast on it, and cartopy
with empty data directories and no downloader."""

from __future__ import annotations

import cartopy
import numpy as np
import pytest
import xarray as xr

from gler.data.qtrsim import simulate_region


@pytest.fixture(scope="module")
def stack():
    return simulate_region("beiluhe", size=16, end="2018-12-31")


@pytest.fixture(scope="module")
def forecast(stack):
    """A fake forecast: the clean signal at the next two dates of three issue dates."""
    issues = stack["time"].values[30:33]
    targets = np.stack([stack["time"].values[31:34], stack["time"].values[32:35]], axis=1)
    values = np.stack([stack["displacement_clean"].sel(time=t).values for t in targets])
    return xr.Dataset({"forecast": (("issue_time", "horizon", "y", "x"), values,
                                    {"units": "mm"})},
                      coords={"issue_time": issues, "horizon": [1, 2],
                              "target_time": (("issue_time", "horizon"), targets),
                              "y": stack["y"], "x": stack["x"], "lat": stack["lat"],
                              "lon": stack["lon"]})


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """Empty cartopy data directories and a downloader that fails the test if called."""
    monkeypatch.setitem(cartopy.config, "data_dir", str(tmp_path))
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(tmp_path))

    def refuse(*args, **kwargs):
        pytest.fail("cartopy tried to download data")

    monkeypatch.setattr(cartopy.io.Downloader, "acquire_resource", refuse)
