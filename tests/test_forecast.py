"""Tests for gler.forecast: whole-scene forecasts, issue selection, output files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from _pipeline_stack import make_stack, register_tiny

from gler.config import TrainConfig
from gler.data.sample import SampleSpec
from gler.data.windows import WindowDataset
from gler.forecast import (
    STAGES,
    _predict,
    _to_device,
    issue_for,
    nearest_position,
    predict,
    resolve_issues,
    save_forecast,
)
from gler.run import classical_run, load_run
from gler.train import train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=2, batch_size=64, device="cpu",
                     pixel_fraction=1.0)


@pytest.fixture
def run_dir(tmp_path, stack, monkeypatch):
    name = register_tiny(monkeypatch)
    train(stack, name, CONFIG, out_dir=tmp_path / "run", sample=SAMPLE, progress=False)
    return tmp_path / "run"


def test_neural_forecast_dims_coords_and_values(run_dir, stack):
    """Dims, target_time, lat/lon and CF attrs; values equal a direct model call."""
    fc = predict(run_dir, stack, issues="test")
    assert fc.forecast.dims == ("issue_time", "horizon", "y", "x")
    assert fc.forecast.attrs["units"] == "mm" and fc.attrs["Conventions"] == "CF-1.8"
    assert {"lat", "lon"} <= set(fc.coords)
    times = pd.DatetimeIndex(stack.time.values)
    first = times.get_loc(pd.Timestamp(fc.issue_time.values[0]))
    assert fc.target_time.values[0, 2] == times[first + 3]
    assert np.isnan(fc.forecast.values[:, :, 0, 0]).all()  # the lake pixel
    assert np.isfinite(fc.forecast.values[:, :, 1:, :]).mean() > 0.95
    # The same sample through the model by hand.
    run = load_run(run_dir)
    windows = WindowDataset(stack, window=12, horizon=3)
    index = windows.indices(issues=np.array([first]))
    batch = windows.batch(index)
    from gler.run import to_tensors

    sd, ef, mask = to_tensors(run.scaler, batch, "cpu")
    expected = run.scaler.inverse(run.model(sd, ef, mask).detach().numpy(), batch.anchor)
    got = fc.forecast.values[0].reshape(3, -1)[:, batch.pixel].T
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_last_issue_extrapolates_target_dates(run_dir, stack):
    """Forecasting from the last date gives future target dates at the 12-day step."""
    fc = predict(run_dir, stack, issues="last")
    last = pd.Timestamp(stack.time.values[-1])
    assert pd.Timestamp(fc.target_time.values[0, 0]) == last + pd.Timedelta(days=12)
    assert np.isfinite(fc.forecast.values).any()


def test_points_and_classical_baseline():
    """A (time, point) stack and a classical baseline give (issue, horizon, point)."""
    stack = make_stack(points=True)
    run = classical_run(stack, "persistence", SAMPLE)
    fc = predict(run, stack, issues="test")
    assert fc.forecast.dims == ("issue_time", "horizon", "point")
    windows = WindowDataset(stack, window=12, horizon=3)
    batch = windows.batch(windows.indices(issues=windows.issues("test")[:1]))
    np.testing.assert_allclose(fc.forecast.values[0, 0, batch.pixel], batch.anchor)



def test_issue_for_a_target_date(stack):
    """The issue whose forecast h steps ahead is valid nearest the date, not the issue nearest
    it; a tie goes to the earlier date."""
    fc = predict(classical_run(stack, "persistence", SAMPLE), stack, issues="test")
    target = pd.Timestamp(fc.target_time.values[4, 1])
    assert issue_for(fc, target, horizon=2) == 4
    assert issue_for(fc, target + pd.Timedelta(days=2), horizon=2) == 4
    assert issue_for(fc, target, horizon=1) == 5
    days = pd.to_datetime(["2020-01-01", "2020-01-11"])
    assert nearest_position(days, "2020-01-06") == 0
    assert nearest_position(days.values, pd.Timestamp("2020-01-07")) == 1

def test_stefan_gets_degree_days_and_skips_the_unknown_future(stack):
    """Stefan forecasts where the horizon's degree-days are known, NaN past the data."""
    run = classical_run(stack, "stefan", SAMPLE)
    fc = predict(run, stack, issues="all")
    assert np.isfinite(fc.forecast.isel(issue_time=0).values[:, 1:]).any()
    assert np.isnan(fc.forecast.isel(issue_time=-1).values).all()


def test_missing_factor_and_bad_issue_dates(run_dir, stack):
    """Data without the run's factors, and issue dates that are not acquisitions, are refused."""
    with pytest.raises(ValueError, match="air_temperature"):
        predict(run_dir, stack.drop_vars("air_temperature"))
    with pytest.raises(ValueError, match="not acquisition dates"):
        predict(run_dir, stack, issues=["2019-01-05"])
    with pytest.raises(ValueError, match="Unknown issue selection"):
        resolve_issues(WindowDataset(stack), "tomorrow")


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_by_extension(tmp_path, run_dir, stack, suffix):
    """NetCDF and Zarr round-trip, written and read back without a warning (Zarr: format 2,
    consolidated); another extension is refused."""
    fc = predict(run_dir, stack, issues="last")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_forecast(fc, tmp_path / f"fc{suffix}")
        back = (xr.open_zarr(path) if suffix == ".zarr" else xr.open_dataset(path)).load()
    np.testing.assert_array_equal(back.forecast.values, fc.forecast.values)
    with pytest.raises(ValueError, match=r"\.nc \(NetCDF\) or \.zarr"):
        save_forecast(fc, tmp_path / "fc.csv")


def test_scene_wide_factors_reach_gler_once_per_batch(tmp_path, stack):
    """With scene-wide factors predict hands GLER one factor window per batch ([1, L, E]),
    and the map equals GLER fed the same window for every pixel."""
    config = TrainConfig(epochs=1, batch_size=64, device="cpu",
                         pixel_fraction=1.0)
    train(stack, "gler", config, out_dir=tmp_path / "gler", sample=SAMPLE, progress=False)
    run = load_run(tmp_path / "gler")
    seen = []
    run.model.register_forward_pre_hook(lambda _, args: seen.append(args[1].shape[0]))
    fc = predict(run, stack, issues="last", batch_size=5)
    assert seen and set(seen) == {1}
    windows = WindowDataset(stack, window=12, horizon=3)
    batch = windows.batch(windows.indices(issues=np.array([len(stack.time) - 1])))
    from gler.run import to_tensors

    sd, ef, mask = to_tensors(run.scaler, batch, "cpu")
    assert ef.shape[0] == sd.shape[0] > 1
    with torch.no_grad():
        expected = run.scaler.inverse(run.model(sd, ef, mask).numpy(), batch.anchor)
    got = fc.forecast.values[0].reshape(3, -1)[:, batch.pixel].T
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def reference_forecast(run, stack, issues, batch_size: int) -> np.ndarray:
    """``[I, H, P]`` by the host route predict took before it ran on the device:
    WindowDataset.batch, Scaler.inputs (to_tensors), the model, Scaler.inverse."""
    from gler.run import to_tensors

    windows = run.windows(stack)
    issue_index = resolve_issues(windows, issues)
    shared = windows.ef.shape[0] == 1 and getattr(run.model, "accepts_shared_factors", False)
    out = np.full((len(issue_index), windows.horizon, windows.values.shape[0]), np.nan,
                  dtype=np.float32)
    for k, issue in enumerate(issue_index):
        index = windows.indices(issues=np.array([issue]))
        for begin in range(0, len(index), batch_size):
            batch = windows.batch(index, slice(begin, begin + batch_size))
            sd, ef, mask = to_tensors(run.scaler, batch, "cpu")
            with torch.no_grad():
                pred = run.model(sd, ef[:1] if shared else ef, mask).float().numpy()
            out[k][:, batch.pixel] = run.scaler.inverse(pred, batch.anchor).T
    return out


def gappy_stack(per_pixel: bool) -> xr.Dataset:
    """The pipeline stack with a pixel that loses a year (windows too gappy: NaN forecasts)
    and, with ``per_pixel``, thawing degree-days that differ between pixels."""
    stack = make_stack(ny=3, nx=5, seed=2)
    values = stack["displacement"].values.copy()
    values[100:140, 1, 1] = np.nan
    stack["displacement"] = (stack["displacement"].dims, values, stack["displacement"].attrs)
    if per_pixel:
        offset = xr.DataArray(np.arange(15, dtype=np.float32).reshape(3, 5), dims=("y", "x"))
        stack["thawing_degree_days"] = (stack["thawing_degree_days"] * (1 + offset / 10)
                                        ).transpose("time", "y", "x")
        stack["thawing_degree_days"].attrs["role"] = "factor"
    return stack


@pytest.mark.parametrize("per_pixel", [False, True], ids=["scene-wide", "per-pixel"])
@pytest.mark.parametrize("model", ["gler", "tiny"])
def test_device_path_equals_the_host_route_bit_for_bit(tmp_path, monkeypatch, model, per_pixel):
    """predict (windows gathered, normalised and de-normalised as tensors on the device) gives
    the host route's forecasts bit for bit on the CPU: shared factors (GLER embeds them once),
    one scene-wide window expanded (a model without shared factors), per-pixel factors; windows
    with too many gaps are NaN."""
    register_tiny(monkeypatch)
    stack = gappy_stack(per_pixel)
    config = TrainConfig(epochs=1, batch_size=64, device="cpu", pixel_fraction=1.0)
    train(stack, model, config, out_dir=tmp_path / model, sample=SAMPLE, progress=False)
    run = load_run(tmp_path / model)
    assert (run.windows(stack).ef.shape[0] > 1) == per_pixel
    fc = predict(run, stack, issues="all", batch_size=7)
    values = fc.forecast.values.reshape(*fc.forecast.shape[:2], -1)
    np.testing.assert_array_equal(values, reference_forecast(run, stack, "all", 7))
    windows = run.windows(stack)  # a year-long gap: issues 111-139 see no observation at (1, 1)
    gappy = pd.DatetimeIndex(fc.issue_time.values).isin(windows.times[111:140])
    assert gappy.sum() == 29 and np.isnan(fc.forecast.values[gappy][:, :, 1, 1]).all()
    assert np.isfinite(fc.forecast.values[:, :, 1, 2]).all()


def test_out_of_memory_halves_the_batch(run_dir, stack, caplog):
    """A CUDA out-of-memory error halves the batch, says so, and gives the same forecasts."""
    run = load_run(run_dir)
    expected = predict(run, stack, issues="test", batch_size=8).forecast.values
    model, sizes = run.model, []

    def forward(sd, ef, mask):
        sizes.append(len(sd))
        if len(sd) > 4:
            msg = "CUDA out of memory (simulated)"
            raise torch.cuda.OutOfMemoryError(msg)
        return model(sd, ef, mask)

    run.model = torch.nn.Module()
    run.model.forward = forward
    with caplog.at_level("WARNING", logger="gler.forecast"):
        got = predict(run, stack, issues="test", batch_size=16).forecast.values
    np.testing.assert_array_equal(got, expected)
    assert sizes[0] > 8 and sizes[1:3] == [8, 4] and max(sizes[3:]) <= 4  # 11 pixels
    assert "halving the batch to 8" in caplog.text and "halving the batch to 4" in caplog.text


def test_stages_are_marked_and_no_pixel_table_is_built(run_dir, stack, monkeypatch):
    """A neural run's predict marks its stages in order (forward and copy back per issue date)
    and never builds the windows' pixel-major table (it sends the dates as the stack holds
    them); the forecasts are predict's."""
    run = load_run(run_dir)
    expected = predict(run, stack, issues="test").forecast.values

    def refuse(self):
        msg = "predict built the pixel-major table"
        raise AssertionError(msg)

    monkeypatch.setattr(WindowDataset, "values", property(refuse))
    seen = []
    fc = _predict(run, stack, issues="test", batch_size=None, device="cpu", progress=False,
                  amp=False, mark=seen.append)
    np.testing.assert_array_equal(fc.forecast.values, expected)
    n_issues = len(fc.issue_time)
    assert n_issues > 1
    assert seen == ["host", "transfer", *["forward", "copy_back"] * n_issues, "xarray"]
    assert set(seen) == set(STAGES)


def test_host_arrays_reach_the_cpu_as_they_are():
    """On the CPU a float32 writable array is used in place (no copy); a read-only or float64
    one becomes a float32 copy with the same values."""
    cpu = torch.device("cpu")
    array = np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1:]
    tensor = _to_device(array, cpu)
    assert np.shares_memory(tensor.numpy(), array)
    locked = array.copy()
    locked.flags.writeable = False
    for other in (locked, array.astype(np.float64)):
        tensor = _to_device(other, cpu)
        assert tensor.dtype == torch.float32 and not np.shares_memory(tensor.numpy(), other)
        np.testing.assert_array_equal(tensor.numpy(), array)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_predict_equals_the_cpu(run_dir, stack):
    """On CUDA (float32; the inputs by way of pinned memory, strided and read-only arrays
    whole) the forecasts are the CPU's to float32 rounding, NaN where the CPU's are."""
    cuda = torch.device("cuda")
    array = np.arange(24, dtype=np.float32).reshape(4, 6)[1:3, ::2]
    locked = array.copy()
    locked.flags.writeable = False
    for host in (array, locked):
        np.testing.assert_array_equal(_to_device(host, cuda).cpu().numpy(), array)
    run = load_run(run_dir)
    cpu = predict(run, stack, issues="test", device="cpu").forecast.values
    gpu = predict(run, stack, issues="test", device="cuda", batch_size=7).forecast.values
    np.testing.assert_array_equal(np.isnan(gpu), np.isnan(cpu))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4)
