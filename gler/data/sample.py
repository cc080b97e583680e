"""The sample specification: what a forecaster's samples are, in one frozen record.

A sample is an input window of ``L`` acquisitions and the ``H`` acquisitions after it (see
:mod:`gler.data.windows`); which factors come with it, where the chronological split falls and
how many gaps a window may hold complete it. :class:`SampleSpec` carries these together: the
trainer builds its windows from it, a run directory writes it once (``run.json``, key
``sample``), and forecasting, evaluation and inspection rebuild the same windows from it.
:data:`DEFAULT_WINDOW` and :data:`DEFAULT_HORIZON` are the project's defaults for L and H.

The split follows ``evaluation.md``: a sample belongs to the period that holds **all** its
targets (train: target dates up to ``train_end``; validation: up to ``val_end``; test: after).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gler.config import JsonConfig

#: The input window L (acquisitions): 30 at Sentinel-1's 12-day revisit is about a year.
DEFAULT_WINDOW = 30
#: The forecast horizon H (acquisitions): 6 steps of 12 days, about 72 days.
DEFAULT_HORIZON = 6
#: Minimum observed fraction of an input window for a sample to count.
DEFAULT_MIN_OBSERVED = 0.5

SPLITS = ("train", "val", "test")
#: Fractions of the time span at which the default cuts fall: on QTR-sim (2017-2022) they give
#: targets in 2017-2020 for training, 2021 for validation and 2022 for testing.
DEFAULT_CUT_FRACTIONS = (4 / 6, 5 / 6)


@dataclass(frozen=True)
class SplitDates:
    """The two cut dates of the chronological split (targets ``<= train_end`` train, …)."""

    train_end: pd.Timestamp
    val_end: pd.Timestamp

    def to_dict(self) -> dict[str, str]:
        """ISO dates, for JSON."""
        return {"train_end": self.train_end.isoformat(), "val_end": self.val_end.isoformat()}

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> SplitDates:
        """Inverse of :meth:`to_dict`."""
        return cls(pd.Timestamp(values["train_end"]), pd.Timestamp(values["val_end"]))


def default_split_dates(times: pd.DatetimeIndex | np.ndarray) -> SplitDates:
    """Cut dates at 4/6 and 5/6 of the time span, snapped to the nearest year (or month) end.

    On QTR-sim's 2017-01-01 … 2022-12-31 this gives 2020-12-31 and 2021-12-31, the protocol's
    default. For other data it gives the same proportions (two thirds train, a sixth each for
    validation and test).

    Example
    -------
    >>> t = pd.date_range("2017-01-01", "2022-12-31", freq="12D")
    >>> default_split_dates(t).train_end.date()
    datetime.date(2020, 12, 31)
    """
    times = pd.DatetimeIndex(times)
    start, span = times[0], times[-1] - times[0]
    # Snap to a year end on multi-year series (whole freeze-thaw years per period), else to a
    # month end, so the cuts do not depend on where the last acquisition happens to fall.
    # Where two cuts would snap to the same year end (about four years of data), month ends.
    anchors = ([pd.offsets.YearEnd()] if span >= pd.Timedelta(days=3 * 365) else []) + [
        pd.offsets.MonthEnd()]
    for anchor in anchors:
        cuts = []
        for fraction in DEFAULT_CUT_FRACTIONS:
            cut = (start + span * fraction).normalize()
            before, after = anchor.rollback(cut), anchor.rollforward(cut)
            cuts.append(before if cut - before <= after - cut else after)
        if times[0] < cuts[0] < cuts[1] < times[-1]:
            break
    return SplitDates(cuts[0], cuts[1])


def resolve_split_dates(times: pd.DatetimeIndex | np.ndarray, train_end: str | None = None,
                        val_end: str | None = None) -> SplitDates:
    """Split dates from user strings, defaulting each missing one to :func:`default_split_dates`.

    ``train_end`` equal to ``val_end`` leaves no validation period: the split of a final fit
    on training and validation data (:func:`gler.data.folds.final_fit_sample`).

    Raises
    ------
    ValueError
        If ``train_end`` is after ``val_end`` or either lies outside the data.
    """
    times = pd.DatetimeIndex(times)
    default = default_split_dates(times)
    split = SplitDates(
        pd.Timestamp(train_end) if train_end is not None else default.train_end,
        pd.Timestamp(val_end) if val_end is not None else default.val_end,
    )
    if not times[0] < split.train_end <= split.val_end < times[-1]:
        msg = (f"Split dates must satisfy first date < train_end < val_end < last date "
               f"({times[0].date()} < {split.train_end.date()} < {split.val_end.date()} < "
               f"{times[-1].date()} does not hold; train_end = val_end only for a final fit "
               "without validation). Choose cut dates inside the data.")
        raise ValueError(msg)
    return split


def split_by_count(times: pd.DatetimeIndex | np.ndarray, *, test_fraction: float | None = None,
                   val_fraction: float | None = None, test_dates: int | None = None,
                   val_dates: int | None = None) -> SplitDates:
    """Cut dates that give the test (and validation) period a share or a count of the dates.

    The test period is the last ``test_dates`` acquisitions (or ``test_fraction`` of them,
    rounded, at least one); the validation period the ``val_dates`` (or ``val_fraction``)
    acquisitions before it; each missing size defaults to the other's, and both to a sixth of
    the dates. The cuts fall on acquisition dates: ``train_end`` and ``val_end`` are the last
    date of the training and validation periods.

    As for any split, a sample belongs to the period that holds all its H target dates; a
    window whose targets straddle a cut is dropped, so a period needs at least H dates to
    hold a sample.

    Raises
    ------
    ValueError
        If a fraction is not in (0, 1), a count is below 1, or the periods leave no training
        date.

    Example
    -------
    >>> t = pd.date_range("2020-01-01", periods=100, freq="7D")
    >>> split = split_by_count(t, test_fraction=0.2)
    >>> int((t > split.val_end).sum()), int(((t > split.train_end) & (t <= split.val_end)).sum())
    (20, 20)
    """
    times = pd.DatetimeIndex(times)
    n = len(times)
    sizes = {}
    for key, fraction, count in (("test", test_fraction, test_dates),
                                 ("val", val_fraction, val_dates)):
        if fraction is not None and not 0 < fraction < 1:
            msg = f"The {key} fraction must be in (0, 1), got {fraction}."
            raise ValueError(msg)
        if count is not None and count < 1:
            msg = f"The number of {key} dates must be at least 1, got {count}."
            raise ValueError(msg)
        sizes[key] = count if count is not None else (
            max(1, round(fraction * n)) if fraction is not None else None)
    default = max(1, round(n / 6))
    n_test = sizes["test"] or sizes["val"] or default
    n_val = sizes["val"] or n_test
    if n_test + n_val >= n - 1:
        msg = (f"A test period of {n_test} and a validation period of {n_val} dates leave "
               f"{n - n_test - n_val} of the {n} dates for training. Choose smaller periods.")
        raise ValueError(msg)
    return SplitDates(times[n - n_test - n_val - 1], times[n - n_test - 1])


@dataclass(frozen=True)
class SampleSpec(JsonConfig):
    """What a sample is: window, horizon, factors, split and the gap tolerance.

    Parameters
    ----------
    window, horizon
        Input window L and horizon H in acquisitions.
    factors
        Factor names, in order; None: all factors of the data; ``()``: none of them.
    train_end, val_end
        Cut dates of the split (ISO strings); None: :func:`default_split_dates` of the data.
    min_observed
        Minimum observed fraction of an input window for a sample to count.
    calendar
        Calendar features (day-of-year sine and cosine, :mod:`gler.data.calendar`) for the
        neural models: None adds them when the model gets no other factor, True always, False
        never.

    A spec read from a run directory is *resolved*: its factors are the ones the model was
    trained with and both cut dates are set.

    Raises
    ------
    ValueError
        On an out-of-range value, naming the field.

    Example
    -------
    >>> SampleSpec(window=24).horizon == DEFAULT_HORIZON
    True
    """

    window: int = DEFAULT_WINDOW
    horizon: int = DEFAULT_HORIZON
    factors: tuple[str, ...] | None = None
    train_end: str | None = None
    val_end: str | None = None
    min_observed: float = DEFAULT_MIN_OBSERVED
    calendar: bool | None = None

    def __post_init__(self) -> None:
        bad = [f"{n}={getattr(self, n)!r} (at least {low})"
               for n, low in (("window", 2), ("horizon", 1)) if getattr(self, n) < low]
        if not 0 < self.min_observed <= 1:
            bad.append(f"min_observed={self.min_observed!r} (in (0, 1])")
        if bad:
            msg = f"Invalid SampleSpec: {'; '.join(bad)}."
            raise ValueError(msg)
        if self.factors is not None and not isinstance(self.factors, tuple):
            object.__setattr__(self, "factors", tuple(self.factors))

    @property
    def split(self) -> SplitDates:
        """The cut dates of a resolved spec.

        Raises
        ------
        ValueError
            If a cut date is not set.
        """
        if self.train_end is None or self.val_end is None:
            msg = ("This sample specification has no cut dates yet; use split_for(times) to "
                   "take the data's default ones.")
            raise ValueError(msg)
        return SplitDates(pd.Timestamp(self.train_end), pd.Timestamp(self.val_end))

    def split_for(self, times: pd.DatetimeIndex | np.ndarray) -> SplitDates:
        """The cut dates on ``times`` (:func:`resolve_split_dates`)."""
        return resolve_split_dates(times, self.train_end, self.val_end)

    def resolved(self, factors: Sequence[str], split: SplitDates) -> SampleSpec:
        """This spec with the factors and the cut dates a model was actually trained with."""
        return dataclasses.replace(self, factors=tuple(factors),
                                   train_end=split.train_end.isoformat(),
                                   val_end=split.val_end.isoformat())
