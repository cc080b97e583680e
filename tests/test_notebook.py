"""Tests for the helpers the book's chapters call (gler.notebook)."""

from __future__ import annotations

import time

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _tiny_profile import TINY

from gler import __version__
from gler.experiment import Experiment
from gler.notebook import FIGURE_DPI, pick_window, provenance, start_chapter


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


def test_pick_window_trains_the_run_and_takes_the_nearest_acquisition(tmp_path):
    """The run is trained once and reused; the window is the chosen pixel's, in mm, ending on
    the acquisition nearest the date asked for, and the module outputs are of that window."""
    exp = Experiment(TINY, root=tmp_path)
    times = exp.stack("beiluhe").indexes["time"]
    asked = times[60] + pd.Timedelta(days=2)
    picked = pick_window(exp, "beiluhe", pixel_class="meadow", issue=str(asked.date()))
    assert exp.is_done("beiluhe", "gler", 0)
    assert picked.issue_date == times[60] == picked.window.dates[-1]
    row, col = picked.pixels["meadow"]
    observed = picked.stack["displacement"].isel(y=row, x=col).sel(time=picked.window.dates)
    np.testing.assert_allclose(picked.window.sd_mm, observed.values, rtol=1e-5)
    assert picked.outputs["head"].shape == (1, TINY.sample.horizon)
    assert str(picked) == (f"gler on beiluhe, seed 0; window of pixel {(row, col)} (meadow) "
                           f"ending {times[60].date()}")
    with pytest.raises(ValueError, match="no pixel of class 'glacier'"):
        pick_window(exp, "beiluhe", pixel_class="glacier")


def test_peer_forecasts_say_how_to_install_the_extra(monkeypatch, capsys):
    """Without neuralforecast the chapter gets no peers and one line with the install
    command; steps=0 skips them silently."""
    import sys

    from gler import notebook

    class NoPeers:
        def peer_forecasts(self, region, params):
            from gler.peers import require_neuralforecast

            return require_neuralforecast()

    monkeypatch.setitem(sys.modules, "neuralforecast", None)
    assert notebook.peer_forecasts(NoPeers(), ["a"], steps=10) == {}
    assert 'pip install "gler[peers]"' in capsys.readouterr().out
    assert notebook.peer_forecasts(NoPeers(), ["a"], steps=0) == {}
    assert capsys.readouterr().out == ""
