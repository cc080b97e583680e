"""Windows pooled from several stacks (regions), for one model trained on all of them.

The spatial-transfer experiment of ``evaluation.md`` trains on three regions and tests on the
fourth. Each stack keeps its own :class:`~gler.data.windows.WindowDataset` (its own acquisition
dates: the QTR-sim regions are not acquired on the same days), under one chronological split
(the same cut dates for every stack). :class:`MultiStackWindows` puts them behind the interface
the trainer uses (``pixels``, ``indices``, ``batch``): a pixel has a *global* id (the stacks'
pixels one after the other) and a sample index is one :class:`~gler.data.windows.SampleIndex`
per stack, so nothing is copied or materialised.

Pixels are sampled per stack (the same fraction of each, with a seed per stack) and the
normalisation pools the training periods of the training stacks only
(:meth:`gler.data.scaling.Scaler.fit`); a held-out stack is simply not one of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from gler.data.calendar import CALENDAR_FACTORS
from gler.data.model import factor_names
from gler.data.sample import (
    DEFAULT_HORIZON,
    DEFAULT_MIN_OBSERVED,
    DEFAULT_WINDOW,
    SplitDates,
    resolve_split_dates,
)
from gler.data.windows import Batch, SampleIndex, WindowDataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultiStackIndex:
    """Usable samples of several stacks: one :class:`~gler.data.windows.SampleIndex` each.

    Position ``k`` runs over the samples of the first stack, then the second, and so on.
    """

    parts: tuple[SampleIndex, ...]

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    @property
    def starts(self) -> np.ndarray:
        """First position of each stack's samples (``[n_stacks]``)."""
        return np.cumsum([0, *(len(part) for part in self.parts[:-1])])

    def subset(self, positions: np.ndarray) -> MultiStackIndex:
        """The samples at ``positions`` (sorted), e.g. a seeded validation subset."""
        positions = np.asarray(positions)
        region = np.searchsorted(self.starts, positions, side="right") - 1
        return MultiStackIndex(tuple(
            part.subset(positions[region == r] - start)
            for r, (part, start) in enumerate(zip(self.parts, self.starts, strict=True))))


class MultiStackWindows:
    """Samples of several :class:`~gler.data.windows.WindowDataset` drawn as one source.

    Parameters
    ----------
    parts
        One window dataset per stack, with the same window, horizon, factors, split dates and
        ``min_observed`` (:func:`pool_windows` builds them from stacks and checks this).
    names
        A name per stack for messages and the run record (default ``stack 1``, ``stack 2``, …).

    Raises
    ------
    ValueError
        If ``parts`` is empty or the parts differ in window, horizon, factors, split or
        ``min_observed``.

    Example
    -------
    >>> pooled = pool_windows([stack_a, stack_b], window=30, horizon=6)  # doctest: +SKIP
    >>> batch = pooled.batch(pooled.indices("train"), np.arange(256))  # doctest: +SKIP
    """

    def __init__(self, parts: Sequence[WindowDataset], names: Sequence[str] | None = None,
                 ) -> None:
        self.parts = list(parts)
        self.names = list(names) if names is not None else [
            f"stack {i + 1}" for i in range(len(self.parts))]
        if not self.parts or len(self.names) != len(self.parts):
            msg = (f"MultiStackWindows needs at least one window dataset and one name each (got "
                   f"{len(self.parts)} datasets, {len(self.names)} names).")
            raise ValueError(msg)
        first = self.parts[0]
        settings = ("window", "horizon", "factors", "split", "min_observed")
        for name, part in zip(self.names[1:], self.parts[1:], strict=True):
            differ = [f"{s}: {getattr(part, s)!r} vs {getattr(first, s)!r}" for s in settings
                      if getattr(part, s) != getattr(first, s)]
            if differ:
                msg = (f"The windows of {name} differ from those of {self.names[0]} "
                       f"({'; '.join(differ)}). Build every stack's windows with the same "
                       "settings (pool_windows does).")
                raise ValueError(msg)
        self.window, self.horizon, self.factors = first.window, first.horizon, first.factors
        self.split, self.min_observed = first.split, first.min_observed
        sizes = [part.values.shape[0] for part in self.parts]
        #: Global id of each stack's first pixel.
        self.offsets = np.cumsum([0, *sizes[:-1]])
        self.valid_pixels = np.concatenate([
            part.valid_pixels + offset for part, offset in zip(self.parts, self.offsets,
                                                               strict=True)])

    def pixels(self, fraction: float = 1.0, seed: int = 0) -> np.ndarray:
        """Global ids of a seeded ``fraction`` of each stack's valid pixels (sorted).

        Every stack contributes the same fraction (at least one pixel), drawn with its own
        seed ``(seed, stack number)``, so a small stack is not swamped by a large one's draw.

        Raises
        ------
        ValueError
            If ``fraction`` is not in (0, 1].
        """
        return np.concatenate([
            part.pixels(fraction, seed=[seed, number]) + offset
            for number, (part, offset) in enumerate(zip(self.parts, self.offsets, strict=True))])

    def split_pixels(self, pixels: np.ndarray | None = None,
                     ) -> Iterator[tuple[WindowDataset, np.ndarray]]:
        """``(window dataset, its local pixel ids)`` for each stack (all valid pixels by
        default); used by :meth:`gler.data.scaling.Scaler.fit` to pool the statistics."""
        pixels = self.valid_pixels if pixels is None else np.asarray(pixels)
        owner = np.searchsorted(self.offsets, pixels, side="right") - 1
        for number, (part, offset) in enumerate(zip(self.parts, self.offsets, strict=True)):
            yield part, pixels[owner == number] - offset

    def indices(self, split: str | None = None, pixels: np.ndarray | None = None,
                ) -> MultiStackIndex:
        """The usable samples of ``split`` on ``pixels`` (global ids; default all valid ones)
        of every stack (see :meth:`gler.data.windows.WindowDataset.indices`)."""
        return MultiStackIndex(tuple(part.indices(split, local)
                                     for part, local in self.split_pixels(pixels)))

    def batch(self, index: MultiStackIndex, positions: np.ndarray | slice | None = None,
              ) -> Batch:
        """Gather the samples ``index[positions]``, in the order of ``positions``; ``pixel``
        holds global ids, ``issue`` each stack's own acquisition index."""
        positions = np.arange(len(index))[slice(None) if positions is None else positions]
        region = np.searchsorted(index.starts, positions, side="right") - 1
        pieces = [part.batch(sub, positions[region == r] - start) for r, (part, sub, start)
                  in enumerate(zip(self.parts, index.parts, index.starts, strict=True))]
        for piece, offset in zip(pieces, self.offsets, strict=True):
            piece.pixel = piece.pixel + offset
        # The pieces come stack by stack; put the samples back in the order asked for.
        order = np.argsort(np.argsort(region, kind="stable"), kind="stable")
        return Batch(**{f.name: np.concatenate([getattr(p, f.name) for p in pieces])[order]
                        for f in dataclasses.fields(Batch)})


def stack_name(stack: xr.Dataset, number: int) -> str:
    """The stack's ``region`` attribute, else ``stack <number>`` (1-based), for messages."""
    return str(stack.attrs.get("region") or f"stack {number}")


@contextlib.contextmanager
def _about(name: str) -> Iterator[None]:
    """Prefix a ValueError with the stack it is about, so the user knows which input to fix."""
    try:
        yield
    except ValueError as err:
        msg = f"{name}: {err}"
        raise ValueError(msg) from err


def shared_factors(stacks: Sequence[xr.Dataset]) -> list[str]:
    """Factor names present in every stack, in the first stack's order (what a profile may
    choose from, :meth:`gler.profiles.Profile.select_factors`); the others are named in a
    warning.

    Example
    -------
    >>> shared_factors([stack_a, stack_b])  # doctest: +SKIP
    ['air_temperature', 'precipitation']
    """
    present = [factor_names(stack) for stack in stacks]
    shared = [f for f in present[0] if all(f in names for names in present[1:])]
    for number, (stack, names) in enumerate(zip(stacks, present, strict=True)):
        left = [f for f in names if f not in shared]
        if left:
            logger.warning("%s: %d factor(s) %s are not in every stack and cannot be used",
                           stack_name(stack, number + 1), len(left), left)
    return shared


def common_factors(stacks: Sequence[xr.Dataset], factors: Sequence[str] | None = None,
                   ) -> list[str]:
    """The factors to train on: ``factors``, or all of the first stack's when None; every
    stack must have them, in the same units.

    Raises
    ------
    ValueError
        If a stack lacks one of the factors (or, with ``factors=None``, has another set than
        the first stack), or a factor's ``units`` differ between stacks.

    Example
    -------
    >>> common_factors([stack_a, stack_b], ["air_temperature"])  # doctest: +SKIP
    ['air_temperature']
    """
    names = [stack_name(s, i + 1) for i, s in enumerate(stacks)]
    chosen = list(factors) if factors is not None else factor_names(stacks[0])
    for name, stack in zip(names, stacks, strict=True):
        present = factor_names(stack)
        missing = [f for f in chosen if f not in present and f not in CALENDAR_FACTORS]
        extra = [f for f in present if f not in chosen] if factors is None else []
        if missing or extra:
            msg = (f"The stacks have different factor sets: {name} lacks {missing or 'none'} "
                   f"and has {extra or 'no'} other factors compared with {names[0]}. Give "
                   "every stack the same factors (the same --factors source), or train on the "
                   "factors they share (TrainConfig(factors=...)).")
            raise ValueError(msg)
        for factor in (f for f in chosen if f not in CALENDAR_FACTORS or f in present):
            units = stack[factor].attrs.get("units")
            first = stacks[0][factor].attrs.get("units")
            if units != first:
                msg = (f"Factor {factor!r} is in {units!r} in {name} but in {first!r} in "
                       f"{names[0]}. Convert the factor to one unit in every stack.")
                raise ValueError(msg)
    return chosen


def pool_windows(stacks: Sequence[xr.Dataset], *, window: int = DEFAULT_WINDOW,
                 horizon: int = DEFAULT_HORIZON,
                 factors: Sequence[str] | None = None, train_end: str | None = None,
                 val_end: str | None = None,
                 min_observed: float = DEFAULT_MIN_OBSERVED) -> MultiStackWindows:
    """Windows of several stacks under one split, checked to be trainable together.

    Parameters
    ----------
    stacks
        Stacks in the data model (e.g. QTR-sim regions); their acquisition dates may differ.
    window, horizon, min_observed
        As in :class:`~gler.data.windows.WindowDataset`, the same for every stack.
    factors
        Factors to use (default: all of the first stack's, which every stack must then have).
    train_end, val_end
        Cut dates (ISO strings). By default each stack's :func:`default_split_dates`, which
        must then agree.

    Returns
    -------
    MultiStackWindows

    Raises
    ------
    ValueError
        No stack; a stack too short for the window, with no training or validation sample, or
        without the factors (the message names the stack); stacks whose default split dates
        differ (pass ``train_end``/``val_end``).

    Example
    -------
    >>> from gler.data.qtrsim import simulate_region
    >>> stacks = [simulate_region(r, size=8) for r in ("beiluhe", "xidatan")]
    >>> pooled = pool_windows(stacks, window=30, horizon=6)
    >>> pooled.names, str(pooled.split.train_end.date())
    (['beiluhe', 'xidatan'], '2020-12-31')
    """
    if not stacks:
        msg = "pool_windows needs at least one stack."
        raise ValueError(msg)
    names = [stack_name(s, i + 1) for i, s in enumerate(stacks)]
    chosen = common_factors(stacks, factors)
    splits: dict[str, SplitDates] = {}
    for name, stack in zip(names, stacks, strict=True):
        with _about(name):
            splits[name] = resolve_split_dates(stack["time"].values, train_end, val_end)
    if len(set(splits.values())) > 1:
        listed = "; ".join(f"{n}: {s.train_end.date()} / {s.val_end.date()}"
                           for n, s in splits.items())
        msg = (f"The stacks' default split dates differ ({listed}): they cover different "
               "periods. Give the cut dates explicitly (train_end/val_end, or --train-end/"
               "--val-end), inside every stack's dates.")
        raise ValueError(msg)
    split = splits[names[0]]
    parts = []
    for name, stack in zip(names, stacks, strict=True):
        with _about(name):
            part = WindowDataset(stack, window=window, horizon=horizon, factors=chosen,
                                 split=split, min_observed=min_observed)
            # Refuse a stack with nothing to learn from (a final fit has no validation period).
            for period in ("train", "val") if split.val_end > split.train_end else ("train",):
                part.issues(period)
        parts.append(part)
    logger.info("Pooled windows of %d stacks (%s): %d valid pixels", len(parts),
                ", ".join(names), sum(len(p.valid_pixels) for p in parts))
    return MultiStackWindows(parts, names)
