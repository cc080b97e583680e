"""Tests for gler.data.sample: the sample specification, its defaults and the split dates."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gler.data.sample import (
    DEFAULT_HORIZON,
    DEFAULT_WINDOW,
    SampleSpec,
    SplitDates,
    default_split_dates,
    resolve_split_dates,
    split_by_count,
)
from gler.data.windows import WindowDataset


def test_sample_spec_json_round_trip_and_defaults():
    """to_dict/from_dict give back the same frozen spec; factors become a tuple; unknown keys
    and out-of-range values are refused by name."""
    spec = SampleSpec(window=12, factors=["air_temperature"], train_end="2020-12-31")
    assert spec.factors == ("air_temperature",) and spec.horizon == DEFAULT_HORIZON
    assert SampleSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert SampleSpec().window == DEFAULT_WINDOW
    with pytest.raises(ValueError, match="Unknown SampleSpec field"):
        SampleSpec.from_dict({"window": 3, "widow": 3})
    with pytest.raises(ValueError, match=r"window=1 \(at least 2\).*min_observed=0"):
        SampleSpec(window=1, min_observed=0)


def test_resolved_spec_carries_the_factors_and_cut_dates(stack):
    """An unresolved spec has no split of its own; resolving it fixes factors and dates, and
    the windows built from it use them."""
    spec = SampleSpec(window=12, horizon=3)
    with pytest.raises(ValueError, match="no cut dates yet"):
        spec.split  # noqa: B018 (the property raises)
    split = spec.split_for(stack["time"].values)
    resolved = spec.resolved(["air_temperature"], split)
    assert resolved.split == split and resolved.factors == ("air_temperature",)
    windows = WindowDataset.from_spec(stack, resolved)
    assert (windows.window, windows.horizon, windows.factors) == (12, 3, ["air_temperature"])
    assert windows.split == split


def test_default_split_dates_are_the_protocol_years():
    """On 2017-2022 the defaults cut at the end of 2020 and 2021."""
    split = default_split_dates(pd.date_range("2017-01-01", "2022-12-31", freq="12D"))
    assert split.train_end == pd.Timestamp("2020-12-31")
    assert split.val_end == pd.Timestamp("2021-12-31")
    assert SplitDates.from_dict(split.to_dict()) == split


def test_resolve_split_dates_rejects_inverted_cuts(stack):
    """train_end after val_end is refused with both dates in the message."""
    with pytest.raises(ValueError, match="train_end < val_end"):
        resolve_split_dates(stack.time.values, "2021-06-01", "2021-01-01")


def test_default_split_of_four_years_falls_back_to_month_ends():
    """About four years of data: both cuts would snap to one year end; month ends are used."""
    t = pd.date_range("2018-01-06", "2021-12-20", freq="12D")
    split = default_split_dates(t)
    assert t[0] < split.train_end < split.val_end < t[-1]
    assert split.train_end.is_month_end and split.val_end.is_month_end


def test_split_by_count_and_fraction():
    """The last N dates (or a share of them) test; as many before them validate."""
    t = pd.date_range("2020-01-01", periods=60, freq="7D")
    split = split_by_count(t, test_dates=10)
    assert (t > split.val_end).sum() == 10 and ((t > split.train_end) & (t <= split.val_end)
                                                ).sum() == 10
    split = split_by_count(t, test_fraction=0.1, val_fraction=0.2)
    assert (t > split.val_end).sum() == 6 and (t > split.train_end).sum() == 18
    with pytest.raises(ValueError, match="fraction must be in"):
        split_by_count(t, test_fraction=1.5)
    with pytest.raises(ValueError, match="leave"):
        split_by_count(t, test_dates=30, val_dates=30)

