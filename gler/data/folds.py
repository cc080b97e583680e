"""Folds over seasons: expanding-window validation before the test period, and the final fit.

One validation season makes early stopping and every choice of settings rest on one year of
weather. :func:`season_folds` gives several expanding-window folds instead, each validating on
a whole period that precedes the test period; the last fold is the given split itself. On
QTR-sim (2017-2022, training targets to 2020, validation 2021, test 2022) two folds are:

======  ======================  ==================
fold    training targets up to  validation targets
======  ======================  ==================
1       2019-12-31              2020
2       2020-12-31              2021 (the split)
======  ======================  ==================

Where the split validates on one year and the data span at least ``n_folds + 2`` years (a
test year, ``n_folds`` validation years and one to train on), the folds step back by calendar
years, so that each validates a whole freeze-thaw season. Otherwise (shorter data, or a
validation period that is not a year) they step back by blocks of acquisition dates as long
as the split's validation period. No fold reaches past the split's ``val_end``: the test
period is never touched.

After the folds have chosen the settings and the epoch count, :func:`final_fit_sample` gives
the sample of the final fit: training on the training and validation periods together, with
no validation period (train with ``TrainConfig(early_stopping=False)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW, SampleSpec, SplitDates


@dataclass(frozen=True)
class Fold:
    """One expanding-window fold: training targets up to ``split.train_end``, validation
    targets up to ``split.val_end``.

    Attributes
    ----------
    number
        1 for the earliest fold; the last fold is the split the folds were made from.
    split
        The fold's cut dates.
    """

    number: int
    split: SplitDates

    def sample(self, spec: SampleSpec) -> SampleSpec:
        """``spec`` with this fold's cut dates."""
        return dataclasses.replace(spec, train_end=self.split.train_end.isoformat(),
                                   val_end=self.split.val_end.isoformat())

    def describe(self) -> str:
        """``fold 1 (training targets to 2019-12-31, validation to 2020-12-31)``."""
        return (f"fold {self.number} (training targets to {self.split.train_end.date()}, "
                f"validation to {self.split.val_end.date()})")

    def to_dict(self) -> dict:
        """Plain JSON types."""
        return {"fold": self.number, **self.split.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> Fold:
        """Inverse of :meth:`to_dict`."""
        return cls(int(values["fold"]), SplitDates.from_dict(values))


def season_folds(times: pd.DatetimeIndex | np.ndarray, split: SplitDates, n_folds: int = 2, *,
                 window: int = DEFAULT_WINDOW, horizon: int = DEFAULT_HORIZON,
                 ) -> tuple[Fold, ...]:
    """``n_folds`` expanding-window folds before the test period; the last one is ``split``.

    Parameters
    ----------
    times
        The acquisition dates.
    split
        The split whose test period the folds leave alone (e.g. the data's default split).
    n_folds
        Number of folds (1: the split alone).
    window, horizon
        L and H: every fold must hold a training sample and a validation sample.

    Returns
    -------
    tuple of Fold
        Earliest first.

    Raises
    ------
    ValueError
        If ``n_folds`` is below 1, or a fold has too few dates for a window and a horizon
        (the message names ``--folds``, ``--train-end/--val-end`` and ``--window/--horizon``).

    Example
    -------
    >>> t = pd.date_range("2017-01-01", "2022-12-31", freq="12D")
    >>> split = SplitDates(pd.Timestamp("2020-12-31"), pd.Timestamp("2021-12-31"))
    >>> [fold.describe() for fold in season_folds(t, split)]  # doctest: +NORMALIZE_WHITESPACE
    ['fold 1 (training targets to 2019-12-31, validation to 2020-12-31)',
     'fold 2 (training targets to 2020-12-31, validation to 2021-12-31)']
    """
    times = pd.DatetimeIndex(times)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        msg = f"The number of folds must be an integer of at least 1, got {n_folds!r} (--folds)."
        raise ValueError(msg)
    if _by_years(times, split, n_folds):
        cuts = [(split.train_end - pd.DateOffset(years=back),
                 split.val_end - pd.DateOffset(years=back))
                for back in range(n_folds - 1, -1, -1)]
    else:
        cuts = _by_blocks(times, split, n_folds, window, horizon)
    folds = tuple(Fold(number, SplitDates(pd.Timestamp(train_end), pd.Timestamp(val_end)))
                  for number, (train_end, val_end) in enumerate(cuts, start=1))
    check_folds(folds, times, window=window, horizon=horizon)
    return folds


def _by_years(times: pd.DatetimeIndex, split: SplitDates, n_folds: int) -> bool:
    """Whether the split validates one year and the data span ``n_folds + 2`` years (within an
    acquisition interval)."""
    one_year = split.train_end + pd.DateOffset(years=1) == split.val_end
    slack = pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else pd.Timedelta(0)
    return one_year and times[0] + pd.DateOffset(years=n_folds + 2) <= times[-1] + slack


def _by_blocks(times: pd.DatetimeIndex, split: SplitDates, n_folds: int, window: int,
               horizon: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Cut dates stepping back by as many acquisitions as the split's validation period."""
    last = int(np.searchsorted(times, split.val_end, side="right")) - 1
    block = last - (int(np.searchsorted(times, split.train_end, side="right")) - 1)
    if block < 1 or last - n_folds * block < 0:
        msg = (f"{n_folds} folds of {block} validation dates do not fit in the "
               f"{last + 1} dates up to {split.val_end.date()}. "
               f"{_remedy(window, horizon, (last + 1 - window - horizon) // max(block, 1))}")
        raise ValueError(msg)
    cuts = [(times[last - (back + 1) * block], times[last - back * block])
            for back in range(n_folds - 1, 0, -1)]
    return [*cuts, (split.train_end, split.val_end)]


def check_folds(folds: tuple[Fold, ...], times: pd.DatetimeIndex | np.ndarray, *,
                window: int = DEFAULT_WINDOW, horizon: int = DEFAULT_HORIZON) -> None:
    """Refuse a fold with fewer than ``window + horizon`` training dates or fewer than
    ``horizon`` validation dates in ``times`` (e.g. another stack's dates).

    Raises
    ------
    ValueError
        Naming the fold, its counts, and the flags that fix it.
    """
    times = pd.DatetimeIndex(times)
    for fold in folds:
        n_train = int((times <= fold.split.train_end).sum())
        n_val = int(((times > fold.split.train_end) & (times <= fold.split.val_end)).sum())
        if n_train < window + horizon or n_val < horizon:
            msg = (f"{fold.describe()} has {n_train} training and {n_val} validation dates, "
                   f"but a sample needs {window + horizon} dates (a window of {window} and a "
                   f"horizon of {horizon}) up to the training cut and {horizon} targets in the "
                   f"validation period. {_remedy(window, horizon, len(folds) - 1)}")
            raise ValueError(msg)


def _remedy(window: int, horizon: int, fewer: int) -> str:
    folds = f"fewer folds (--folds {fewer})" if fewer >= 1 else "one fold (--folds 1)"
    return (f"Use {folds}, later cut dates (--train-end/--val-end), or a shorter window or "
            f"horizon (--window/--horizon, now {window}/{horizon}).")


def final_fit_sample(spec: SampleSpec, times: pd.DatetimeIndex | np.ndarray) -> SampleSpec:
    """``spec`` for a final fit: training targets up to its ``val_end`` on ``times`` (the
    training and validation periods together), no validation period, the same test period.

    Train on it with ``TrainConfig(early_stopping=False, epochs=<the folds' count>)``.

    Example
    -------
    >>> t = pd.date_range("2017-01-01", "2022-12-31", freq="12D")
    >>> final_fit_sample(SampleSpec(), t).train_end
    '2021-12-31T00:00:00'
    """
    split = spec.split_for(times)
    cut = split.val_end.isoformat()
    return dataclasses.replace(spec, train_end=cut, val_end=cut)
