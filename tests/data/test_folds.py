"""Tests for gler.data.folds: expanding-window folds over seasons and the final-fit sample."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from gler.data.folds import Fold, check_folds, final_fit_sample, season_folds
from gler.data.sample import SampleSpec, SplitDates, default_split_dates, resolve_split_dates

QTR_TIMES = pd.date_range("2017-01-01", "2022-12-31", freq="12D")


def test_two_folds_on_qtrsim_validate_2020_then_2021():
    """The default split gives fold 1 = train to 2019 / validate 2020, fold 2 = the split."""
    split = default_split_dates(QTR_TIMES)
    folds = season_folds(QTR_TIMES, split, 2)
    assert [(f.split.train_end.date().isoformat(), f.split.val_end.date().isoformat())
            for f in folds] == [("2019-12-31", "2020-12-31"), ("2020-12-31", "2021-12-31")]
    assert folds[-1].split == split
    assert [f.number for f in folds] == [1, 2]


def test_no_fold_reaches_the_test_period():
    """Every fold's validation ends at or before the split's val_end; each starts at the
    previous fold's end (expanding windows)."""
    split = default_split_dates(QTR_TIMES)
    folds = season_folds(QTR_TIMES, split, 3, window=12, horizon=3)
    assert all(f.split.val_end <= split.val_end for f in folds)
    assert all(a.split.val_end == b.split.train_end for a, b in itertools.pairwise(folds))


def test_short_data_gives_equal_blocks_of_dates():
    """Under n_folds + 2 years the folds step back by as many dates as the validation period."""
    times = pd.date_range("2020-01-01", periods=120, freq="7D")
    split = default_split_dates(times)
    folds = season_folds(times, split, 3, window=12, horizon=3)
    counts = [int(((times > f.split.train_end) & (times <= f.split.val_end)).sum())
              for f in folds]
    assert len(set(counts)) == 1 and folds[-1].split == split


def test_a_fold_without_enough_dates_names_the_flags():
    """Too many folds for the data: the message gives the counts and --folds, the cut dates and
    --window/--horizon."""
    split = default_split_dates(QTR_TIMES)
    with pytest.raises(ValueError, match=r"fold 1 .*has 31 training.*--folds 3\).*"
                                         r"--train-end/--val-end.*--window/--horizon"):
        season_folds(QTR_TIMES, split, 4)
    with pytest.raises(ValueError, match=r"6 folds of 31 validation dates.*--folds 3"):
        season_folds(QTR_TIMES, split, 6)
    with pytest.raises(ValueError, match=r"at least 1.*--folds"):
        season_folds(QTR_TIMES, split, 0)


def test_another_stack_with_too_few_dates_is_refused():
    """check_folds checks the folds against another stack's dates."""
    folds = season_folds(QTR_TIMES, default_split_dates(QTR_TIMES), 2)
    later = pd.date_range("2019-01-01", "2022-12-31", freq="12D")
    with pytest.raises(ValueError, match=r"fold 1.*training"):
        check_folds(folds, later)


def test_fold_round_trip_and_sample():
    """A fold survives JSON and sets a sample's cut dates."""
    fold = season_folds(QTR_TIMES, default_split_dates(QTR_TIMES))[0]
    assert Fold.from_dict(fold.to_dict()) == fold
    assert fold.sample(SampleSpec(window=12)).train_end.startswith("2019-12-31")


def test_final_fit_sample_has_no_validation_period():
    """The final fit trains on training and validation targets; the test period is the same."""
    sample = final_fit_sample(SampleSpec(), QTR_TIMES)
    split = sample.split_for(QTR_TIMES)
    assert split.train_end == split.val_end == pd.Timestamp("2021-12-31")
    assert resolve_split_dates(QTR_TIMES, sample.train_end, sample.val_end) == SplitDates(
        pd.Timestamp("2021-12-31"), pd.Timestamp("2021-12-31"))
