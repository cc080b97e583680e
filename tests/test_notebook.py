"""Tests for the helpers the book's chapters call (gler.notebook)."""

from __future__ import annotations

import time

from gler import __version__
from gler.notebook import provenance


def test_provenance_names_what_ran():
    """The profile, the versions and, given the chapter's start, its wall time."""
    info = provenance("smoke", time.perf_counter() - 2.0)
    assert info["profile"] == "smoke" and info["gler"] == __version__
    assert {"device", "cpu", "torch", "numpy", "xarray", "pandas", "matplotlib"} <= set(info)
    assert float(info["wall time"].removesuffix(" s")) >= 2.0
    assert "wall time" not in provenance("smoke")
