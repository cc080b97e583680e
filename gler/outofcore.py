"""Forecast frames larger than memory: a Zarr stack read lazily, forecast chunk by chunk.

A Sentinel-1 frame at 90 m is about 6 million pixels × 200 dates (≈5 GB as float32); at 30 m
ten times that. :func:`forecast_zarr` opens such a stack with xarray + Dask, splits it into
spatial chunks that keep the whole time axis (a forecast needs the full series of a pixel and
nothing of its neighbours), runs :func:`gler.forecast.predict` on each chunk and writes each
chunk's forecast to a Zarr store as soon as it is done. Peak memory is therefore set by the
chunk size and the number of chunks in flight, not by the frame.

Every chunk goes through the same :func:`~gler.forecast.predict` as an in-memory forecast
(the run's :class:`~gler.data.scaling.Scaler`, its model, its window/horizon and
``min_observed`` rule), so a chunked forecast equals the in-memory one pixel for pixel.

The same code runs

- on one machine with Dask's threaded scheduler (the default; a progress bar from
  :class:`dask.diagnostics.ProgressBar`),
- on a ``dask.distributed`` cluster (a :class:`~distributed.LocalCluster` of several processes
  or a real one): pass ``client=`` or have a default client active,
- on a GPU (``device="cuda"``): use large spatial chunks and a large ``batch_size`` so each
  model call fills the device.

:func:`make_synthetic_frame` writes a large test frame to Zarr tile by tile without holding it
in memory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import torch
import xarray as xr
from dask.diagnostics import ProgressBar

from gler.data.degree_days import degree_days
from gler.data.model import DISPLACEMENT, DISPLACEMENT_ATTRS, spatial_dims
from gler.forecast import FORECAST, predict
from gler.run import Run, load_run

logger = logging.getLogger(__name__)

#: Factors written by :func:`make_synthetic_frame` (scene-wide, one value per acquisition).
FRAME_FACTORS = ("air_temperature", "thawing_degree_days", "freezing_degree_days")


# -- a large synthetic frame --------------------------------------------------------------------

def _frame_climate(times: pd.DatetimeIndex, interval_days: int) -> dict[str, np.ndarray]:
    """Scene-wide factors on the acquisition dates from a Beiluhe-like daily air temperature.

    Daily mean air temperature ``-4 + 12 cos(2π (doy - 200) / 365.25)`` degC (mean annual
    -4 degC, warmest in mid-July), aggregated as the mean over each acquisition interval;
    degree-days from :func:`gler.data.degree_days.degree_days` on the acquisition dates.
    """
    days = pd.date_range(times[0] - pd.Timedelta(days=interval_days), times[-1], freq="D",
                         unit="ns")
    doy = days.day_of_year.to_numpy()
    temp = -4.0 + 12.0 * np.cos(2 * np.pi * (doy - 200) / 365.25)
    ddt, ddf = degree_days(temp, days)
    pick = days.get_indexer(times)
    csum = np.concatenate([[0.0], np.cumsum(temp)])
    mean = (csum[pick + 1] - csum[pick + 1 - interval_days]) / interval_days
    return {"air_temperature": mean, "thawing_degree_days": ddt[pick],
            "freezing_degree_days": ddf[pick]}


def _frame_tile(rows: np.ndarray, cols: np.ndarray, climate: dict[str, np.ndarray],
                years: np.ndarray, *, seed: int, tile: tuple[int, int], noise_mm: float,
                gap_probability: float) -> np.ndarray:
    """Displacement ``[T, ny, nx]`` (mm, float32) of one tile; deterministic per (seed, tile).

    Per pixel: a linear trend (a smooth velocity field plus a random part, mm/yr) and a
    Stefan-type seasonal term ``-a sqrt(DDT) + b sqrt(DDF)`` (thaw settlement, frost heave),
    white noise and missing values, relative to the first acquisition (never missing).
    """
    rng = np.random.default_rng([seed, *tile])
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    velocity = (-8.0 + 5.0 * np.sin(yy / 300.0) * np.cos(xx / 400.0)
                + rng.normal(0.0, 2.0, yy.shape))
    thaw = rng.uniform(0.2, 1.0, yy.shape)
    heave = thaw * rng.uniform(0.5, 0.9, yy.shape)
    sqrt_ddt = np.sqrt(climate["thawing_degree_days"])[:, None, None]
    sqrt_ddf = np.sqrt(climate["freezing_degree_days"])[:, None, None]
    clean = (velocity * years[:, None, None] - thaw * sqrt_ddt + heave * sqrt_ddf)
    values = clean - clean[:1] + rng.normal(0.0, noise_mm, clean.shape)
    values[0] = 0.0
    gaps = rng.random(values.shape) < gap_probability
    gaps[0] = False
    values[gaps] = np.nan
    return values.astype(np.float32)


def _frame_factors(times: pd.DatetimeIndex, interval_days: int) -> dict[str, tuple]:
    climate = _frame_climate(times, interval_days)
    attrs = {
        "air_temperature": {"units": "degC", "aggregation": "mean",
                            "long_name": "air temperature"},
        "thawing_degree_days": {"units": "degC day", "long_name": "thawing degree-days"},
        "freezing_degree_days": {"units": "degC day", "long_name": "freezing degree-days"},
    }
    return {name: (("time",), climate[name].astype(np.float32), attrs[name])
            for name in FRAME_FACTORS}


def synthetic_stack(*, ny: int = 100, nx: int = 100, nt: int = 180, seed: int = 0,
                    start: str = "2017-01-01", interval_days: int = 12,
                    pixel_spacing: float = 90.0, noise_mm: float = 2.0,
                    gap_probability: float = 0.02) -> xr.Dataset:
    """The in-memory version of :func:`make_synthetic_frame` (one tile), for small frames.

    Parameters are those of :func:`make_synthetic_frame`; the values equal those of a frame
    written with ``chunks=(ny, nx)``.

    Returns
    -------
    xarray.Dataset
        A stack ``(time, y, x)`` with ``displacement`` and the factors :data:`FRAME_FACTORS`.

    Example
    -------
    >>> synthetic_stack(ny=4, nx=5, nt=40)["displacement"].shape
    (40, 4, 5)
    """
    times = pd.date_range(start, periods=nt, freq=f"{interval_days}D", unit="ns")
    factors = _frame_factors(times, interval_days)
    years = np.asarray((times - times[0]) / pd.Timedelta(days=365.25))
    climate = {name: value[1].astype(np.float64) for name, value in factors.items()}
    values = _frame_tile(np.arange(ny), np.arange(nx), climate, years, seed=seed, tile=(0, 0),
                         noise_mm=noise_mm, gap_probability=gap_probability)
    return xr.Dataset(
        {DISPLACEMENT: (("time", "y", "x"), values, DISPLACEMENT_ATTRS), **factors},
        coords={"time": times, "y": pixel_spacing * np.arange(ny),
                "x": pixel_spacing * np.arange(nx)},
        attrs={"title": "gler synthetic frame (trend + Stefan seasonal + noise)",
               "seed": seed, "noise_sigma_mm": noise_mm},
    )


def make_synthetic_frame(path: str | Path, *, ny: int = 2000, nx: int = 2000, nt: int = 180,
                         chunks: tuple[int, int] = (250, 250), seed: int = 0,
                         start: str = "2017-01-01", interval_days: int = 12,
                         pixel_spacing: float = 90.0, noise_mm: float = 2.0,
                         gap_probability: float = 0.02, progress: bool = False) -> Path:
    """Write a large synthetic stack to Zarr one spatial tile at a time.

    A simple, documented generator rather than QTR-sim (whose fields and climate are built for
    one region at a time and would take minutes per frame): per pixel a linear trend from a
    smooth velocity field plus noise, a Stefan-type freeze–thaw term driven by scene-wide
    degree-days, white noise of ``noise_mm`` and randomly missing values. The factors
    :data:`FRAME_FACTORS` are scene-wide (dims ``("time",)``). Only one tile
    (``nt × chunks``) is in memory at a time, so any frame size can be written. The result is
    deterministic for a ``seed`` and the same ``chunks``.

    Parameters
    ----------
    path
        The ``.zarr`` store to (over)write.
    ny, nx, nt
        Frame size: rows, columns and acquisitions.
    chunks
        Spatial tile (rows, columns): the unit of writing and the Zarr chunk (time is whole).
    seed
        Seed; each tile draws from ``(seed, tile row, tile column)``.
    start, interval_days
        First acquisition and the repeat interval.
    pixel_spacing
        Pixel size in metres (the ``y``/``x`` coordinates).
    noise_mm, gap_probability
        Noise standard deviation and the probability of a missing value.
    progress
        Show a progress bar over tiles.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On non-positive sizes or chunks.

    Example
    -------
    >>> make_synthetic_frame("frame.zarr", ny=500, nx=500)  # doctest: +SKIP
    """
    sizes = {"ny": ny, "nx": nx, "nt": nt, "chunk rows": chunks[0], "chunk columns": chunks[1],
             "interval_days": interval_days}
    bad = [f"{k}={v!r}" for k, v in sizes.items() if not isinstance(v, int) or v < 1]
    if bad:
        msg = f"make_synthetic_frame needs positive integer sizes; got {', '.join(bad)}."
        raise ValueError(msg)
    from tqdm.auto import tqdm

    path = Path(path)
    times = pd.date_range(start, periods=nt, freq=f"{interval_days}D", unit="ns")
    factors = _frame_factors(times, interval_days)
    climate = {name: value[1].astype(np.float64) for name, value in factors.items()}
    years = np.asarray((times - times[0]) / pd.Timedelta(days=365.25))
    cy, cx = min(chunks[0], ny), min(chunks[1], nx)
    skeleton = xr.Dataset(
        {DISPLACEMENT: (("time", "y", "x"),
                        da.zeros((nt, ny, nx), dtype=np.float32, chunks=(nt, cy, cx)),
                        DISPLACEMENT_ATTRS), **factors},
        coords={"time": times, "y": pixel_spacing * np.arange(ny),
                "x": pixel_spacing * np.arange(nx)},
        attrs={"title": "gler synthetic frame (trend + Stefan seasonal + noise)",
               "seed": seed, "noise_sigma_mm": noise_mm},
    )
    # Metadata and the small variables now; the displacement chunks one region at a time.
    skeleton.to_zarr(path, mode="w", compute=False, consolidated=False)
    tiles = [(i, j) for i in range(0, ny, cy) for j in range(0, nx, cx)]
    for i, j in tqdm(tiles, desc="synthetic frame", unit="tile", disable=not progress):
        rows, cols = np.arange(i, min(i + cy, ny)), np.arange(j, min(j + cx, nx))
        values = _frame_tile(rows, cols, climate, years, seed=seed, tile=(i // cy, j // cx),
                             noise_mm=noise_mm, gap_probability=gap_probability)
        tile = xr.Dataset({DISPLACEMENT: (("time", "y", "x"), values)})
        region = {"time": slice(0, nt), "y": slice(rows[0], rows[-1] + 1),
                  "x": slice(cols[0], cols[-1] + 1)}
        tile.to_zarr(path, region=region, consolidated=False)
    return path


# -- chunked forecasts ----------------------------------------------------------------------------

def _forecast_block(block: xr.Dataset, *, run: Run, issues: Any, batch_size: int | None,
                    device: str, num_threads: int | None) -> xr.Dataset:
    """The forecast of one spatial chunk, through the same :func:`predict` as in memory."""
    if num_threads:
        torch.set_num_threads(num_threads)
    forecast = predict(run, block, issues=issues, batch_size=batch_size, device=device)
    keep = {"issue_time", "horizon", "target_time", *block.dims}
    return forecast[[FORECAST]].drop_vars([c for c in forecast.coords if c not in keep])


def _spatial_chunks(ds: xr.Dataset, chunks: int | dict[str, int] | None) -> dict[str, int]:
    spatial = spatial_dims(ds)
    if chunks is None:
        stored = ds[DISPLACEMENT].encoding.get("chunks") or ds[DISPLACEMENT].encoding.get(
            "preferred_chunks")
        if isinstance(stored, dict):
            return {d: int(stored[d]) for d in spatial}
        if stored:
            return dict(zip(spatial, (int(c) for c in stored[1:]), strict=True))
        return {d: ds.sizes[d] for d in spatial}
    if isinstance(chunks, int):
        chunks = dict.fromkeys(spatial, chunks)
    unknown = sorted(set(chunks) - set(spatial))
    if unknown or any(not isinstance(v, int) or v < 1 for v in chunks.values()):
        msg = (f"chunks must be a positive int or a dict over the spatial dims {spatial}; got "
               f"{chunks!r}. Time is always one chunk (a forecast needs the whole series).")
        raise ValueError(msg)
    return {d: int(chunks.get(d, ds.sizes[d])) for d in spatial}


def open_frame(source: str | Path | xr.Dataset, run: Run, *,
               chunks: int | dict[str, int] | None = None) -> xr.Dataset:
    """The displacement and the run's factors of ``source``, lazily, in spatial chunks.

    Parameters
    ----------
    source
        A Zarr store path or a (lazy) dataset in the data model.
    run
        The run whose factors are needed.
    chunks
        Spatial chunk size (one int for every spatial dim, or a dict); None: the store's own
        chunks. Time is always one chunk.

    Returns
    -------
    xarray.Dataset
        Dask-backed, chunked ``(time: all, *spatial: chunks)``; lat/lon kept as coordinates.

    Raises
    ------
    ValueError
        If the source lacks the displacement or the run's factors, or ``chunks`` is invalid.
    """
    ds = source if isinstance(source, xr.Dataset) else xr.open_zarr(source, consolidated=False)
    missing = [v for v in (DISPLACEMENT, *run.factors) if v not in ds]
    if missing:
        msg = (f"The frame lacks {', '.join(missing)} needed by run {run.model_name!r} "
               f"(variables present: {', '.join(map(str, ds.data_vars))}).")
        raise ValueError(msg)
    ds = ds[[DISPLACEMENT, *run.factors]]
    sizes = _spatial_chunks(ds, chunks)
    return ds.chunk({"time": -1, **sizes})


def forecast_zarr(run: Run | str | Path, source: str | Path | xr.Dataset, out: str | Path, *,
                  issues: str | Sequence = "last", chunks: int | dict[str, int] | None = None,
                  batch_size: int | None = None, device: str = "cpu",
                  num_threads: int | None = None, workers: int = 1, client: Any = None,
                  progress: bool = True) -> xr.Dataset:
    """Forecast a frame stored in Zarr chunk by chunk and write the forecasts to Zarr.

    Memory is bounded by ``workers`` chunks in flight: each holds its ``T × chunk`` slice of
    the displacement (float32) plus about four times that in the windowing arrays of
    :class:`~gler.data.windows.WindowDataset`. A 250 × 250 × 180 chunk is 45 MB, so about
    0.25 GB per worker.

    Parameters
    ----------
    run
        A run directory or a loaded :class:`~gler.run.Run` (neural or classical).
    source
        A Zarr store (or a lazy dataset) in the data model with the run's factors.
    out
        The output ``.zarr`` store (overwritten): ``forecast`` (issue_time, horizon,
        *spatial), chunked like the input in space.
    issues
        Issue dates, as in :func:`gler.forecast.predict`; default ``"last"`` (the forecast
        beyond the last acquisition). ``"all"`` writes every issue date, H maps each.
    chunks
        Spatial chunk size (see :func:`open_frame`).
    batch_size
        Samples per model call (neural runs); default that of :func:`gler.forecast.predict`
        for the device (256 on a CPU, 65,536 on a GPU).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    num_threads
        Torch intra-op threads in each worker (None: leave torch's setting). With several
        worker threads, 1 avoids oversubscribing the cores.
    workers
        Threads of the local threaded scheduler (ignored on a distributed cluster).
    client
        A ``distributed.Client``; None uses the default client if one is active, else the
        local threaded scheduler.
    progress
        Show a progress bar over chunks.

    Returns
    -------
    xarray.Dataset
        The written forecasts, opened lazily from ``out``.

    Raises
    ------
    ValueError
        If the frame lacks the run's factors or the settings are invalid.

    Example
    -------
    >>> fc = forecast_zarr("runs/frame-gler", "frame.zarr", "forecast.zarr")  # doctest: +SKIP
    >>> fc.forecast.sel(horizon=6).isel(issue_time=0).plot()  # doctest: +SKIP
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        msg = f"batch_size must be a positive integer; got {batch_size!r}."
        raise ValueError(msg)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers must be a positive integer; got {workers!r}."
        raise ValueError(msg)
    run = run if isinstance(run, Run) else load_run(run)
    frame = open_frame(source, run, chunks=chunks)
    coords = {name: frame.coords[name] for name in frame.coords
              if name not in frame.dims and name != "time"}
    frame = frame.reset_coords(drop=True)
    spatial = spatial_dims(frame)
    # The issue dates, horizons and target dates from one pixel: the same for every chunk.
    probe = _forecast_block(frame.isel(dict.fromkeys(spatial, slice(0, 1))).load(), run=run,
                            issues=issues, batch_size=batch_size, device=device,
                            num_threads=num_threads)
    shape = (probe.sizes["issue_time"], probe.sizes["horizon"],
             *(frame.sizes[d] for d in spatial))
    block_chunks = (shape[0], shape[1], *(frame.chunksizes[d] for d in spatial))
    template = xr.Dataset(
        {FORECAST: (("issue_time", "horizon", *spatial),
                    da.empty(shape, dtype=np.float32, chunks=block_chunks),
                    probe[FORECAST].attrs)},
        coords={**{c: probe.coords[c] for c in ("issue_time", "horizon", "target_time")},
                **{d: frame.coords[d] for d in spatial if d in frame.coords}},
    )
    result = xr.map_blocks(_forecast_block, frame, template=template, kwargs={
        "run": run, "issues": issues, "batch_size": batch_size, "device": device,
        "num_threads": num_threads})
    result = result.assign_coords(coords)
    result.attrs.update(_frame_attrs(run, frame))
    n_chunks = int(np.prod(result[FORECAST].data.numblocks))
    logger.info("Forecasting %s pixels in %d chunks of %s with %s", f"{int(np.prod(shape[2:])):,}",
                n_chunks, dict(zip(spatial, block_chunks[2:], strict=True)), run.model_name)
    write = result.to_zarr(out, mode="w", compute=False, consolidated=False)
    _compute(write, client=client, workers=workers, progress=progress)
    return xr.open_zarr(out, consolidated=False)


def _frame_attrs(run: Run, frame: xr.Dataset) -> dict[str, Any]:
    """Provenance attributes of an out-of-core forecast."""
    return {"title": f"gler forecasts of model {run.model_name}", "model": run.model_name,
            "source": f"gler out-of-core forecast, model {run.model_name} ({run.kind})",
            "history": f"{pd.Timestamp.now('UTC').isoformat()} gler forecast_zarr",
            "run_dir": str(run.run_dir) if run.run_dir else "",
            "window": run.sample.window, "horizon_steps": run.sample.horizon,
            **{f"data_{k}": frame.attrs[k] for k in ("seed", "noise_sigma_mm")
               if k in frame.attrs}}


def _compute(delayed: Any, *, client: Any, workers: int, progress: bool) -> None:
    """Run the write graph on a distributed client if given or active, else on local threads."""
    if client is None:
        try:
            from distributed import default_client
            client = default_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        from distributed import progress as distributed_progress

        future = client.compute(delayed)
        if progress:
            distributed_progress(future)
        future.result()
        return
    with ProgressBar(minimum=1.0, dt=1.0) if progress else contextlib.nullcontext():
        dask.compute(delayed, scheduler="threads", num_workers=workers)
