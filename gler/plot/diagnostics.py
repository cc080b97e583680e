"""Figures of training and evaluation: data splits, training curves, attention and feature maps,
errors per step ahead and stability over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gler.plot.layout import model_palette

if TYPE_CHECKING:  # the figures take the data layer's records without importing it
    from gler.data.sample import SplitDates


def plot_splits(times: pd.DatetimeIndex, train_end: pd.Timestamp, val_end: pd.Timestamp, *,
                window: int, horizon: int, ax: Axes | None = None) -> Axes:
    """The acquisition timeline with the train/validation/test periods (by target date) and one
    example sample per period (input window and horizon as bars)."""
    times = pd.DatetimeIndex(times)
    if ax is None:
        ax = plt.figure(figsize=(9, 2.6), layout="constrained").add_subplot()
    bounds = [times[0], train_end, val_end, times[-1]]
    colours = ("tab:blue", "tab:orange", "tab:green")
    for k, (name, colour) in enumerate(zip(("train", "validation", "test"), colours,
                                           strict=True)):
        ax.axvspan(bounds[k], bounds[k + 1], color=colour, alpha=0.12, label=f"{name} targets")
        # The example issue: the last one whose horizon ends inside the period.
        last = int(np.searchsorted(times, bounds[k + 1], side="right")) - 1
        issue = last - horizon
        ax.barh(k, times[issue] - times[issue - window + 1], left=times[issue - window + 1],
                height=0.5, color="0.6", label="input window" if k == 0 else None)
        ax.barh(k, times[last] - times[issue + 1], left=times[issue + 1], height=0.5,
                color=colour, label="horizon" if k == 0 else None)
    ax.plot(times, np.full(len(times), -0.8), "|", color="k", ms=6, label="acquisitions")
    ax.set_yticks([0, 1, 2], ["train", "validation", "test"])
    ax.set_ylim(-1.2, 2.6)
    ax.set_xlabel("date")
    ax.set_title(f"Chronological split by target date: window L = {window}, horizon H = "
                 f"{horizon} acquisitions", fontsize="medium")
    ax.legend(fontsize="x-small", ncols=4, loc="upper left")
    return ax


def plot_folds(times: pd.DatetimeIndex, folds: Sequence[SplitDates], *,
               ax: Axes | None = None) -> Axes:
    """The folds over seasons on the time axis: one row per fold (training and validation
    targets) above the test period, which no fold reaches.

    Parameters
    ----------
    times
        The acquisition dates.
    folds
        The folds' cut dates, earliest first; the last one is the split whose test period
        follows its ``val_end``.
    """
    times = pd.DatetimeIndex(times)
    if ax is None:
        ax = plt.figure(figsize=(9, 1.2 + 0.45 * len(folds)), layout="constrained").add_subplot()
    rows = range(len(folds), 0, -1)
    for row, split in zip(rows, folds, strict=True):
        ax.barh(row, split.train_end - times[0], left=times[0], height=0.6, color="tab:blue",
                alpha=0.6, label="training targets" if row == len(folds) else None)
        ax.barh(row, split.val_end - split.train_end, left=split.train_end, height=0.6,
                color="tab:orange", label="validation targets" if row == len(folds) else None)
    test_start = folds[-1].val_end
    ax.barh(0, times[-1] - test_start, left=test_start, height=0.6, color="tab:green",
            label="test targets (touched once, at the end)")
    ax.set_yticks([*rows, 0], [*(f"fold {k + 1}" for k in range(len(folds))), "test"])
    ax.set_xlim(times[0], times[-1])
    ax.set_xlabel("target date")
    ax.legend(fontsize="x-small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return ax


def plot_training_curves(history: pd.DataFrame, *, ax: Axes | None = None,
                         label: str = "") -> Axes:
    """Training and validation loss per epoch (normalised units), best epoch marked."""
    if ax is None:
        ax = plt.figure(figsize=(6, 3.6), layout="constrained").add_subplot()
    line, = ax.plot(history["epoch"], history["train_loss"], "-o", ms=3,
                    label=f"{label} train".strip())
    ax.plot(history["epoch"], history["val_loss"], "--s", ms=3, color=line.get_color(),
            label=f"{label} validation".strip())
    best = history.loc[history["val_loss"].idxmin()]
    ax.plot(best["epoch"], best["val_loss"], "*", ms=12, color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE, normalised units)")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


def plot_learning_curves(histories: pd.DataFrame, *, ncols: int | None = None) -> Figure:
    """Small multiples of training (solid) and validation (dashed) loss per epoch: one panel
    per model × region, one colour per seed, the best validation epoch starred.

    Parameters
    ----------
    histories
        Per-epoch logs with ``model``, ``region``, ``seed``, ``epoch``, ``train_loss`` and
        ``val_loss`` columns (:meth:`gler.experiment.Experiment.histories`).
    ncols
        Panels per row (default: one row per model, one column per region).
    """
    models = list(dict.fromkeys(histories["model"]))
    regions = list(dict.fromkeys(histories["region"]))
    ncols = ncols or len(regions)
    nrows = -(-len(models) * len(regions) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 1.7 * nrows), sharex=True,
                             squeeze=False, layout="constrained")
    colours = dict(zip(dict.fromkeys(histories["seed"]), plt.cm.tab10.colors, strict=False))
    panels = [(m, r) for m in models for r in regions]
    for ax, (model, region) in zip(axes.flat, panels, strict=False):
        runs = histories[(histories["model"] == model) & (histories["region"] == region)]
        for seed, run in runs.groupby("seed", sort=False):
            colour = colours[seed]
            ax.plot(run["epoch"], run["train_loss"], "-", color=colour, lw=1)
            ax.plot(run["epoch"], run["val_loss"], "--", color=colour, lw=1)
            best = run.loc[run["val_loss"].idxmin()]
            ax.plot(best["epoch"], best["val_loss"], "*", color=colour, ms=7)
        ax.set_yscale("log")
        ax.set_title(f"{model} · {region}", fontsize="small")
        ax.tick_params(labelsize="x-small")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.supxlabel("epoch", fontsize="small")
    fig.supylabel("loss (normalised, log)", fontsize="small")
    handles = [plt.Line2D([], [], color=c, label=f"seed {s}") for s, c in colours.items()]
    handles += [plt.Line2D([], [], color="k", ls=ls, label=name)
                for ls, name in (("-", "training"), ("--", "validation"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small")
    return fig


def plot_attention(weights: dict[str, np.ndarray], *, dates: pd.DatetimeIndex | None = None,
                   xlabel: str = "key step", ylabel: str = "query step") -> Figure:
    """Heatmaps of attention matrices ``[L, L]`` side by side with one shared colour bar.

    Parameters
    ----------
    weights
        ``{panel title: matrix}``; rows are queries, columns keys (rows sum to one).
    dates
        Dates of the window steps, for tick labels (month-day).
    """
    fig, axes = plt.subplots(1, len(weights), figsize=(3.9 * len(weights) + 0.8, 3.9),
                             layout="constrained", squeeze=False)
    # A shared scale over the data's own range: near-uniform attention (1/L everywhere) would
    # look flat on a 0..max scale although its structure is what the figure is about.
    vmin = min(float(np.min(w)) for w in weights.values())
    vmax = max(float(np.max(w)) for w in weights.values())
    image = None
    for ax, (title, matrix) in zip(axes[0], weights.items(), strict=True):
        image = ax.imshow(matrix, cmap="magma", vmin=vmin, vmax=vmax, origin="upper")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if dates is not None:
            ticks = np.arange(0, len(dates), max(len(dates) // 5, 1))
            labels = [pd.Timestamp(d).strftime("%b %d") for d in np.asarray(dates)[ticks]]
            ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(ticks, labels, fontsize=7)
    size = next(iter(weights.values())).shape[-1]
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85,
                 label=f"attention weight\n(rows sum to 1; uniform 1/{size} = {1 / size:.3f})")
    return fig


def plot_feature_maps(maps: dict[str, np.ndarray], *, dates: pd.DatetimeIndex | None = None,
                      row_labels: dict[str, list[str]] | None = None,
                      value_label: str = "activation") -> Figure:
    """Heatmaps of feature sequences ``[L, C]`` (one panel each; channels as rows, time as
    columns), each with its own colour bar.

    Parameters
    ----------
    maps
        ``{panel title: array [L, C]}``.
    dates
        Dates of the L steps (tick labels).
    row_labels
        ``{panel title: channel names}`` where channels have names (e.g. factors).
    value_label
        Label of the colour bars (what the values are).
    """
    fig, axes = plt.subplots(len(maps), 1, figsize=(8, 1.2 + 0.16 * sum(
        m.shape[1] for m in maps.values()) + 0.8 * len(maps)), layout="constrained",
        squeeze=False)
    for ax, (title, values) in zip(axes[:, 0], maps.items(), strict=True):
        limit = float(np.nanmax(np.abs(values))) or 1.0
        image = ax.imshow(values.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, label=value_label, pad=0.01)
        ax.set_title(title, fontsize="medium", loc="left")
        names = (row_labels or {}).get(title)
        if names:
            ax.set_yticks(range(len(names)), names, fontsize=8)
        else:
            ax.set_ylabel("channel")
        if dates is not None:
            ticks = np.arange(0, len(dates), max(len(dates) // 6, 1))
            ax.set_xticks(ticks, [pd.Timestamp(d).strftime("%Y-%m-%d")
                                  for d in np.asarray(dates)[ticks]], fontsize=8, rotation=20)
    axes[-1, 0].set_xlabel("input step (date)")
    return fig


def plot_horizon_errors(per_horizon: pd.DataFrame, *, metric: str = "rmse",
                        ax: Axes | None = None, title: str | None = None,
                        legend: bool = True) -> Axes:
    """Error per step ahead for each model (mean over seeds), the noise floor dashed.

    Parameters
    ----------
    per_horizon
        :func:`gler.tables.horizon_scores` rows of one region (or averaged beforehand).
    legend
        Draw the legend on the axes (off for small multiples that share one figure legend).
    """
    if ax is None:
        ax = plt.figure(figsize=(6.5, 4), layout="constrained").add_subplot()
    mean = per_horizon.groupby(["model", "horizon"])[metric].mean().unstack("model")
    # Colours follow the alphabetical order of the names, so that a model keeps its colour in
    # every panel; the legend follows the error order.
    palette = model_palette(mean.columns)
    for name in mean.mean().sort_values().index:
        style = "--" if name == "noise floor" else "-o"
        ax.plot(mean.index, mean[name], style, ms=3, color=palette[name], label=name,
                lw=2.2 if name == "gler" else 1.2)
    ax.set_xlabel("steps ahead (12 days each)")
    ax.set_ylabel(f"{metric.upper()} (mm)")
    ax.set_xticks(mean.index)
    if legend:
        ax.legend(fontsize="x-small", ncols=2)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_stability(table: pd.DataFrame, *, metric: str = "rmse",
                   ax: Axes | None = None) -> Axes:
    """Each seed's score (dots) and mean ± std (bar) per neural model and region.

    Parameters
    ----------
    table
        :func:`gler.tables.scores` output.
    """
    neural = table[table["kind"] == "neural"]
    regions = list(dict.fromkeys(neural["region"]))
    models = neural.groupby("model")[metric].mean().sort_values().index
    if ax is None:
        ax = plt.figure(figsize=(7, 0.5 * len(models) + 1.6),
                        layout="constrained").add_subplot()
    offsets = np.linspace(-0.25, 0.25, len(regions)) if len(regions) > 1 else [0.0]
    for j, region in enumerate(regions):
        colour = plt.get_cmap("tab10")(j)
        for i, name in enumerate(models):
            values = neural[(neural["region"] == region) & (neural["model"] == name)][metric]
            if values.empty:
                continue
            y = i + offsets[j]
            ax.plot(values, np.full(len(values), y), "o", ms=3, color=colour, alpha=0.6)
            ax.errorbar(values.mean(), y, xerr=values.std() if len(values) > 1 else 0,
                        fmt="|", ms=10, color=colour, capsize=3,
                        label=region if i == 0 else None)
    ax.set_yticks(range(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.upper()} over the test period (mm)")
    ax.set_title("Stability over training seeds (dots: seeds; bars: mean ± std)",
                 fontsize="medium")
    ax.legend(fontsize="small", title="region")
    return ax
