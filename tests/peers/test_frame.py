"""Tests for gler.peers.frame (no neuralforecast needed): the long frame and the way back."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from _pipeline_stack import make_stack

from gler.data.sample import SampleSpec
from gler.data.windows import WindowDataset
from gler.forecast import predict
from gler.peers import fit_peer
from gler.peers.frame import (
    ID,
    MASK,
    TARGET,
    TIME,
    fit_frame,
    forecast_from_frame,
    peer_frame,
    stack_windows,
)
from gler.run import classical_run

SAMPLE = SampleSpec(window=12, horizon=3)


@pytest.fixture(scope="module")
def stack():
    return make_stack(ny=4, nx=4, noise=1.0)


def test_frame_has_every_acquisition_of_every_observed_pixel(stack):
    """One series per observed pixel, ds numbers the acquisitions, gaps are masked rows."""
    skipped = stack.isel(time=np.delete(np.arange(stack.sizes["time"]), 40))  # a 24-day step
    frame = peer_frame(skipped, SAMPLE)
    n_time = skipped.sizes["time"]
    flat = skipped.displacement.values.reshape(n_time, -1)
    observed = np.flatnonzero(np.isfinite(flat).any(axis=0))
    assert 0 not in observed  # the lake pixel is no series
    assert list(frame.columns[:4]) == [ID, TIME, TARGET, MASK]
    assert {"air_temperature", "thawing_degree_days", "freezing_degree_days"} <= set(frame)
    assert len(frame) == len(observed) * n_time
    series = frame[frame[ID] == f"stack 1/{observed[0]}"]
    np.testing.assert_array_equal(series[TIME], np.arange(n_time))
    values = flat[:, observed[0]]
    np.testing.assert_array_equal(series[MASK], np.isfinite(values))
    np.testing.assert_allclose(series[TARGET], np.nan_to_num(values, nan=0.0))
    assert not series[MASK].all()  # the stack has gaps, kept as masked rows
    np.testing.assert_allclose(series["air_temperature"], skipped.air_temperature.values)
    assert set(peer_frame(skipped, SAMPLE, factors=())) == {ID, TIME, TARGET, MASK}


def test_points_and_several_stacks_get_distinct_series(stack):
    """Points are series too; two stacks of one region are told apart."""
    points = make_stack(ny=2, nx=3, points=True).assign_attrs(region="beiluhe")
    frame = peer_frame([points, points], SAMPLE, factors=())
    assert frame[ID].str.startswith("beiluhe#0/").sum() == frame[ID].str.startswith(
        "beiluhe#1/").sum() == 5 * points.sizes["time"]


def test_fit_frame_ends_at_the_validation_cut_and_pads_to_one_length(stack):
    """Nothing after val_end enters; a shorter validation period ends in masked padding."""
    short = stack.isel(time=np.delete(np.arange(stack.sizes["time"]), 140))  # in 2021
    windows, labels = stack_windows([stack, short], SAMPLE)
    assert labels == ["stack 1", "stack 2"]
    frame, val_size = fit_frame(windows, labels, factors=True)
    n_val = [int((w.period_of(w.times) == 1).sum()) for w in windows]
    assert val_size == max(n_val) == n_val[1] + 1
    last_fit = [int((w.period_of(w.times) <= 1).sum()) for w in windows]
    lengths = frame.groupby(ID)[TIME].count()
    assert set(lengths[lengths.index.str.startswith("stack 1/")]) == {last_fit[0]}
    assert set(lengths[lengths.index.str.startswith("stack 2/")]) == {last_fit[1] + 1}
    padded = frame[frame[ID].str.startswith("stack 2/") & (frame[TIME] == last_fit[1])]
    assert (padded[MASK] == 0).all() and (padded[TARGET] == 0).all()


def test_forecasts_come_back_in_the_layout_of_predict(stack):
    """A long frame of persistence's forecasts gives back predict's Dataset, NaN included."""
    spec = SAMPLE.replace(min_observed=0.9)  # some windows have too few inputs: NaN
    expected = predict(classical_run(stack, "persistence", spec), stack, issues="test")
    windows = WindowDataset.from_spec(stack, spec)
    issue_index = windows.issues("test")
    values = expected.forecast.values.reshape(len(issue_index), spec.horizon, -1)
    issue, step, pixel = np.meshgrid(issue_index, np.arange(1, spec.horizon + 1),
                                     windows.valid_pixels, indexing="ij")
    cv = pd.DataFrame({ID: [f"x/{p}" for p in pixel.ravel()], TIME: (issue + step).ravel(),
                       "cutoff": issue.ravel(), "model": 0.0})
    flat = values[np.searchsorted(issue_index, issue), step - 1, pixel]
    cv["model"] = np.where(np.isfinite(flat), flat, 7.0).ravel()  # a peer forecasts all
    back = forecast_from_frame(cv, "model", windows, issue_index, stack, model="persistence",
                               source="test")
    assert back.forecast.dims == expected.forecast.dims
    np.testing.assert_array_equal(back.forecast.values, expected.forecast.values)
    np.testing.assert_array_equal(back.target_time.values, expected.target_time.values)
    assert np.isnan(values[:, :, 1:]).any()  # NaN beyond the lake: windows with gaps
    with pytest.raises(ValueError, match="have no forecast of persistence"):
        forecast_from_frame(cv.iloc[10:], "model", windows, issue_index, stack,
                            model="persistence", source="test")


def test_fitting_without_neuralforecast_says_how_to_install(stack, monkeypatch):
    """Without the extra, the error names the command that installs it."""
    monkeypatch.setitem(sys.modules, "neuralforecast", None)
    with pytest.raises(ImportError, match=r'pip install "gler\[peers\]"'):
        fit_peer(stack, "nhits", sample=SAMPLE)
