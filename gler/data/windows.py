"""Lazy (input window, horizon) samples over a stack, with the chronological split.

A *sample* is a pair (pixel ``p``, issue index ``i``): the inputs are the ``L`` acquisitions
``i-L+1 … i`` of pixel ``p`` (displacement, gap mask and factors) and the targets are the ``H``
acquisitions ``i+1 … i+H``. Samples are never materialised: a split is a flat integer index over
the (pixel, issue) grid, and a batch is gathered with one numpy fancy-indexing call.

The split follows ``evaluation.md``: a sample belongs to the period that holds **all** its
targets (train: target dates up to ``train_end``; validation: up to ``val_end``; test: after);
samples whose targets straddle two periods are dropped, so no test target is ever a training
target, and training inputs precede every validation and test target.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.calendar import CALENDAR_FACTORS, calendar_features
from gler.data.model import DISPLACEMENT, factor_names, spatial_dims, validate_stack
from gler.data.sample import (
    DEFAULT_HORIZON,
    DEFAULT_MIN_OBSERVED,
    DEFAULT_WINDOW,
    SPLITS,
    SampleSpec,
    SplitDates,
    default_split_dates,
)

logger = logging.getLogger(__name__)

@dataclass
class Batch:
    """A batch of samples in the stack's units (mm for displacement), as numpy arrays.

    Shapes: ``sd [B, L]`` (NaN = gap), ``mask [B, L]``, ``ef [B, L, E]``, ``target [B, H]``
    (NaN = no observation), ``anchor [B]`` (last observed input value), ``pixel [B]``,
    ``issue [B]`` (index of the last input acquisition).
    """

    sd: np.ndarray
    mask: np.ndarray
    ef: np.ndarray
    target: np.ndarray
    anchor: np.ndarray
    pixel: np.ndarray
    issue: np.ndarray


class WindowDataset:
    """Windowed view of a stack: (pixel, issue) samples drawn lazily, split by target date.

    Parameters
    ----------
    stack
        A stack in the data model (``displacement`` (time, y, x) or (time, point), factors).
    window
        Input window ``L`` in acquisitions.
    horizon
        Forecast horizon ``H`` in acquisitions.
    factors
        Names of the per-acquisition factors to use, in order (default: all of
        :func:`gler.data.model.factor_names`). ``[]`` uses none. The calendar features
        (:data:`gler.data.calendar.CALENDAR_FACTORS`) are computed from the dates when the
        stack does not hold them.
    split
        The cut dates (default :func:`default_split_dates`).
    min_observed
        Minimum fraction of observed values in the input window for a sample to count.

    Raises
    ------
    ValueError
        If the stack has fewer than ``L + H`` dates, a requested factor is missing, or a
        factor is entirely NaN.

    Example
    -------
    >>> ds = WindowDataset(stack, window=30, horizon=6)  # doctest: +SKIP
    >>> batch = ds.batch(ds.indices("train")[:256])  # doctest: +SKIP
    """

    def __init__(self, stack: xr.Dataset, *, window: int = DEFAULT_WINDOW,
                 horizon: int = DEFAULT_HORIZON,
                 factors: list[str] | None = None, split: SplitDates | None = None,
                 min_observed: float = DEFAULT_MIN_OBSERVED) -> None:
        validate_stack(stack)
        if window < 2 or horizon < 1:
            msg = f"window must be >= 2 and horizon >= 1, got window={window}, horizon={horizon}."
            raise ValueError(msg)
        self.times = pd.DatetimeIndex(stack["time"].values)
        n_time = len(self.times)
        if n_time < window + horizon:
            msg = (f"The stack has {n_time} acquisition dates but a window of {window} plus a "
                   f"horizon of {horizon} needs at least {window + horizon}. Use a longer "
                   "series or a smaller --window/--horizon.")
            raise ValueError(msg)
        self.window, self.horizon = window, horizon
        self.spatial_dims = spatial_dims(stack)
        self.spatial_shape = tuple(stack.sizes[d] for d in self.spatial_dims)
        # The stack's displacement as it is laid out ([T, P], a view where the stack is
        # float32); the pixel-major table (values) is built from it on first use.
        disp = stack[DISPLACEMENT].transpose("time", *self.spatial_dims).values
        self._time_major: np.ndarray | None = np.asarray(disp.reshape(n_time, -1),
                                                         dtype=np.float32)
        self._values: np.ndarray | None = None
        self.n_pixels = self._time_major.shape[1]
        self.factors = factor_names(stack) if factors is None else list(factors)
        self.split = split or default_split_dates(self.times)  # before the factors' gaps
        self.ef = self._factor_array(stack)
        self.min_observed = min_observed

    @classmethod
    def from_spec(cls, stack: xr.Dataset, spec: SampleSpec) -> WindowDataset:
        """The windows that ``spec`` describes on ``stack`` (its cut dates, or the data's
        default ones where it has none)."""
        factors = None if spec.factors is None else list(spec.factors)
        return cls(stack, window=spec.window, horizon=spec.horizon, factors=factors,
                   split=spec.split_for(stack["time"].values), min_observed=spec.min_observed)

    # -- construction helpers -----------------------------------------------------------------

    def _factor_array(self, stack: xr.Dataset) -> np.ndarray:
        """Factors as ``[1 or P, T, E]`` float32 (scene-wide factors keep one row)."""
        missing = [f for f in self.factors if f not in stack and f not in CALENDAR_FACTORS]
        if missing:
            msg = (f"Factors {missing} are not in the data (factors present: "
                   f"{factor_names(stack) or 'none'}). Pass them with --factors or choose a "
                   "model that does not use them.")
            raise ValueError(msg)
        n_time = len(self.times)
        if not self.factors:
            return np.zeros((1, n_time, 0), dtype=np.float32)
        per_pixel = any(stack[f].dims != ("time",) for f in self.factors if f in stack)
        calendar = calendar_features(self.times)
        columns = []
        for name in self.factors:
            if name not in stack:  # a calendar feature, computed from the dates
                values = calendar[:, CALENDAR_FACTORS.index(name)][None, :]
                if per_pixel:
                    values = np.repeat(values, self.n_pixels, axis=0)
                columns.append(values)
                continue
            var = stack[name]
            if per_pixel:
                var = var.broadcast_like(stack[DISPLACEMENT]).transpose("time", *self.spatial_dims)
            values = var.values.reshape(n_time, -1).T.astype(np.float32)  # [1 or P, T]
            columns.append(self._fill_factor_gaps(name, values, self.period_of(self.times)))
        return np.ascontiguousarray(np.stack(columns, axis=-1))

    @staticmethod
    def _fill_factor_gaps(name: str, values: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Interpolate NaN factor values in time within each period of the split (the models
        need complete factors), so that no gap is filled from a later period's values; a period
        without any value carries the last value of the periods before it."""
        bad = ~np.isfinite(values)
        if not bad.any():
            return values
        frame = pd.DataFrame(values.T)
        filled = pd.concat([frame[period == k].interpolate(limit_direction="both")
                            for k in np.unique(period)]).sort_index().ffill()
        if filled.isna().to_numpy().any():
            msg = (f"Factor {name!r} has no value in the training period for some pixels; "
                   "fill it or leave it out of the factors (--factors).")
            raise ValueError(msg)
        logger.warning("Factor %r has %d missing values; interpolating them linearly in time "
                       "within each period of the split", name, int(bad.sum()))
        return filled.to_numpy(dtype=np.float32).T

    @property
    def values(self) -> np.ndarray:
        """``[P, T]`` float32 displacement (mm, NaN gaps), pixel-major: every window is a view
        of one row. Built on first use (a transposing copy of the whole stack: 0.3 s for
        1,000,000 pixels x 180 dates on a 2-core VM), then :attr:`time_major` is a view of it."""
        if self._values is None:
            self._values = np.ascontiguousarray(self._time_major.T)
            self._time_major = None  # one copy of the displacement is enough
        return self._values

    @property
    def time_major(self) -> np.ndarray:
        """``[T, P]`` float32 displacement, date-major: the stack's own array where it is
        float32 and time-major (nothing copied), else a view of :attr:`values`. A slice of
        dates is one contiguous block, what :func:`gler.forecast.predict` sends to its device."""
        return self.values.T if self._time_major is None else self._time_major

    @functools.cached_property
    def valid_pixels(self) -> np.ndarray:
        """Pixels with at least one observation (sorted), computed on first use."""
        valid = np.flatnonzero(np.isfinite(self.time_major).any(axis=0))
        n_empty = self.n_pixels - len(valid)
        if n_empty:
            logger.info("%d of %d pixels have no observation at all (e.g. water) and are "
                        "skipped", n_empty, self.n_pixels)
        return valid

    @functools.cached_property
    def _last_observed(self) -> np.ndarray:
        """``[P, T]`` int32: index of the last finite value at or before each date (-1: none).

        Computed on first use (by :meth:`batch`): :func:`gler.forecast.predict` finds its
        anchors on the device and does not need it (a second of a 1-million-pixel scene)."""
        n_time = self.values.shape[1]
        idx = np.where(np.isfinite(self.values), np.arange(n_time, dtype=np.int32), -1)
        return np.maximum.accumulate(idx, axis=1).astype(np.int32)

    # -- the split ------------------------------------------------------------------------------

    def period_of(self, times: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """Split label of each date: 0 train, 1 validation, 2 test."""
        t = pd.DatetimeIndex(times)
        return (t > self.split.train_end).astype(int) + (t > self.split.val_end).astype(int)

    def issues(self, split: str | None = None) -> np.ndarray:
        """Issue indices whose ``H`` targets all exist (and, with ``split``, lie in that period).

        Raises
        ------
        ValueError
            If ``split`` is unknown, or the horizon reaches past the data of that period.
        """
        first, last = self.window - 1, len(self.times) - 1 - self.horizon
        candidates = np.arange(first, last + 1)
        if split is None:
            return candidates
        if split not in SPLITS:
            msg = f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}."
            raise ValueError(msg)
        label = self.period_of(self.times)
        code = SPLITS.index(split)
        keep = (label[candidates + 1] == code) & (label[candidates + self.horizon] == code)
        selected = candidates[keep]
        if not len(selected):
            n_period = int((label == code).sum())
            msg = (f"No {split} sample: the {split} period ({self._period_text(code)}) holds "
                   f"{n_period} acquisitions, but a sample needs a window of {self.window} "
                   f"before it and a horizon of {self.horizon} acquisitions inside it. The "
                   "horizon reaches past the data: use a smaller --horizon/--window or move "
                   "the split dates (--train-end/--val-end).")
            raise ValueError(msg)
        return selected

    def _period_text(self, code: int) -> str:
        bounds = [self.times[0], self.split.train_end, self.split.val_end, self.times[-1]]
        start = bounds[code].date() if code == 0 else f"after {bounds[code].date()}"
        return f"{start} to {bounds[code + 1].date()}"

    def pixels(self, fraction: float = 1.0, seed: int | Sequence[int] = 0) -> np.ndarray:
        """Valid pixel indices, or a seeded random ``fraction`` of them (sorted).

        ``seed`` is anything :func:`numpy.random.default_rng` takes (an int or ints).

        Raises
        ------
        ValueError
            If ``fraction`` is not in (0, 1].
        """
        if not 0.0 < fraction <= 1.0:
            msg = f"The pixel fraction must be in (0, 1], got {fraction}."
            raise ValueError(msg)
        if fraction == 1.0:
            return self.valid_pixels
        n = max(1, round(fraction * len(self.valid_pixels)))
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(self.valid_pixels, size=n, replace=False))

    def indices(self, split: str | None = None, pixels: np.ndarray | None = None,
                issues: np.ndarray | None = None) -> SampleIndex:
        """The usable samples of a split as a lazy (pixel × issue) index.

        A sample is usable when its input window has at least ``min_observed`` observed values
        and an observed value to anchor on. Targets may have gaps (masked in the loss/metrics).
        """
        pixels = self.valid_pixels if pixels is None else np.asarray(pixels)
        issues = self.issues(split) if issues is None else np.asarray(issues)
        # [P', I] observed-count of each window from a cumulative sum: no window is built.
        observed = np.isfinite(self.values[pixels]).astype(np.int32)
        csum = np.concatenate([np.zeros((len(pixels), 1), np.int32),
                               np.cumsum(observed, axis=1, dtype=np.int32)], axis=1)
        counts = csum[:, issues + 1] - csum[:, issues + 1 - self.window]
        usable = counts >= max(1, int(np.ceil(self.min_observed * self.window)))
        return SampleIndex(pixels=pixels, issues=issues, flat=np.flatnonzero(usable.ravel()))

    # -- batches ---------------------------------------------------------------------------------

    def batch(self, index: SampleIndex, positions: np.ndarray | slice | None = None) -> Batch:
        """Gather the samples ``index[positions]`` with vectorised fancy indexing."""
        flat = index.flat if positions is None else index.flat[positions]
        pixel = index.pixels[flat // len(index.issues)]
        issue = index.issues[flat % len(index.issues)]
        steps_in = issue[:, None] + np.arange(1 - self.window, 1)
        steps_out = issue[:, None] + np.arange(1, self.horizon + 1)
        sd = self.values[pixel[:, None], steps_in]
        last = self._last_observed[pixel, issue]
        anchor = self.values[pixel, last]
        target_steps = np.minimum(steps_out, len(self.times) - 1)
        target = np.where(steps_out < len(self.times), self.values[pixel[:, None], target_steps],
                          np.nan).astype(np.float32)
        ef_pixel = pixel[:, None] if self.ef.shape[0] > 1 else np.zeros((len(pixel), 1), int)
        ef = self.ef[ef_pixel, steps_in]
        return Batch(sd=sd, mask=np.isfinite(sd), ef=ef, target=target, anchor=anchor,
                     pixel=pixel, issue=issue)

    def window_times(self, issue: int) -> pd.DatetimeIndex:
        """Dates of the ``L`` inputs and ``H`` targets of issue index ``issue`` (future dates
        past the data are extrapolated with the median acquisition interval)."""
        steps = np.arange(issue - self.window + 1, issue + self.horizon + 1)
        return extend_times(self.times, int(steps[-1]) + 1)[steps]


@dataclass(frozen=True)
class SampleIndex:
    """Usable samples as flat positions in a (pixels × issues) grid; nothing materialised."""

    pixels: np.ndarray
    issues: np.ndarray
    flat: np.ndarray

    def __len__(self) -> int:
        return len(self.flat)

    def subset(self, positions: np.ndarray) -> SampleIndex:
        """The samples at ``positions`` (sorted), e.g. a seeded validation subset."""
        return SampleIndex(self.pixels, self.issues, self.flat[np.asarray(positions)])


def calendar_step(times: pd.DatetimeIndex) -> pd.DateOffset | None:
    """The calendar step of month-regular dates (the same day of each month, or each month's
    last day; every k months), else None.

    Example
    -------
    >>> calendar_step(pd.date_range("2020-01-01", periods=4, freq="MS"))
    <DateOffset: months=1>
    """
    times = pd.DatetimeIndex(times)
    if len(times) < 3:
        return None
    months = np.diff(times.year.to_numpy() * 12 + times.month.to_numpy())
    if (months < 1).any() or (times - times.normalize()).nunique() != 1:
        return None
    step = int(np.median(months))
    if times.is_month_end.all():
        return pd.offsets.MonthEnd(step)
    if times.day.nunique() == 1 and times[0].day <= 28:
        return pd.DateOffset(months=step)
    return None


def extend_times(times: pd.DatetimeIndex, n: int) -> pd.DatetimeIndex:
    """``times`` extended to ``n`` dates: on their calendar when they are month-regular (the
    1st, or the last day, of every k months: :func:`calendar_step`), else with the median
    acquisition interval."""
    times = pd.DatetimeIndex(times)
    if n <= len(times):
        return times
    count = n - len(times)
    offset = calendar_step(times)
    if offset is not None:
        extra = pd.DatetimeIndex([times[-1] + offset * k for k in range(1, count + 1)])
        return times.append(extra.as_unit(times.unit))
    step = pd.Timedelta(np.median(np.diff(times.values).astype("timedelta64[ns]"))).round("D")
    extra = times[-1] + step * np.arange(1, count + 1)
    return times.append(pd.DatetimeIndex(extra))


class TorchWindowDataset:
    """A :class:`torch.utils.data.Dataset` view of one split (for users of ``DataLoader``).

    The trainer itself gathers whole batches on its device
    (:class:`gler.data.device_windows.DeviceWindows`), which is faster.
    Each item is a dict of numpy arrays for one sample.
    """

    def __init__(self, windows: WindowDataset, index: SampleIndex) -> None:
        self.windows, self.index = windows, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> dict[str, np.ndarray]:
        batch = self.windows.batch(self.index, np.array([position]))
        return {name: value[0] for name, value in vars(batch).items()}
