"""Tests for the face of gler.plot: every figure importable from it, and the plot layer kept
apart from the simulator and from torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from gler import plot

PACKAGE = Path(plot.__file__).parent
SIMULATOR = "gler.data.qtrsim"

#: The figures of gler.plot (the former gler/plot.py and gler/plot_alerts.py, and later ones).
FIGURES = ("CLASS_COLOURS", "FREE_COLOURS", "MODEL_COLOURS", "NATURAL_EARTH",
           "embankment_transect", "map_axes", "model_palette", "natural_earth_path",
           "panel_grid", "plot_alert_maps", "plot_attention", "plot_feature_maps", "plot_folds",
           "plot_forecast_series", "plot_horizon_errors", "plot_learning_curves",
           "plot_interval_series", "plot_map",
           "plot_observed_predicted", "plot_overview_map", "plot_parameter_map", "plot_pit",
           "plot_pixel_series", "plot_reliability", "plot_splits", "plot_stability",
           "plot_training_curves", "plot_transect", "quicklook", "representative_pixels")


def _imported_modules(path: Path) -> set[str]:
    """The modules named by a source file's imports, at any depth (inside functions too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_every_figure_is_importable_from_gler_plot():
    assert set(FIGURES) == set(plot.__all__)
    for name in FIGURES:
        assert getattr(plot, name) is not None, name
    assert not (PACKAGE.parent / "plot_alerts.py").exists(), "no shim of the former module"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.stem)
def test_plot_modules_do_not_import_the_simulator(path):
    """Nothing from gler.data.qtrsim, nor from the face of gler.data that re-exports it."""
    modules = _imported_modules(path)
    assert not [m for m in modules if m.startswith(SIMULATOR)], modules
    assert "gler.data" not in modules, "take data-layer modules, not the face of gler.data"


def test_import_loads_neither_the_simulator_nor_torch():
    code = ("import sys, gler.plot; print(sorted(m for m in sys.modules "
            "if m.startswith('gler.data') or m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
