"""Tests for the helpers the book's chapters call (gler.notebook)."""

from __future__ import annotations

import time

import matplotlib
import pandas as pd

from gler import __version__
from gler.notebook import FIGURE_DPI, provenance, start_chapter


def test_start_chapter_sets_the_display_and_opens_the_experiment(tmp_path):
    """The book's figure resolution and float precision, and the profile's cached experiment."""
    with matplotlib.rc_context(), pd.option_context("display.precision", 6):
        exp = start_chapter("smoke", tmp_path, precision=2)
        assert matplotlib.rcParams["figure.dpi"] == FIGURE_DPI
        assert matplotlib.rcParams["savefig.dpi"] == FIGURE_DPI
        assert pd.get_option("display.precision") == 2
    assert exp.profile.name == "smoke" and exp.root == tmp_path


def test_provenance_names_what_ran():
    """The profile, the versions and, given the chapter's start, its wall time."""
    info = provenance("smoke", time.perf_counter() - 2.0)
    assert info["profile"] == "smoke" and info["gler"] == __version__
    assert {"device", "cpu", "torch", "numpy", "xarray", "pandas", "matplotlib"} <= set(info)
    assert float(info["wall time"].removesuffix(" s")) >= 2.0
    assert "wall time" not in provenance("smoke")
