"""Stacks as neuralforecast's long frame, and its forecasts back in gler's forecast layout.

neuralforecast fits *global* models on one long table with a row per (series, time step):
``unique_id``, ``ds``, ``y`` and exogenous columns. Here a series is a pixel (or point) of a
stack and ``y`` its displacement in mm. ``ds`` is the **acquisition number** (0 for the stack's
first date, frequency 1), not the date: gler's input window L and horizon H count acquisitions
(:mod:`gler.data.windows`), and QTR-sim skips about one acquisition in 25 (a 24-day step), so
numbering the acquisitions gives neuralforecast exactly gler's windows. A gap (no observation
at an acquisition) is kept as a row with ``available_mask`` 0 and ``y`` 0, neuralforecast's own
padding value: its window scalers, losses and training-window filter read the mask, so the 0
is never taken for an observation, and no row is filled in or dropped. The factors are those
gler's models see (:class:`~gler.data.windows.WindowDataset`: factor gaps interpolated in
time, calendar features computed), one column each, in their own units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.multistack import pool_windows
from gler.data.sample import SampleSpec, SplitDates
from gler.data.windows import WindowDataset
from gler.forecast import forecast_dataset

ID, TIME, TARGET, MASK = "unique_id", "ds", "y", "available_mask"
#: neuralforecast's frequency of ``ds`` (acquisition numbers).
FREQ = 1


def as_stacks(stacks: xr.Dataset | Sequence[xr.Dataset]) -> list[xr.Dataset]:
    """One stack or several as a list."""
    return [stacks] if isinstance(stacks, xr.Dataset) else list(stacks)


def series_ids(label: str, pixels: np.ndarray) -> list[str]:
    """``unique_id`` of each pixel (flat index into the stack's spatial grid) of a stack."""
    return [f"{label}/{p}" for p in pixels]


def pixel_of(ids: pd.Series | np.ndarray) -> np.ndarray:
    """The flat pixel index in each ``unique_id`` (inverse of :func:`series_ids`)."""
    return pd.Series(ids).astype(str).str.rsplit("/", n=1).str[1].astype(int).to_numpy()


def stack_windows(stacks: Sequence[xr.Dataset], sample: SampleSpec, *,
                  factors: Sequence[str] | None = None, split: SplitDates | None = None,
                  ) -> tuple[list[WindowDataset], list[str]]:
    """gler's windows of each stack under one split, and a distinct label per stack.

    ``factors`` default to ``sample.factors`` (None there: every factor of the first stack),
    ``split`` to ``sample``'s cut dates (or the data's default ones). The labels are the
    regions (``region`` attribute), numbered when two stacks share one.

    Raises
    ------
    ValueError
        As :func:`gler.data.multistack.pool_windows`: a stack too short, without training or
        validation samples or without the factors, or stacks whose default cut dates differ.
    """
    factors = sample.factors if factors is None else tuple(factors)
    pooled = pool_windows(
        list(stacks), window=sample.window, horizon=sample.horizon,
        factors=None if factors is None else list(factors),
        train_end=split.train_end.isoformat() if split else sample.train_end,
        val_end=split.val_end.isoformat() if split else sample.val_end,
        min_observed=sample.min_observed)
    names = list(pooled.names)
    if len(set(names)) < len(names):
        names = [f"{name}#{k}" for k, name in enumerate(names)]
    return list(pooled.parts), names


def windows_frame(windows: WindowDataset, label: str, *, factors: bool = True,
                  stop: int | None = None, pad: int = 0) -> pd.DataFrame:
    """The long frame of the valid pixels of ``windows`` over acquisitions ``0 … stop-1``.

    ``pad`` rows are appended to each series after ``stop`` with ``available_mask`` 0 (and the
    last factor values): several stacks then end their validation periods on one common
    length (:func:`fit_frame`). Pixels never observed (e.g. water) are not series.
    """
    stop = len(windows.times) if stop is None else stop
    pixels = windows.valid_pixels
    values = windows.values[pixels, :stop]
    observed = np.isfinite(values)
    if pad:
        values = np.pad(values, ((0, 0), (0, pad)), constant_values=0.0)
        observed = np.pad(observed, ((0, 0), (0, pad)), constant_values=False)
    n_steps = stop + pad
    frame = {
        ID: np.repeat(series_ids(label, pixels), n_steps),
        TIME: np.tile(np.arange(n_steps, dtype=np.int64), len(pixels)),
        TARGET: np.where(observed, values, 0.0).astype(np.float32).ravel(),
        MASK: observed.astype(np.float32).ravel(),
    }
    if factors and windows.factors:
        rows = windows.ef if windows.ef.shape[0] == 1 else windows.ef[pixels]
        rows = np.pad(rows[:, :stop], ((0, 0), (0, pad), (0, 0)), mode="edge")
        rows = np.broadcast_to(rows, (len(pixels), n_steps, rows.shape[-1]))
        for column, name in enumerate(windows.factors):
            frame[name] = rows[..., column].ravel()
    return pd.DataFrame(frame)


def peer_frame(stacks: xr.Dataset | Sequence[xr.Dataset], sample: SampleSpec | None = None, *,
               factors: Sequence[str] | None = None) -> pd.DataFrame:
    """neuralforecast's long frame of one stack or several (e.g. the four regions).

    Parameters
    ----------
    stacks
        Stacks in the data model (grid or points).
    sample
        Window, horizon, factors and gap rule (default :class:`~gler.data.sample.SampleSpec`).
    factors
        Factor columns (default ``sample.factors``; None there: every factor of the data;
        ``()``: none).

    Returns
    -------
    pandas.DataFrame
        ``unique_id`` (``"<region>/<pixel>"``, the pixel a flat index into the stack's spatial
        grid), ``ds`` (acquisition number, frequency 1), ``y`` (mm; 0 where
        ``available_mask`` is 0), ``available_mask`` and one column per factor.

    Raises
    ------
    ValueError
        As :func:`stack_windows`.

    Example
    -------
    >>> frame = peer_frame(simulate_region("beiluhe", size=8), factors=())  # doctest: +SKIP
    >>> list(frame.columns)  # doctest: +SKIP
    ['unique_id', 'ds', 'y', 'available_mask']
    """
    windows, labels = stack_windows(as_stacks(stacks), sample or SampleSpec(), factors=factors)
    return pd.concat([windows_frame(win, label) for win, label in zip(windows, labels,
                                                                        strict=True)],
                     ignore_index=True)


def fit_frame(windows: Sequence[WindowDataset], labels: Sequence[str], *,
              factors: bool) -> tuple[pd.DataFrame, int]:
    """The frame to fit on and its validation size: every series up to its validation cut.

    Nothing after ``val_end`` enters. neuralforecast validates on the last ``val_size`` steps
    of every series and trains on the steps before them; the stacks' validation periods
    (acquisitions after ``train_end`` up to ``val_end``) may differ in length, so the shorter
    ones end with masked padding rows up to the longest (they are only ever targets, and
    masked ones).
    """
    periods = []
    for win in windows:
        label = win.period_of(win.times)
        periods.append((int((label <= 1).sum()), int((label == 1).sum())))
    val_size = max(n_val for _, n_val in periods)
    frame = pd.concat([windows_frame(win, name, factors=factors, stop=stop,
                                     pad=val_size - n_val)
                       for win, name, (stop, n_val) in zip(windows, labels, periods, strict=True)],
                      ignore_index=True)
    return frame, val_size


def forecast_from_frame(cv: pd.DataFrame, column: str, windows: WindowDataset,
                        issue_index: np.ndarray, stack: xr.Dataset, *, model: str,
                        source: str) -> xr.Dataset:
    """neuralforecast's forecasts (``unique_id``, ``ds``, ``cutoff``, ``column``) in the
    layout of :func:`gler.forecast.predict`.

    ``cutoff`` is the issue (the last input acquisition) and ``ds`` the target, both as
    acquisition numbers. Windows with too few observed inputs (gler's ``min_observed`` rule,
    :meth:`~gler.data.windows.WindowDataset.indices`) are NaN, as in ``predict``.

    Raises
    ------
    ValueError
        If a usable (pixel, issue date) of ``windows`` has no forecast in ``cv``.
    """
    n_issue, n_pixel = len(issue_index), windows.values.shape[0]
    out = np.full((n_issue, windows.horizon, n_pixel), np.nan, dtype=np.float32)
    position = np.full(len(windows.times), -1)
    position[issue_index] = np.arange(n_issue)
    cutoff = cv["cutoff"].to_numpy(dtype=np.int64)
    step = cv[TIME].to_numpy(dtype=np.int64) - cutoff
    keep = (position[cutoff] >= 0) & (step >= 1) & (step <= windows.horizon)
    out[position[cutoff[keep]], step[keep] - 1, pixel_of(cv[ID].to_numpy()[keep])] = (
        cv[column].to_numpy(dtype=np.float32)[keep])
    index = windows.indices(issues=issue_index)
    usable = np.zeros((n_issue, n_pixel), dtype=bool)
    usable[index.flat % n_issue, index.pixels[index.flat // n_issue]] = True
    missing = usable & ~np.isfinite(out).all(axis=1)
    if missing.any():
        msg = (f"{int(missing.sum())} usable (issue date, pixel) windows have no forecast of "
               f"{model} for all {windows.horizon} steps: the forecasts do not cover the "
               "issue dates or pixels asked for.")
        raise ValueError(msg)
    out = np.where(usable[:, None, :], out, np.nan)
    return forecast_dataset(out, windows, issue_index, stack, model=model, source=source)
