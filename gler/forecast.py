"""Forecast a whole scene from a run: every valid pixel, at each issue date, in batches.

The result is an :class:`xarray.Dataset` with ``forecast`` (mm) on dims
``(issue_time, horizon, y, x)`` or ``(issue_time, horizon, point)``, the ``target_time`` of each
(issue, step), and the input's spatial coordinates (``y``/``x`` or ``point``, ``lat``/``lon``).
Neural runs and classical baselines go through the same function.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler import __version__
from gler.allocator import keep_freed_memory
from gler.data.device_windows import normalised_window
from gler.data.sample import SPLITS
from gler.data.windows import WindowDataset, extend_times
from gler.models._registry import model_info
from gler.run import Run, load_run, resolve_device

logger = logging.getLogger(__name__)

FORECAST = "forecast"
#: A quantile head's own (uncalibrated) quantiles, on dim ``head_quantile``.
HEAD_QUANTILE = "forecast_head_quantile"
ISSUE_CHOICES = ("all", "last", *SPLITS)


#: Samples per model call when ``batch_size`` is not given, by device type. On the 2-core CPU
#: of ``benchmarks/NOTES.md`` the GLER forward (with :mod:`gler.kernels`) ran 13,899 / 16,458
#: / 16,478 / 16,274 pixels/s at batch 256 / 1,024 / 2,048 / 4,096 (one thread).
DEFAULT_BATCH_SIZE = {"cpu": 1024, "cuda": 65536}


def years_since(dates: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    """Decimal years (365.25 days) from ``origin``, whatever the datetime unit."""
    return np.asarray((pd.DatetimeIndex(dates) - origin) / pd.Timedelta(days=365.25))


def resolve_issues(windows: WindowDataset, issues: str | Sequence | None = None) -> np.ndarray:
    """Issue indices from ``"all"`` (default: every date with a full window), ``"last"``,
    a split name (issues whose targets all lie in that period) or a list of dates.

    Raises
    ------
    ValueError
        For an unknown keyword, or a date that is not an acquisition date or has no full
        window before it.
    """
    if issues is None or (isinstance(issues, str) and issues == "all"):
        return np.arange(windows.window - 1, len(windows.times))
    if isinstance(issues, str) and issues == "last":
        return np.array([len(windows.times) - 1])
    if isinstance(issues, str) and issues in SPLITS:
        return windows.issues(issues)
    if isinstance(issues, str):
        msg = (f"Unknown issue selection {issues!r}; use one of {', '.join(ISSUE_CHOICES)} or "
               "a list of acquisition dates.")
        raise ValueError(msg)
    wanted = pd.DatetimeIndex(pd.to_datetime(list(issues)))
    position = windows.times.get_indexer(wanted)
    bad = [str(d.date()) for d, p in zip(wanted, position, strict=True)
           if p < windows.window - 1]
    if bad:
        msg = (f"Issue dates {', '.join(bad)} are not acquisition dates with {windows.window} "
               f"acquisitions up to them (first possible: "
               f"{windows.times[windows.window - 1].date()}). Pick dates from the stack's time.")
        raise ValueError(msg)
    return position


def predict(run: Run | str | Path, stack: xr.Dataset, *,
            issues: str | Sequence | None = None, batch_size: int | None = None,
            device: str = "auto", progress: bool = False, amp: bool = False,
            head: bool = False) -> xr.Dataset:
    """Forecasts of ``run`` for every valid pixel of ``stack`` at each issue date.

    A run with a quantile head forecasts its median (level 0.5) as ``forecast``.

    Parameters
    ----------
    run
        A run directory or a loaded :class:`gler.run.Run`.
    stack
        A stack with the factors the run was trained with.
    issues
        ``"all"`` (default), ``"last"``, ``"train"``/``"val"``/``"test"`` or acquisition dates.
        Horizons past the last acquisition get extrapolated target dates.
    batch_size
        Samples per model call (neural runs); default :data:`DEFAULT_BATCH_SIZE` of the
        device (small batches stay in cache on a CPU; a GPU wants large ones).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"`` (neural runs).
    progress
        Show a progress bar over issue dates.
    amp
        Run a neural model in bf16 autocast on CUDA (about twice as fast there; forecasts
        agree with float32 to about three significant digits). Default float32; ignored on
        the CPU, which always computes in float32.
    head
        Also return the quantile head's own quantiles, :data:`HEAD_QUANTILE` (head_quantile,
        issue_time, horizon, *spatial) in mm, not calibrated
        (:func:`gler.conformal.predict_quantiles` calibrates them).

    Returns
    -------
    xarray.Dataset
        ``forecast`` (issue_time, horizon, *spatial) in mm, NaN where a window has too few
        observations; coordinate ``target_time`` (issue_time, horizon).

    Raises
    ------
    ValueError
        If the stack lacks factors the run needs, or is too short for the run's window, or
        ``head`` is asked of a run without a quantile head.

    Example
    -------
    >>> fc = predict("runs/beiluhe-gler", stack, issues="test")  # doctest: +SKIP
    >>> fc.forecast.sel(horizon=1).isel(issue_time=0).plot()  # doctest: +SKIP
    """
    return _predict(run, stack, issues=issues, batch_size=batch_size, device=device,
                    progress=progress, amp=amp, mark=_unmarked, head=head)


#: The stages of :func:`predict`, in order, as :func:`_predict` marks their ends: the host's
#: preparation (windows, issue dates, model), the transfer of the inputs to the device, the
#: forecasts on the device and their copy back (per issue date), and the xarray output.
STAGES = ("host", "transfer", "forward", "copy_back", "xarray")


def _unmarked(stage: str) -> None:
    """No timing: what :func:`predict` passes as ``mark``."""


def _predict(run: Run | str | Path, stack: xr.Dataset, *, issues: str | Sequence | None,
             batch_size: int | None, device: str, progress: bool, amp: bool,
             mark: Callable[[str], None], head: bool = False) -> xr.Dataset:
    """:func:`predict`, calling ``mark(stage)`` at the end of each of its :data:`STAGES`, for
    the benchmark's breakdown: a neural run marks ``forward`` and ``copy_back`` once per issue
    date with usable windows, a classical run only ``xarray``."""
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
        msg = (f"batch_size={batch_size} (--batch-size): give a positive number of samples per "
               "model call, or leave it out for the device's default.")
        raise ValueError(msg)
    run = run if isinstance(run, Run) else load_run(run)
    if head:
        run.check_quantile_head("head=True (the quantile head's forecast)")
    levels = run.quantiles
    windows = run.windows(stack)
    if run.scaler is not None:
        run.scaler.check_factors(windows)
    issue_index = resolve_issues(windows, issues)
    out = np.full((len(issue_index), windows.horizon, windows.n_pixels,
                   *((len(levels),) if levels else ())), np.nan, dtype=np.float32)
    keep_freed_memory()  # the batches' activations reuse memory instead of page-faulting it in
    if run.kind == "neural":
        torch_device = resolve_device(device)
        _prepare_model(run, torch_device)
        mark("host")
        _neural(run, windows, issue_index, out, device=torch_device,
                batch_size=batch_size or DEFAULT_BATCH_SIZE[torch_device.type], amp=amp,
                progress=progress, mark=mark)
    else:
        for k, issue in enumerate(tqdm(issue_index, desc=f"predict {run.model_name}",
                                       unit="issue", disable=not progress)):
            index = windows.indices(issues=np.array([issue]))
            if len(index):
                batch = windows.batch(index)
                out[k][:, batch.pixel] = _classical(run, windows, batch, int(issue)).T
    quantiles = out if levels else None
    if levels:  # the median is the point forecast
        out = np.ascontiguousarray(quantiles[..., levels.index(0.5)])
    ds = forecast_dataset(out, windows, issue_index, stack, model=run.model_name,
                          source=run.kind, run_dir=str(run.run_dir) if run.run_dir else "")
    if levels:
        ds[FORECAST].attrs["comment"] += "; the median of the run's quantile head"
    if head:
        values = np.moveaxis(quantiles, -1, 0).reshape(len(levels), *ds[FORECAST].shape)
        ds[HEAD_QUANTILE] = (("head_quantile", *ds[FORECAST].dims), values, {
            "units": "mm", "long_name": "quantile of the forecast cumulative surface "
            "displacement, as the quantile head gives it (not calibrated)"})
        ds = ds.assign_coords(head_quantile=("head_quantile", np.asarray(levels), {
            "long_name": "quantile level of the head (probability of non-exceedance)",
            "units": "1"}))
    mark("xarray")
    return ds


def _prepare_model(run: Run, device: torch.device) -> None:
    """The run's model on ``device`` in eval mode, with the run's CPU threads."""
    # Move and switch only when needed: forecast_zarr's threads share this model, and
    # Module.to() re-registers a GRU's weights under a forward running in another thread.
    placed = torch.empty(0, device=device).device  # "cuda" -> "cuda:0"
    if any(p.device != placed for p in run.model.parameters()):
        run.model.to(placed)
    if run.model.training:
        run.model.eval()
    if run.train_config.num_threads:
        torch.set_num_threads(run.train_config.num_threads)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float32 host array as a tensor on ``device`` (on the CPU, the array itself where it is
    float32 and writable); to a GPU by way of pinned host memory (one host pass, in torch's
    threads), with a copy that does not hold up the host."""
    host = torch.from_numpy(np.require(array, np.float32, "W"))
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True)


def _neural(run: Run, windows: WindowDataset, issue_index: np.ndarray, out: np.ndarray, *,
            device: torch.device, batch_size: int, amp: bool, progress: bool,
            mark: Callable[[str], None]) -> None:
    """Fill ``out`` ``[I, H, P]`` (``[I, H, P, Q]`` for a quantile head) with the forecasts
    of a neural run, all on ``device``.

    The displacement of the dates the issues need goes to the device once, as the stack holds
    it (date-major: :attr:`~gler.data.windows.WindowDataset.time_major`, one contiguous block),
    and is turned pixel-major there; the factors go with it (normalised there). Each batch is
    gathered there by indexing (a column slice of the issue's window, rows of the batch's
    pixels), normalised, forecast and turned back into millimetres there, and each issue
    date's map comes back in one copy. The arithmetic is
    :meth:`gler.data.scaling.Scaler.inputs` and :meth:`~gler.data.scaling.Scaler.inverse`'s,
    operation for operation, so on the CPU the forecasts are those of
    :meth:`~gler.data.windows.WindowDataset.batch` + :func:`gler.run.to_tensors` bit for bit;
    the usable windows are :meth:`~gler.data.windows.WindowDataset.indices`', in the same
    order, and the batches the same. ``mark`` as in :func:`_predict`.

    On ``torch.cuda.OutOfMemoryError`` the batch is halved (with a warning) and the call
    retried; later batches keep the smaller size.
    """
    scaler, window = run.scaler, windows.window
    # Scene-wide factors: every window of one issue date has the same factor window, so the
    # model gets it once per batch ([1, L, E]) and GLER's MCAR embeds it once, not per pixel.
    shared_factors = (windows.ef.shape[0] == 1
                      and getattr(run.model, "accepts_shared_factors", False))
    first = int(issue_index.min()) - window + 1  # the dates needed: first … last issue
    end = int(issue_index.max()) + 1
    values = _to_device(windows.time_major[first:end], device).T.contiguous()  # [P, T'] mm
    mean = torch.tensor(scaler.factor_mean, dtype=torch.float32, device=device)
    std = torch.tensor(scaler.factor_std, dtype=torch.float32, device=device)
    ef = (_to_device(windows.ef[:, first:end], device) - mean) / std  # [1|P, T', E]
    mark("transfer")
    need = max(1, int(np.ceil(windows.min_observed * window)))  # WindowDataset.indices' rule
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda"
                else contextlib.nullcontext())
    for k, issue in enumerate(tqdm(issue_index, desc=f"predict {run.model_name}",
                                   unit="issue", disable=not progress)):
        start = int(issue) - window + 1 - first
        block = values[:, start:start + window]  # [P, L] view: this issue's input windows
        factors = ef[:, start:start + window]
        usable = torch.isfinite(block).sum(1, dtype=torch.int32) >= need
        pixels = torch.nonzero(usable).squeeze(1)  # ascending, as WindowDataset.indices
        if not len(pixels):
            continue
        forecasts, begin = [], 0
        while begin < len(pixels):
            pixel = pixels[begin:begin + batch_size]
            sd, mask, anchor = normalised_window(block.index_select(0, pixel), scaler.scale)
            if shared_factors:
                ef_batch = factors[:1].contiguous()
            elif factors.shape[0] == 1:
                ef_batch = factors.expand(len(pixel), -1, -1).contiguous()
            else:
                ef_batch = factors.index_select(0, pixel)
            try:
                with torch.inference_mode(), autocast:
                    prediction = run.model(sd, ef_batch, mask)
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise
                logger.warning("Out of GPU memory at %d samples per model call; halving the "
                               "batch to %d and retrying (give a smaller batch_size / "
                               "--batch-size to skip this)", batch_size, batch_size // 2)
                batch_size //= 2
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            anchor = anchor.view(-1, *[1] * (prediction.ndim - 1))  # [B, 1] or [B, 1, 1]
            forecasts.append((prediction.float().double() * scaler.scale
                              + anchor.double()).float())  # Scaler.inverse
            begin += len(pixel)
        mm = torch.full((windows.horizon, values.shape[0], *out.shape[3:]), float("nan"),
                        device=device)
        mm[:, pixels] = torch.cat(forecasts).transpose(0, 1)
        mark("forward")
        torch.from_numpy(out[k]).copy_(mm)  # one copy back per issue date
        mark("copy_back")


def _classical(run: Run, windows: WindowDataset, batch, issue: int) -> np.ndarray:
    dates = windows.window_times(issue)
    kwargs = {}
    needs = model_info(run.model_name).needs
    if needs:
        steps = np.arange(issue - windows.window + 1, issue + windows.horizon + 1)
        if steps[-1] >= len(windows.times):
            # The factors over a horizon past the data are unknown: no forecast.
            return np.full((len(batch.pixel), windows.horizon), np.nan, dtype=np.float32)
        for key, name in needs.items():
            column = windows.factors.index(name)
            values = windows.ef[:, steps, column]
            kwargs[key] = values[0] if values.shape[0] == 1 else values[batch.pixel]
    t = years_since(dates, windows.times[0])
    return np.asarray(run.model.predict(batch.sd.astype(np.float64), t, **kwargs),
                      dtype=np.float32)


def forecast_dataset(out: np.ndarray, windows: WindowDataset, issue_index: np.ndarray,
                     stack: xr.Dataset, *, model: str, source: str,
                     run_dir: str = "") -> xr.Dataset:
    """The forecast layout of :func:`predict` from ``out`` ``[I, H, P]`` (mm, NaN: none).

    ``issue_index`` are the issue positions in ``windows.times``; ``source`` says what made
    the forecasts (a run's kind, or the library of an external model), ``run_dir`` where
    they came from.
    """
    spatial = windows.spatial_dims
    values = out.reshape(*out.shape[:2], *windows.spatial_shape)
    # Target dates past the last acquisition continue at the median interval.
    extended = extend_times(windows.times, int(issue_index.max()) + windows.horizon + 1)
    target_index = issue_index[:, None] + np.arange(1, windows.horizon + 1)
    coords = {
        "issue_time": ("issue_time", windows.times[issue_index].values,
                       {"long_name": "forecast issue date (last input acquisition)"}),
        "horizon": ("horizon", np.arange(1, windows.horizon + 1, dtype=np.int32),
                    {"long_name": "steps ahead", "units": "1"}),
        "target_time": (("issue_time", "horizon"),
                        extended[target_index.ravel()].values.reshape(target_index.shape),
                        {"long_name": "date the forecast is valid for"}),
    }
    for name, coord in stack.coords.items():
        if name != "time" and set(coord.dims) <= set(spatial):
            coords[name] = coord
    attrs = {"units": "mm", "long_name": "forecast cumulative surface displacement",
             "comment": "relative to the first acquisition and the reference, like the input"}
    ds = xr.Dataset({FORECAST: (("issue_time", "horizon", *spatial), values, attrs)},
                    coords=coords)
    ds.attrs.update({
        "Conventions": "CF-1.8",
        "title": f"gler forecasts of model {model}",
        "institution": "gler",
        "source": f"gler {__version__}, model {model} ({source})",
        "history": f"{pd.Timestamp.now('UTC').isoformat()} gler predict",
        "model": model,
        "run_dir": run_dir,
        "window": windows.window,
        "horizon_steps": windows.horizon,
    })
    for key in ("region", "seed", "noise_sigma_mm"):
        if key in stack.attrs:
            ds.attrs[f"data_{key}"] = stack.attrs[key]
    return ds


def forecast_values(forecast: xr.Dataset, windows: WindowDataset, issue_index: np.ndarray,
                    stack: xr.Dataset, label: str = "forecast") -> np.ndarray:
    """``forecast``'s values as ``[I, H, P]`` after checking that it forecasts exactly the
    issues ``issue_index`` of ``windows``, on ``stack``'s pixels (the layout of :func:`predict`).

    Raises
    ------
    ValueError
        Naming ``label``, what differs (variable, dims, horizon, issue dates or pixel
        coordinates) and what is expected.
    """
    spatial = windows.spatial_dims
    expected_dims = ("issue_time", "horizon", *spatial)
    if FORECAST not in forecast or forecast[FORECAST].dims != expected_dims:
        found = forecast[FORECAST].dims if FORECAST in forecast else list(forecast.data_vars)
        msg = (f"Forecast {label!r} has {found}; expected a {FORECAST!r} variable on "
               f"{expected_dims}, the layout of gler.forecast.predict.")
        raise ValueError(msg)
    wanted = windows.times[issue_index]
    issued = pd.DatetimeIndex(forecast["issue_time"].values)
    if forecast.sizes["horizon"] != windows.horizon or not issued.equals(wanted):
        msg = (f"Forecast {label!r} is issued at {len(issued)} dates with "
               f"{forecast.sizes['horizon']} steps; the period scored needs the {len(wanted)} "
               f"issue dates {wanted[0].date()} to {wanted[-1].date()} with "
               f"{windows.horizon} steps. Forecast exactly the issue dates of "
               "predict(run, stack, issues=split) with the same window and horizon.")
        raise ValueError(msg)
    for dim in spatial:
        ours = stack[dim].values if dim in stack.coords else np.arange(stack.sizes[dim])
        theirs = (forecast[dim].values if dim in forecast.coords
                  else np.arange(forecast.sizes[dim]))
        if len(ours) != len(theirs) or not np.array_equal(ours, theirs):
            msg = (f"Forecast {label!r} has other {dim!r} coordinates than the stack "
                   f"({len(theirs)} vs {len(ours)} values); forecast the stack's own pixels.")
            raise ValueError(msg)
    values = forecast[FORECAST].values
    return values.reshape(*values.shape[:2], -1)


def check_coverage(forecast: xr.Dataset, stack: xr.Dataset, *,
                   max_nan_fraction: float = 0.5, min_observed: float | None = None) -> None:
    """Refuse forecasts that are NaN for more than ``max_nan_fraction`` of the observed pixels.

    A pixel counts as observed when the stack has a finite displacement there at some date; it
    has a forecast when any (issue date, step) of it is finite. NaN forecasts come from input
    windows with too few observations (fewer than the run's ``min_observed`` fraction).

    Raises
    ------
    ValueError
        With the number of pixels without a forecast, a few of them, and why.

    Example
    -------
    >>> check_coverage(predict(run, stack, issues="last"), stack)  # doctest: +SKIP
    """
    if not 0 <= max_nan_fraction <= 1:
        msg = f"max_nan_fraction={max_nan_fraction} (--max-nan-fraction) must lie in [0, 1]."
        raise ValueError(msg)
    spatial = [d for d in forecast[FORECAST].dims if d not in ("issue_time", "horizon")]
    observed = np.isfinite(stack["displacement"].values).any(axis=0).reshape(-1)
    covered = np.isfinite(forecast[FORECAST].values).any(axis=(0, 1)).reshape(-1)
    missing = observed & ~covered
    n_observed = int(observed.sum())
    if not n_observed or (missing.sum() <= max_nan_fraction * n_observed and covered.any()):
        return
    issue = pd.DatetimeIndex(forecast["issue_time"].values)
    dates = (f"issue date {issue[0].date()}" if len(issue) == 1 else
             f"issue dates {issue[0].date()} to {issue[-1].date()}")
    needs = (f" (at least {min_observed:.0%} of each input window must be observed)"
             if min_observed is not None else "")
    if not covered.any():
        msg = (f"Every forecast is NaN: at {dates} no pixel has enough observed acquisitions in "
               f"its input window{needs}. Check the data for gaps (NaN) at those dates, or "
               "choose other --issues.")
        raise ValueError(msg)
    labels = np.stack(np.meshgrid(*[forecast[d].values for d in spatial], indexing="ij"),
                      axis=-1).reshape(-1, len(spatial))[missing][:5]
    shown = ", ".join("(" + ", ".join(map(str, row)) + ")" for row in labels)
    msg = (f"{int(missing.sum())} of {n_observed} observed pixels "
           f"({missing.sum() / n_observed:.0%}, more than --max-nan-fraction "
           f"{max_nan_fraction:g}) have no forecast at {dates}, e.g. {'/'.join(spatial)} "
           f"{shown}: their input windows have too many gaps{needs}. Check the data, choose "
           "other --issues, or raise --max-nan-fraction to accept them.")
    raise ValueError(msg)


#: Extensions of the NetCDF files gler writes (forecasts, maps, alerts).
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def save_forecast(forecast: xr.Dataset, path: str | Path) -> Path:
    """Write forecasts as NetCDF (``.nc``) or Zarr (``.zarr``), chosen by the extension. Zarr is
    written in format 2 with consolidated metadata where xarray can choose (zarr 3 reads and
    writes it): the store that most readers open, without the warning that consolidated
    metadata in format 3 gives.

    Raises
    ------
    ValueError
        For another extension.
    """
    path = Path(path)
    if path.suffix == ".zarr":
        choose = "zarr_format" in inspect.signature(forecast.to_zarr).parameters
        forecast.to_zarr(path, mode="w", **({"zarr_format": 2} if choose else {}))
    elif path.suffix in NETCDF_SUFFIXES:
        path.parent.mkdir(parents=True, exist_ok=True)
        forecast.to_netcdf(path)
    else:
        msg = f"Unknown output format for {path}; use a .nc (NetCDF) or .zarr (Zarr) path."
        raise ValueError(msg)
    return path


def nearest_position(times: pd.DatetimeIndex | np.ndarray, date: str | pd.Timestamp) -> int:
    """Position in ``times`` of the date nearest ``date`` (the first one on a tie).

    Example
    -------
    >>> nearest_position(pd.to_datetime(["2022-07-22", "2022-08-03"]), "2022-08-01")
    1
    """
    return int(abs(pd.DatetimeIndex(times) - pd.Timestamp(date)).argmin())


def issue_for(forecast: xr.Dataset, target_date: str | pd.Timestamp, horizon: int = 1) -> int:
    """Position of the issue date whose forecast ``horizon`` steps ahead is valid nearest
    ``target_date``: the ``issue`` of a map or profile of that date (:mod:`gler.plot`).

    Parameters
    ----------
    forecast
        Output of :func:`predict` (with its ``target_time`` coordinate).
    target_date
        The date the shown forecast should be valid for.
    horizon
        Steps ahead of the shown forecast.

    Example
    -------
    >>> fc = predict(run, stack, issues="test")  # doctest: +SKIP
    >>> plot.plot_observed_predicted(stack, fc, issue=issue_for(fc, "2022-08-20"))  # doctest: +SKIP
    """
    return nearest_position(forecast["target_time"].sel(horizon=horizon).to_index(), target_date)
