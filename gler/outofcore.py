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

:func:`gler.data.synthetic.make_synthetic_frame` writes a large test frame to Zarr tile by tile
without holding it in memory.
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

from gler.data.model import DISPLACEMENT, spatial_dims
from gler.forecast import FORECAST, predict
from gler.run import Run, load_run

logger = logging.getLogger(__name__)


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
