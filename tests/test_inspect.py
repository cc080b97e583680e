"""Tests for gler.inspect: module outputs and seasonal attention of a tiny trained GLER."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gler.config import TrainConfig
from gler.data.qtrsim import simulate_region
from gler.data.sample import SampleSpec
from gler.inspect import (
    lagged_correlation,
    module_outputs,
    receptive_field,
    seasonal_attention,
    window_at,
)
from gler.run import load_run
from gler.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    stack = simulate_region("beiluhe", size=10)
    config = TrainConfig(epochs=1, batch_size=128, pixel_fraction=1.0,
                         max_samples_per_epoch=256, num_threads=1, device="cpu")
    out = tmp_path_factory.mktemp("run")
    train(stack, "gler", config, {"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 6,
                                  "gru_hidden": 8}, out,
                                      sample=SampleSpec(window=8, horizon=2), progress=False)
    return load_run(out), stack


def test_module_outputs_shapes(trained):
    """Every module's output is recorded with the documented widths; attention rows sum to 1."""
    run, stack = trained
    window = window_at(run, stack, pixel=(4, 4), issue=str(stack["time"].values[40])[:10])
    assert len(window.dates) == 8 and window.sd.shape == (1, 8)
    out = module_outputs(run.model, window)
    assert out["glfe.branches.dense"].shape == (1, 8, 4)
    assert out["glfe.branches.conv"].shape == (1, 8, 6)
    assert out["glfe"].shape == (1, 8, 10)
    assert out["bigru"].shape == (1, 8, 16)
    assert out["head"].shape == (1, 2)
    np.testing.assert_allclose(out["mcar.attn"].sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="not an acquisition date"):
        window_at(run, stack, pixel=(4, 4), issue="2017-01-02")


def test_seasonal_attention(trained):
    """One [L, L] matrix per season, rows summing to one."""
    run, stack = trained
    maps = seasonal_attention(run, stack, max_samples=64)
    assert list(maps) == ["thaw (Jul–Sep)", "freeze (Dec–Feb)"]
    for matrix in maps.values():
        assert matrix.shape == (8, 8)
        np.testing.assert_allclose(matrix.sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="No test issue date"):
        seasonal_attention(run, stack, seasons={"none": (13,)})


def test_receptive_field():
    """Two kernel-3 layers with dilations 1 and 2 see 7 steps."""
    assert receptive_field((3, 3), (1, 2)) == 7
    assert receptive_field((5,), (1,)) == 5


def test_lagged_correlation_finds_the_lag():
    """A series that lags its driver by 12 days correlates best at lag 12, despite a trend."""
    days = pd.date_range("2018-01-01", periods=800, freq="D")
    driver = pd.Series(np.cos(2 * np.pi * np.arange(800) / 365.25), index=days)
    series = (driver.shift(12) + 0.002 * np.arange(800)).iloc[20::12]
    corr = lagged_correlation(series, driver, range(0, 40))
    assert abs(corr.idxmax() - 12) <= 2
    assert corr.max() > 0.99
    assert corr[12] > corr[0] and corr[12] > corr[39]
