"""Tests for gler.data.scaling: training-only statistics, residual target, JSON round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from _pipeline_stack import make_stack

from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset


@pytest.fixture(scope="module")
def windows():
    return WindowDataset(make_stack(), window=20, horizon=4)


def test_statistics_ignore_everything_after_the_training_period(windows):
    """Changing validation and test data (inputs and targets) leaves the scaler unchanged."""
    scaler = Scaler.fit(windows)
    stack = make_stack()
    after = stack.time > windows.split.train_end
    stack["displacement"] = stack.displacement.where(~after, 1e4)
    stack["air_temperature"] = stack.air_temperature.where(~after, 99.0)
    assert Scaler.fit(WindowDataset(stack, window=20, horizon=4)) == scaler


def test_target_is_residual_over_persistence(windows):
    """target * scale + anchor gives back the future displacement in mm."""
    scaler = Scaler.fit(windows)
    batch = windows.batch(windows.indices("test"))
    target = scaler.target(batch)
    np.testing.assert_allclose(scaler.inverse(target, batch.anchor), batch.target, atol=1e-4)
    sd, ef, mask = scaler.inputs(batch)
    assert (sd[~mask] == 0).all()
    # The input ends at 0 where the last value is observed (it is the anchor).
    assert np.allclose(sd[mask[:, -1], -1], 0.0)
    assert ef.shape == batch.ef.shape


def test_factor_standardisation_and_scale(windows):
    """Factors have zero mean and unit std over the training period; scale is an RMS in mm."""
    scaler = Scaler.fit(windows)
    n_train = int((windows.period_of(windows.times) == 0).sum())
    ef = windows.ef[0, :n_train]
    np.testing.assert_allclose(scaler.factor_mean, ef.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scaler.factor_std, ef.std(axis=0), rtol=1e-5)
    assert 0.1 < scaler.scale < 50


def test_json_round_trip(tmp_path, windows):
    """save/load returns an equal scaler."""
    scaler = Scaler.fit(windows)
    scaler.save(tmp_path / "scaler.json")
    assert Scaler.load(tmp_path / "scaler.json") == scaler


def test_constant_training_data_is_refused():
    """No increment in the training period: a clear error instead of a zero scale."""
    stack = make_stack()
    stack["displacement"] = stack.displacement * 0
    with pytest.raises(ValueError, match="normalisation scale"):
        Scaler.fit(WindowDataset(stack, window=20, horizon=4))


def test_windows_with_other_factors_are_refused(windows):
    """A scaler normalises the factors it was fitted on, in that order, and no others."""
    scaler = Scaler.fit(windows)
    scaler.check_factors(windows)
    reordered = WindowDataset(make_stack(), window=20, horizon=4,
                              factors=list(reversed(windows.factors)))
    with pytest.raises(ValueError, match="belong to different runs"):
        scaler.check_factors(reordered)
