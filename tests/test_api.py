"""Tests for the public API re-exported by ``gler``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gler


@pytest.mark.parametrize("name", sorted(set(gler.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    """Each name in ``gler.__all__`` is importable from the top-level package."""
    assert getattr(gler, name) is not None


def test_names_are_not_shadowed_by_submodules():
    """After every submodule is imported, each public name is still the object it names."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(gler.__path__, "gler."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name, module in gler._EXPORTS.items():
        assert getattr(gler, name) is getattr(importlib.import_module(module), name), name


def test_unknown_attribute_is_an_attribute_error():
    """A misspelt name raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        _ = gler.simulat


def test_import_does_not_load_torch():
    """``import gler`` stays light: torch is imported only when a model is asked for."""
    code = "import sys, gler; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
