"""The book builds from its committed notebooks with no Sphinx warning (``-W``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gler.reproduce import jupyter_book_command

ROOT = Path(__file__).resolve().parents[1]


def test_committed_chapters_have_no_error_output():
    """Published notebooks carry outputs of a clean run: no error output in any chapter."""
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert chapters, "no chapter notebooks in book/"
    for path in chapters:
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
    assert (tmp_path / "_build" / "html" / "book" / "08_comparison.html").is_file()
