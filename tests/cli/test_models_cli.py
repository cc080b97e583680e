"""Tests for ``gler models``: the registry on the command line."""

from __future__ import annotations

from gler.cli import main
from gler.models import list_models


def test_cli_lists_models(capsys):
    """`gler models` prints every registered name with kind, EF use and parameter count."""
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_models())
    assert "31,206" in out  # gler at the default size with n_ef=5
    assert main(["models", "--kind", "classical"]) == 0
    assert "gler" not in capsys.readouterr().out.split("\n", 1)[1]
