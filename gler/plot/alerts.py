"""Figures of the probabilistic forecasts and alerts: interval series, PIT, reliability, maps.

Example
-------
>>> from gler import plot
>>> plot.plot_pit({"beiluhe": [0.1] * 10})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gler.plot.layout import map_axes
from gler.plot.maps import plot_map


def plot_interval_series(stack: xr.Dataset, forecast: xr.Dataset,
                         pixels: Mapping[str, tuple[int, int]], *, step: int = 6,
                         start: str | None = "2021-07-01") -> Figure:
    """Series at characteristic pixels with the forecasts ``step`` ahead and their intervals.

    ``forecast`` holds ``forecast_quantile`` with symmetric pairs of levels (e.g. 0.05, 0.1,
    0.9, 0.95); each pair is a band, the widest palest. One panel per pixel.
    """
    from gler.conformal import QUANTILE  # on call: gler.conformal loads torch

    fig, axes = plt.subplots(len(pixels), 1, figsize=(8, 2.2 * len(pixels) + 0.5),
                             sharex=True, layout="constrained", squeeze=False)
    at = forecast.sel(horizon=step)
    times = at["target_time"].values
    levels = at["quantile"].values
    pairs = [(lo, hi) for lo, hi in zip(levels, levels[::-1], strict=True) if lo < hi]
    for ax, (label, (row, col)) in zip(axes[:, 0], pixels.items(), strict=True):
        series = stack["displacement"].isel(y=row, x=col)
        if start:
            series = series.sel(time=slice(start, None))
        for k, (lo, hi) in enumerate(pairs):
            band = at[QUANTILE].isel(y=row, x=col)
            ax.fill_between(times, band.sel(quantile=lo), band.sel(quantile=hi), lw=0,
                            color="tab:orange", alpha=0.25 + 0.2 * k,
                            label=f"{hi - lo:.0%} interval")
        ax.plot(times, at["forecast"].isel(y=row, x=col), "-", color="black", lw=1.2,
                label=f"forecast {step} steps ahead")
        ax.plot(series["time"], series, ".", ms=4, color="tab:blue", label="InSAR")
        if "displacement_clean" in stack:
            clean = stack["displacement_clean"].isel(y=row, x=col).sel(time=series["time"])
            ax.plot(clean["time"], clean, "-", lw=0.8, color="tab:grey", label="clean")
        ax.set_ylabel("displacement (mm)")
        ax.set_title(label.replace("_", " "), fontsize="small", loc="left")
    axes[0, 0].legend(fontsize="small", ncols=3, loc="lower left")
    axes[-1, 0].set_xlabel("target date")
    return fig


def plot_pit(histograms: Mapping[str, Sequence[float]], *, ax: Axes | None = None,
             title: str = "PIT histograms") -> Axes:
    """PIT histograms (fractions per tenth) as step lines, one per label; flat is calibrated."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    for label, hist in histograms.items():
        hist = np.asarray(hist)
        edges = np.linspace(0, 1, len(hist) + 1)
        ax.stairs(hist * len(hist), edges, label=label, lw=1.4)
    ax.axhline(1.0, color="k", ls=":", lw=1, label="calibrated")
    ax.set(xlabel="PIT", ylabel="density", xlim=(0, 1), title=title)
    ax.legend(fontsize="small", ncols=2)
    return ax


def plot_reliability(tables: Mapping[str, Sequence[dict]], *, ax: Axes | None = None,
                     title: str = "Reliability of the alerts") -> Axes:
    """Observed frequency against forecast probability per bin (``verify_alerts``'s
    ``table``), one line per label; the diagonal is perfect reliability."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    for label, table in tables.items():
        frame = pd.DataFrame(table)
        ax.plot(frame["mean_probability"], frame["observed_frequency"], "o-", ms=3, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="forecast probability", ylabel="observed frequency", xlim=(0, 1),
           ylim=(0, 1), title=title, aspect="equal")
    ax.legend(fontsize="small")
    return ax


def plot_alert_maps(alerts: xr.Dataset, stack: xr.Dataset, *, issue: int = 0) -> Figure:
    """The alert probability at one issue date next to the change that followed (InSAR and,
    on QTR-sim, clean), with the threshold's contour on the changes."""
    from gler.alerts import PROBABILITY  # on call: gler.alerts loads torch

    panels = [(PROBABILITY, "alert probability", "Reds", (0, 1))]
    limit = float(np.nanpercentile(np.abs(alerts["observed_change"].values), 99))
    for var, label in (("observed_change", "InSAR change"), ("clean_change", "clean change")):
        if var in alerts:
            panels.append((var, label, "RdBu", (-limit, limit)))
    fig, axes = map_axes(len(panels), panel=3.4)
    at = alerts.isel(issue_time=issue)
    threshold = alerts.attrs["threshold_mm"]
    sign = -1 if alerts.attrs["direction"] == "settlement" else 1
    for ax, (var, label, cmap, (vmin, vmax)) in zip(axes[0], panels, strict=True):
        units = "1" if var == PROBABILITY else "mm"
        plot_map(at[var], ax=ax, stack=stack, cmap=cmap, vmin=vmin, vmax=vmax,
                 label=f"{label} ({units})", title=label)
        if var != PROBABILITY:
            ax.contour(at["lon"], at["lat"], at[var], levels=[sign * threshold],
                       colors="k", linewidths=0.8, transform=ax.projection)
    issued = pd.Timestamp(at["issue_time"].values).date()
    until = pd.Timestamp(at["alert_time"].values).date()
    fig.suptitle(f"{alerts.attrs['direction']} of {threshold:g} mm or more from {issued} to "
                 f"{until}", fontsize="medium")
    return fig
