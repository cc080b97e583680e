"""Tests for gler.data.synthetic: the large synthetic frame, tile by tile and in memory."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from gler.data.synthetic import FRAME_FACTORS, make_synthetic_frame, synthetic_stack

NY, NX, NT, CHUNK = 12, 10, 60, 5


def test_frame_is_written_in_chunks_and_matches_the_in_memory_generator(tmp_path):
    """Tiles are Zarr chunks; one tile covering the frame is exactly synthetic_stack."""
    frame = make_synthetic_frame(tmp_path / "frame.zarr", ny=NY, nx=NX, nt=NT,
                                 chunks=(CHUNK, CHUNK), seed=3)
    ds = xr.open_zarr(frame, consolidated=False)
    assert ds["displacement"].encoding["chunks"] == (NT, CHUNK, CHUNK)
    assert set(FRAME_FACTORS) <= set(ds.data_vars)
    values = ds["displacement"].values
    assert np.isfinite(values).mean() > 0.9
    assert np.all(values[0] == 0.0)
    # One tile covering the frame is exactly synthetic_stack: the generator is the same.
    whole = make_synthetic_frame(tmp_path / "one.zarr", ny=NY, nx=NX, nt=NT, chunks=(NY, NX),
                                 seed=3)
    xr.testing.assert_identical(xr.open_zarr(whole, consolidated=False).load(),
                                synthetic_stack(ny=NY, nx=NX, nt=NT, seed=3))


def test_frame_rejects_bad_sizes(tmp_path):
    """A size that is not a positive integer is named."""
    with pytest.raises(ValueError, match=r"positive integer sizes.*ny=0"):
        make_synthetic_frame(tmp_path / "bad.zarr", ny=0, nx=4, nt=10)
