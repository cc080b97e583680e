"""Look inside a trained GLER-BiGRUnet: module outputs and attention on real windows.

The book's module chapters (GLFE, MCAR, RCSA + BiGRU + head) call these functions on a run and
its stack; nothing here changes the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from gler.run import Run, to_tensors

#: Submodules of :class:`gler.models.GLERBiGRUNet` whose outputs :func:`module_outputs` records.
MODULES = ("glfe.branches.dense", "glfe.branches.conv", "glfe", "proj", "mcar", "rcsa", "bigru",
           "head")
#: Months of the thaw (settlement) and freeze (heave/frozen) seasons on the plateau.
THAW_MONTHS = (7, 8, 9)
FREEZE_MONTHS = (12, 1, 2)


@dataclass
class Window:
    """One or more input windows as model tensors, with their dates (for plotting)."""

    sd: torch.Tensor
    ef: torch.Tensor
    mask: torch.Tensor
    dates: pd.DatetimeIndex
    factors: tuple[str, ...]
    sd_mm: np.ndarray


def window_at(run: Run, stack: xr.Dataset, *, pixel: tuple[int, int], issue: str) -> Window:
    """The normalised input window of one pixel ``(row, col)`` ending on date ``issue``.

    Raises
    ------
    ValueError
        If ``issue`` is not an acquisition date with a full window before it, or the window
        of that pixel has too few observations.
    """
    windows = run.windows(stack)
    position = windows.times.get_indexer([pd.Timestamp(issue)])[0]
    if position < windows.window - 1:
        msg = (f"{issue} is not an acquisition date with {windows.window} acquisitions before "
               f"it (first possible: {windows.times[windows.window - 1].date()}).")
        raise ValueError(msg)
    flat = int(np.ravel_multi_index(pixel, windows.spatial_shape))
    index = windows.indices(pixels=np.array([flat]), issues=np.array([position]))
    if not len(index):
        msg = f"Pixel {pixel} has too few observations in the window ending {issue}."
        raise ValueError(msg)
    batch = windows.batch(index)
    sd, ef, mask = to_tensors(run.scaler, batch, torch.device("cpu"))
    dates = windows.times[position - windows.window + 1: position + 1]
    return Window(sd, ef, mask, dates, tuple(run.factors), batch.sd[0])


@torch.no_grad()
def module_outputs(model: torch.nn.Module, window: Window) -> dict[str, np.ndarray]:
    """Output of each submodule in :data:`MODULES` that the model has, for the window.

    Attention modules (MCAR, RCSA) return ``(features, weights)``: their features are recorded
    under the module name and the weights under ``<name>.attn`` (``[B, N, L, L]``). The GRU's
    output sequence is recorded under ``bigru``.
    """
    outputs: dict[str, np.ndarray] = {}
    handles = []
    named = dict(model.named_modules())

    def hook(name: str):
        def record(_module, _inputs, output):
            if isinstance(output, tuple):
                outputs[name] = output[0].numpy()
                if name in ("mcar", "rcsa"):
                    outputs[f"{name}.attn"] = output[1].numpy()
            else:
                outputs[name] = output.numpy()
        return record

    for name in MODULES:
        if name in named:
            handles.append(named[name].register_forward_hook(hook(name)))
    try:
        model.eval()
        # forward_with_attention makes MCAR and RCSA compute (and return) their weights
        getattr(model, "forward_with_attention", model)(window.sd, window.ef, window.mask)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def receptive_field(kernel_sizes: Sequence[int], dilations: Sequence[int]) -> int:
    """Input steps seen by one output step of stacked 1-D convolutions (stride 1).

    Example
    -------
    >>> receptive_field((3, 3), (1, 2))
    7
    """
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))


@torch.no_grad()
def seasonal_attention(run: Run, stack: xr.Dataset, *, split: str = "test",
                       seasons: dict[str, Sequence[int]] | None = None,
                       max_samples: int = 2048, seed: int = 0) -> dict[str, np.ndarray]:
    """Mean MCAR cross-attention ``[L, L]`` (over samples and heads) for windows issued in each
    season's months.

    Parameters
    ----------
    run
        A loaded GLER run with MCAR (``gler.run.load_run``).
    stack
        The data.
    split
        Issue dates from this split.
    seasons
        ``{label: months}``; default thaw (Jul–Sep) and freeze (Dec–Feb).
    max_samples
        Samples drawn (seeded) per season.
    seed
        Seed of that draw.

    Raises
    ------
    ValueError
        If the model has no MCAR, or a season has no issue date in the split.
    """
    if getattr(run.model, "mcar", None) is None:
        msg = f"Model {run.model_name!r} has no MCAR module; use a run of 'gler'."
        raise ValueError(msg)
    seasons = seasons or {"thaw (Jul–Sep)": THAW_MONTHS, "freeze (Dec–Feb)": FREEZE_MONTHS}
    windows = run.windows(stack)
    issues = windows.issues(split)
    months = windows.times[issues].month
    rng = np.random.default_rng(seed)
    out = {}
    for label, wanted in seasons.items():
        chosen = issues[np.isin(months, list(wanted))]
        if not len(chosen):
            msg = f"No {split} issue date falls in the months {list(wanted)} ({label})."
            raise ValueError(msg)
        index = windows.indices(issues=chosen)
        take = np.sort(rng.permutation(len(index))[:max_samples])
        batch = windows.batch(index, take)
        sd, ef, mask = to_tensors(run.scaler, batch, torch.device("cpu"))
        run.model.eval()
        attn = run.model.forward_with_attention(sd, ef, mask).mcar_attn
        out[label] = attn.mean(dim=(0, 1)).numpy()
    return out


def lagged_correlation(series: pd.Series, driver: pd.Series, lags_days: Sequence[int], *,
                       detrend: bool = True) -> pd.Series:
    """Correlation of ``series`` with ``driver`` shifted by each lag (days; positive = the
    driver leads), after removing a linear trend from ``series``.

    Parameters
    ----------
    series
        Values on a DatetimeIndex (e.g. displacement at the acquisition dates).
    driver
        Daily values on a DatetimeIndex (e.g. air temperature).
    lags_days
        Lags to test.
    detrend
        Remove a least-squares line from ``series`` first (the secular trend would otherwise
        dominate the correlation).

    Returns
    -------
    pandas.Series
        Correlation per lag (index ``lag_days``); NaN where fewer than 3 pairs overlap.

    Example
    -------
    >>> days = pd.date_range("2020-01-01", periods=400, freq="D")
    >>> t = pd.Series(np.sin(np.arange(400) / 20), index=days)
    >>> int(lagged_correlation(t.shift(5).dropna(), t, range(0, 10)).idxmax())
    5
    """
    values = series.astype(float)
    if detrend:
        x = (values.index - values.index[0]) / pd.Timedelta(days=1)
        ok = np.isfinite(values.to_numpy())
        fit = np.polyfit(np.asarray(x)[ok], values.to_numpy()[ok], 1)
        values = values - np.polyval(fit, np.asarray(x))
    out = {}
    for lag in lags_days:
        shifted = driver.shift(int(lag), freq="D").reindex(values.index)
        pairs = np.isfinite(shifted.to_numpy()) & np.isfinite(values.to_numpy())
        out[int(lag)] = values[pairs].corr(shifted[pairs]) if pairs.sum() >= 3 else np.nan
    return pd.Series(out, name="correlation").rename_axis("lag_days")
