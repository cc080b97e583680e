"""Tests for gler.reproduce: chapter discovery, selection, data-error skips (tiny notebooks)."""

from __future__ import annotations

import nbformat
import pytest

from gler import reproduce as rp


def _notebook(path, source):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "book"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_list_and_select(tmp_path):
    """Chapters come in book order; numbers, stems and file names select them."""
    for name in ("02_data.ipynb", "10_more.ipynb", "A1_perf.ipynb", "01_intro.ipynb",
                 "notes.ipynb"):
        (tmp_path / name).touch()
    chapters = rp.list_chapters(tmp_path)
    assert [c.name for c in chapters] == ["01_intro.ipynb", "02_data.ipynb", "10_more.ipynb",
                                          "A1_perf.ipynb"]
    assert [c.stem for c in rp.select_chapters(chapters, ["2", "A1", "10_more.ipynb"])] == [
        "02_data", "10_more", "A1_perf"]
    assert rp.select_chapters(chapters, None) == chapters
    with pytest.raises(ValueError, match=r"Unknown chapter.*Available: 01_intro"):
        rp.select_chapters(chapters, ["07"])
    with pytest.raises(FileNotFoundError, match="No chapter notebooks"):
        rp.list_chapters(tmp_path / "empty")


def test_run_ok_skip_fail(tmp_path):
    """A clean chapter is replaced in place with the injected profile; a data error skips the
    chapter and a bug fails it, both leaving the committed notebook untouched."""
    book = tmp_path / "book"
    book.mkdir()
    ok = _notebook(book / "01_ok.ipynb", "print('profile is', profile)")
    offline = _notebook(book / "02_offline.ipynb",
                        "raise ConnectionError('cannot download menyuan')")
    broken = _notebook(book / "03_broken.ipynb", "1 / 0")
    before = offline.read_text(), broken.read_text()
    results = rp.reproduce(profile="smoke", book_dir=book, build=False, progress=False)
    assert [(r.chapter, r.status) for r in results] == [
        ("01_ok", "ok"), ("02_offline", "skipped"), ("03_broken", "failed")]
    assert "profile is smoke" in ok.read_text()
    assert "injected-parameters" not in ok.read_text()
    assert (offline.read_text(), broken.read_text()) == before
    assert "cannot download menyuan" in results[1].message
    assert "ZeroDivisionError" in results[2].log.read_text()
    with pytest.raises(ValueError, match="Unknown profile"):
        rp.reproduce(profile="nope", book_dir=book, build=False)
