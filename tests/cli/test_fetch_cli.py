"""Tests for ``gler fetch``: paths on stdout, a one-line error and exit 2 when it cannot deliver."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gler.cli import main
from gler.data import registry

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_fetch_prints_verified_paths(monkeypatch, capsys):
    """With GLER_DATA_DIR at the mirror the verified copies are printed, one per line."""
    mirror = Path(os.environ.get(registry.DATA_DIR_ENV) or MIRROR)
    if not (mirror / "menyuan").is_dir():
        pytest.skip(f"no Menyuan mirror at {mirror} (set GLER_DATA_DIR)")
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(mirror))
    assert main(["fetch", "menyuan"]) == 0
    lines = capsys.readouterr().out.split()
    assert [Path(p).name for p in lines] == list(registry.dataset_info("menyuan")["files"])


def test_fetch_unknown_and_corrupted_exit_nonzero(monkeypatch, tmp_path, capsys):
    """An unknown name or a tampered copy gives a one-line error and exit status 2."""
    assert main(["fetch", "nowhere"]) == 2
    assert "Unknown dataset 'nowhere'. Available: menyuan" in capsys.readouterr().err
    (tmp_path / "menyuan").mkdir()
    for fname in registry.dataset_info("menyuan")["files"]:
        (tmp_path / "menyuan" / fname).write_text("not the data\n")
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path))
    assert main(["fetch", "menyuan"]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and "GLER_DATA_DIR" in err


def test_fetch_list(capsys):
    """--list names the datasets."""
    assert main(["fetch", "--list"]) == 0
    assert capsys.readouterr().out.startswith("menyuan\t")
