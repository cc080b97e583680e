"""Tests for gler.data.windows: lazy samples, the chronological split, masks and factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _pipeline_stack import make_stack

from gler.data.sample import default_split_dates
from gler.data.windows import TorchWindowDataset, WindowDataset, calendar_step, extend_times


def test_split_targets_never_straddle_or_leak(stack):
    """Every target of a split lies in that split; test targets are never training targets."""
    windows = WindowDataset(stack, window=30, horizon=6)
    label = windows.period_of(windows.times)
    seen = {}
    for code, split in enumerate(("train", "val", "test")):
        issues = windows.issues(split)
        targets = issues[:, None] + np.arange(1, 7)
        assert (label[targets] == code).all()
        seen[split] = set(targets.ravel())
        # Training inputs (and targets) all precede the test period.
        if split == "train":
            assert windows.times[targets.max()] <= windows.split.train_end
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]


def test_batch_matches_direct_slicing(stack):
    """A gathered batch equals slicing the stack by hand (values, mask, anchor, factors)."""
    windows = WindowDataset(stack, window=10, horizon=3)
    index = windows.indices("val")
    batch = windows.batch(index, np.array([0, len(index) - 1]))
    flat = stack.displacement.values.reshape(len(windows.times), -1)
    for k in range(2):
        p, i = batch.pixel[k], batch.issue[k]
        np.testing.assert_array_equal(batch.sd[k], flat[i - 9:i + 1, p])
        np.testing.assert_array_equal(batch.target[k], flat[i + 1:i + 4, p])
        np.testing.assert_array_equal(batch.mask[k], np.isfinite(flat[i - 9:i + 1, p]))
        observed = flat[:i + 1, p][np.isfinite(flat[:i + 1, p])]
        assert batch.anchor[k] == observed[-1]
        np.testing.assert_array_equal(batch.ef[k, :, 0], stack.air_temperature.values[i - 9:i + 1])
    assert batch.ef.shape == (2, 10, len(windows.factors))


def test_lake_pixel_and_sparse_windows_are_skipped(stack):
    """The never-observed pixel is not a valid pixel and gets no sample."""
    windows = WindowDataset(stack, window=30, horizon=6)
    assert 0 not in windows.valid_pixels
    batch = windows.batch(windows.indices("train"))
    assert 0 not in batch.pixel
    assert (batch.mask.sum(axis=1) >= 15).all()
    assert np.isfinite(batch.anchor).all()


def test_pixel_table_is_built_on_first_use(stack):
    """The windows hold the stack's own date-major array until the pixel-major table is first
    used; then one copy remains (time_major a view of it), the same values either way, also
    from a float64 stack."""
    windows = WindowDataset(stack, window=10, horizon=3)
    flat = stack.displacement.values.reshape(len(windows.times), -1)
    assert windows._values is None and np.shares_memory(windows.time_major, flat)
    assert windows.n_pixels == flat.shape[1] and 0 not in windows.valid_pixels
    assert windows._values is None  # valid_pixels read the date-major array
    np.testing.assert_array_equal(windows.values, flat.T)
    assert windows.values.flags.c_contiguous and windows._time_major is None
    assert np.shares_memory(windows.time_major, windows.values)
    np.testing.assert_array_equal(windows.time_major, flat)
    wide = stack.assign(displacement=stack.displacement.astype(np.float64))
    other = WindowDataset(wide, window=10, horizon=3)
    assert other.time_major.dtype == np.float32
    np.testing.assert_array_equal(other.values, windows.values)
    np.testing.assert_array_equal(other.valid_pixels, windows.valid_pixels)


def test_pixel_fraction_is_seeded(stack):
    """The same seed samples the same pixels; fractions outside (0, 1] are refused."""
    windows = WindowDataset(stack)
    a, b = windows.pixels(0.5, seed=3), windows.pixels(0.5, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(a) == round(0.5 * len(windows.valid_pixels))
    with pytest.raises(ValueError, match=r"pixel fraction must be in \(0, 1\]"):
        windows.pixels(1.5)


def test_too_few_dates_is_refused():
    """A series shorter than L + H says how many dates are needed."""
    short = make_stack(end="2017-12-31")
    with pytest.raises(ValueError, match="needs at least 36"):
        WindowDataset(short, window=30, horizon=6)


def test_horizon_past_the_data_is_refused(stack):
    """A horizon longer than the test period says the horizon reaches past the data."""
    windows = WindowDataset(stack, window=10, horizon=40)
    with pytest.raises(ValueError, match="horizon reaches past the data"):
        windows.issues("test")


def test_missing_factor_is_refused(stack):
    """Requesting a factor the data lacks names the factors present."""
    with pytest.raises(ValueError, match="snow_depth"):
        WindowDataset(stack, factors=["snow_depth"])


def test_factor_gaps_are_interpolated_with_a_warning(stack, caplog):
    """NaN factor values are filled in time and counted in a warning."""
    holed = stack.copy(deep=True)
    holed["air_temperature"][5] = np.nan
    windows = WindowDataset(holed)
    assert np.isfinite(windows.ef).all()
    assert "1 missing values" in caplog.text


def test_factor_gaps_are_never_filled_from_a_later_period(stack):
    """A gap at the end of the training period is filled from training values only: changing
    every factor value after train_end leaves the training period's factors unchanged."""
    times = stack.indexes["time"]
    split = default_split_dates(times)
    last_train = int(np.flatnonzero(times <= split.train_end)[-1])
    holed = stack.copy(deep=True)
    holed["air_temperature"][last_train - 1:last_train + 1] = np.nan
    later = holed.copy(deep=True)
    later["air_temperature"][last_train + 1:] += 100.0
    train = slice(0, last_train + 1)
    first, second = (WindowDataset(ds, factors=["air_temperature"]).ef[:, train]
                     for ds in (holed, later))
    np.testing.assert_array_equal(first, second)
    assert np.isfinite(first).all()
    no_training_value = stack.copy(deep=True)
    no_training_value["air_temperature"][: last_train + 1] = np.nan
    with pytest.raises(ValueError, match=r"no value in the training period.*--factors"):
        WindowDataset(no_training_value, factors=["air_temperature"])


def test_points_layout_and_torch_view():
    """A (time, point) stack windows the same way; the torch view returns one sample."""
    windows = WindowDataset(make_stack(points=True), window=12, horizon=2)
    assert windows.spatial_dims == ("point",)
    view = TorchWindowDataset(windows, windows.indices("test"))
    item = view[0]
    assert item["sd"].shape == (12,) and item["target"].shape == (2,)
    assert len(view) == len(windows.indices("test"))


def test_extend_times_uses_median_interval():
    """Dates past the data continue at the median 12-day step."""
    t = pd.date_range("2020-01-01", periods=5, freq="12D")
    assert extend_times(t, 7)[-1] == pd.Timestamp("2020-01-01") + pd.Timedelta(days=72)


def test_month_regular_dates_continue_on_their_calendar():
    """Monthly dates continue on the 1st (or the month end); others at the median step."""
    monthly = pd.date_range("2020-01-01", periods=5, freq="MS")
    assert list(extend_times(monthly, 7)[-2:]) == [pd.Timestamp("2020-06-01"),
                                                    pd.Timestamp("2020-07-01")]
    ends = pd.date_range("2020-01-31", periods=3, freq="ME")
    assert extend_times(ends, 4)[-1] == pd.Timestamp("2020-04-30")
    assert calendar_step(pd.date_range("2020-01-01", periods=5, freq="12D")) is None
