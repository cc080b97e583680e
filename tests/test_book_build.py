"""The committed chapters hold their figures and point Colab at the repository; the book
builds from them with no Sphinx warning (``-W``), and every built page shows its images."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from gler.notebook import cells_missing_figures, image_count
from gler.reproduce import colab_urls, jupyter_book_command, repository_url

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9A-Z][0-9]_*.ipynb"))


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _without_images(notebook: dict) -> dict:
    """The notebook with every image output removed (what a non-inline backend publishes)."""
    cells = [{**c, "outputs": [o for o in c.get("outputs", [])
                               if not image_count({"outputs": [o]})]} for c in notebook["cells"]]
    return {**notebook, "cells": cells}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_chapter_holds_its_figures(path):
    """Every code cell that draws has an image output in the published run."""
    notebook = _read(path)
    assert cells_missing_figures(notebook) == [], f"{path.name}: cells that draw, no figure"
    if any(image_count(c) for c in notebook["cells"]):
        assert cells_missing_figures(_without_images(notebook)), "the check cannot fail"


def test_chapters_that_draw_are_checked():
    """The check sees drawing cells in every chapter but none: it is not vacuous."""
    drawing = [p.stem for p in CHAPTERS if cells_missing_figures(_without_images(_read(p)))]
    assert len(drawing) >= len(CHAPTERS) - 1, drawing


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_colab_cell_points_at_the_configured_repository(path):
    """The Colab cell installs from the repository URL of _config.yml (gler reproduce keeps it
    so after an edit of _config.yml)."""
    urls = colab_urls(_read(path))
    assert urls, f"{path.name} has no Colab cell"
    assert set(urls) == {repository_url(ROOT)}


def test_committed_chapters_have_no_error_output():
    """Published notebooks carry outputs of a clean run: no error output in any chapter."""
    assert CHAPTERS, "no chapter notebooks in book/"
    for path in CHAPTERS:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        errors = [o for c in notebook["cells"] for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{path.name} has error outputs: {errors[0].get('ename')}"
        tags = [c.get("metadata", {}).get("tags", []) for c in notebook["cells"]]
        assert sum("parameters" in t for t in tags) == 1, f"{path.name}: one parameters cell"


@pytest.mark.slow
def test_book_builds_without_warnings(tmp_path):
    """jupyter-book build . -W --keep-going succeeds into a temporary directory."""
    done = subprocess.run(
        [jupyter_book_command(), "build", str(ROOT), "-W", "--keep-going",
         "--path-output", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    for path in CHAPTERS:
        page = html / "book" / f"{path.stem}.html"
        assert page.is_file(), f"{page.name} was not built"
        images = re.findall(r'<img [^>]*src="([^"]+)"', page.read_text(encoding="utf-8"))
        figures = [src for src in images if "_images/" in src]
        expected = sum(image_count(c) for c in _read(path)["cells"])
        assert len(figures) >= expected, f"{page.name}: {len(figures)} of {expected} figures"
        missing = [src for src in figures if not (page.parent / src).resolve().is_file()]
        assert missing == [], f"{page.name} references images that were not written"
