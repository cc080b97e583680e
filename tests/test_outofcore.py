"""Out-of-core forecasts: chunked equals in-memory, chunks bound the work, LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

# The gler[dask] extra (in the test install; absent on a bare GPU machine).
pytest.importorskip("dask")
pytest.importorskip("zarr")

import gler.outofcore as outofcore
from gler.config import TrainConfig
from gler.data.sample import SampleSpec, resolve_split_dates
from gler.data.scaling import Scaler
from gler.data.synthetic import FRAME_FACTORS, make_synthetic_frame
from gler.data.windows import WindowDataset
from gler.forecast import predict
from gler.models import create_model
from gler.outofcore import forecast_zarr
from gler.run import Run, classical_run

NY, NX, NT, CHUNK = 12, 10, 60, 5
SMALL_GLER = {"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 4, "gru_hidden": 8}


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("frame") / "frame.zarr"
    make_synthetic_frame(path, ny=NY, nx=NX, nt=NT, chunks=(CHUNK, CHUNK), seed=3)
    return path


@pytest.fixture(scope="module")
def neural_run(frame) -> Run:
    stack = xr.open_zarr(frame, consolidated=False).load()
    factors = list(FRAME_FACTORS)
    sample = SampleSpec().resolved(factors, resolve_split_dates(stack["time"].values))
    windows = WindowDataset.from_spec(stack, sample)
    torch.manual_seed(0)
    model = create_model("gler", n_ef=len(factors), **SMALL_GLER).eval()
    return Run(run_dir=None, model_name="gler", kind="neural", model=model,
               train_config=TrainConfig(), sample=sample, scaler=Scaler.fit(windows), info={})


def test_classical_chunked_forecast_equals_in_memory(frame, tmp_path):
    stack = xr.open_zarr(frame, consolidated=False).load()
    run = classical_run(stack, "harmonic")
    out = forecast_zarr(run, frame, tmp_path / "fc.zarr", progress=False)
    expected = predict(run, stack, issues="last")
    assert out["forecast"].dims == ("issue_time", "horizon", "y", "x")
    np.testing.assert_array_equal(out["forecast"].values, expected["forecast"].values)
    np.testing.assert_array_equal(out["target_time"].values, expected["target_time"].values)
    assert np.isfinite(out["forecast"].values).all()


def test_neural_chunked_forecast_equals_in_memory_and_works_per_chunk(frame, neural_run,
                                                                        tmp_path, monkeypatch):
    seen: list[int] = []

    def spy(run, block, **kwargs):
        seen.append(block.sizes["y"] * block.sizes["x"])
        return predict(run, block, **kwargs)

    monkeypatch.setattr(outofcore, "predict", spy)
    out = forecast_zarr(neural_run, frame, tmp_path / "fc.zarr", issues="all", chunks=4,
                        workers=2, num_threads=1, progress=False)
    stack = xr.open_zarr(frame, consolidated=False).load()
    expected = predict(neural_run, stack, issues="all")
    np.testing.assert_allclose(out["forecast"].values, expected["forecast"].values,
                               rtol=1e-5, atol=1e-5)
    assert np.isfinite(out["forecast"].values).mean() > 0.9
    # Memory is bounded by the chunks: no model call saw more than one 4 x 4 chunk (the first
    # call is the one-pixel probe of the issue dates), and each chunk was forecast once.
    assert max(seen) <= 16
    assert len(seen) == 1 + 3 * 3
    assert xr.open_zarr(tmp_path / "fc.zarr", consolidated=False)["forecast"].encoding[
        "chunks"][2:] == (4, 4)


def test_chunk_threads_share_the_model_without_moving_it(frame, neural_run, tmp_path,
                                                        monkeypatch):
    """Chunks forecast in threads share one model, so predict leaves a model already on its
    device alone: Module.to() re-registers a GRU's weights, and a forward running in another
    thread then fails ("zip() argument 2 is longer than argument 1", seen on a 2,000 x 2,000
    frame with two worker threads)."""
    moved = []
    model = neural_run.model
    monkeypatch.setattr(model, "_apply", lambda fn, *args, **kwargs: moved.append(fn) or model)
    forecast_zarr(neural_run, frame, tmp_path / "fc.zarr", chunks=4, workers=2, num_threads=1,
                  progress=False)
    assert moved == []


def test_forecast_zarr_rejects_missing_factors_and_bad_chunks(frame, neural_run, tmp_path):
    stack = xr.open_zarr(frame, consolidated=False).drop_vars("air_temperature")
    with pytest.raises(ValueError, match="lacks air_temperature"):
        forecast_zarr(neural_run, stack, tmp_path / "fc.zarr", progress=False)
    with pytest.raises(ValueError, match="chunks must be a positive int"):
        forecast_zarr(neural_run, frame, tmp_path / "fc.zarr", chunks={"time": 5},
                      progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        forecast_zarr(neural_run, frame, tmp_path / "fc.zarr", batch_size=0, progress=False)


@pytest.mark.slow  # starting two worker processes that import torch takes 10-30 s on 2 cores
def test_local_cluster_of_processes_gives_the_same_forecast(frame, neural_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = forecast_zarr(neural_run, frame, tmp_path / "fc.zarr", client=client,
                            num_threads=1, progress=False)
        values = out["forecast"].values
    expected = predict(neural_run, xr.open_zarr(frame, consolidated=False).load(), issues="last")
    np.testing.assert_allclose(values, expected["forecast"].values, rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forecast_matches_cpu(frame, neural_run, tmp_path):
    cpu = forecast_zarr(neural_run, frame, tmp_path / "cpu.zarr", progress=False)
    gpu = forecast_zarr(neural_run, frame, tmp_path / "gpu.zarr", device="cuda",
                        batch_size=65536, progress=False)
    np.testing.assert_allclose(gpu["forecast"].values, cpu["forecast"].values, rtol=1e-4,
                               atol=1e-4)
