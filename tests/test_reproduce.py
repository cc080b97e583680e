"""Tests for gler.reproduce: chapter discovery, selection, data-error skips (tiny notebooks)."""

from __future__ import annotations

import os
import shutil
import textwrap

import nbformat
import pytest

from gler import reproduce as rp
from gler.notebook import cells_missing_figures, image_count, load_or_skip


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


def test_figures_embedded_whatever_the_shell_backend(tmp_path, monkeypatch):
    """The shell's MPLBACKEND=Agg does not reach the chapter's kernel: the published chapter
    holds its figure, and the caller's environment is left as it was."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = tmp_path / "book"
    book.mkdir()
    chapter = _notebook(book / "01_draws.ipynb", "import matplotlib.pyplot as plt\n"
                        "fig, ax = plt.subplots()\nax.plot([1, 2])")
    [result] = rp.reproduce(profile="smoke", book_dir=book, build=False, progress=False)
    assert result.status == "ok"
    published = nbformat.read(chapter, as_version=4)
    assert [image_count(c) for c in published.cells] == [0, 1]
    assert cells_missing_figures(published) == []
    assert os.environ["MPLBACKEND"] == "Agg"


def test_chapter_without_its_figures_is_not_published(tmp_path):
    """A chapter that draws under a non-inline backend fails and keeps its committed version."""
    book = tmp_path / "book"
    book.mkdir()
    chapter = _notebook(book / "01_agg.ipynb", "import matplotlib\nmatplotlib.use('Agg')\n"
                        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nplt.show()")
    before = chapter.read_text()
    [result] = rp.reproduce(profile="smoke", book_dir=book, build=False, progress=False)
    assert (result.status, chapter.read_text()) == ("failed", before)
    assert "code cells 1 (counted from 0) draw but hold no figure" in result.message


def test_chapter_without_its_data_is_skipped_cleanly(tmp_path):
    """load_or_skip: one note, the later cells do nothing (the 1 / 0 never runs), the chapter
    is reported skipped with the loader's message and the committed one is kept."""
    book = tmp_path / "book"
    book.mkdir()
    chapter = _notebook(book / "09_site.ipynb", textwrap.dedent("""\
        from gler.notebook import load_or_skip

        def load():
            raise ConnectionError("Could not download site/a.csv; set GLER_DATA_DIR=<dir>")

        site = load_or_skip(load)"""))
    notebook = nbformat.read(chapter, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(notebook, chapter)
    before = chapter.read_text()
    [result] = rp.reproduce(profile="smoke", book_dir=book, build=False, progress=False)
    assert (result.status, result.message) == (
        "skipped", "Could not download site/a.csv; set GLER_DATA_DIR=<dir>")
    assert chapter.read_text() == before
    executed = nbformat.read(result.log.with_suffix(".ipynb"), as_version=4)
    assert [o.output_type for o in executed.cells[-1].outputs] == []
    [note] = [o for o in executed.cells[-2].outputs if o.output_type == "display_data"]
    assert "rest of the chapter is skipped" in note.data["text/markdown"]


def test_load_or_skip_outside_a_kernel_raises_the_loaders_error():
    def load():
        msg = "no network"
        raise ConnectionError(msg)

    assert load_or_skip(lambda x: x + 1, 41) == 42
    with pytest.raises(RuntimeError, match=r"needs an IPython kernel.*no network"):
        load_or_skip(load)


def test_colab_cell_follows_the_repository_url(tmp_path):
    """One edit of _config.yml repoints every chapter's Colab cell when the book is re-run."""
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://example.org/me/fork/\n")
    book = tmp_path / "book"
    book.mkdir()
    chapter = _notebook(book / "01_ok.ipynb", "print(profile)")
    notebook = nbformat.read(chapter, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(
        'import sys\nif "google.colab" in sys.modules:\n'
        '    %pip install "gler[book] @ git+https://github.com/old/gler"\n'
        '    !git clone https://github.com/old/gler /content/gler'))
    nbformat.write(notebook, chapter)
    assert rp.repository_url(tmp_path) == "https://example.org/me/fork"
    rp.reproduce(profile="smoke", book_dir=book, build=False, progress=False)
    published = nbformat.read(chapter, as_version=4)
    assert rp.colab_urls(published) == ["https://example.org/me/fork"] * 2
    assert not rp.point_colab_cell(chapter, "https://example.org/me/fork")
    (tmp_path / "_config.yml").write_text("title: no repository\n")
    with pytest.raises(ValueError, match="has no 'repository: url:'"):
        rp.repository_url(tmp_path)


@pytest.mark.skipif(not any(map(shutil.which, rp.CHROMIUM)), reason="no Chromium installed")
def test_render_pages(tmp_path):
    """Each built chapter page becomes a PNG of the page as drawn, cropped below its content."""
    from PIL import Image

    pages = tmp_path / "html" / "book"
    pages.mkdir(parents=True)
    (pages / "01_a.html").write_text(
        "<html><body style='margin:0'><h1>Chapter</h1><div style='position:fixed;top:0;left:0;"
        "width:50px;height:100%;background:#999'></div>"
        "<div style='height:300px;background:#036'></div></body></html>")
    [png] = rp.render_pages(tmp_path / "html", tmp_path / "png", width=400, height=2000)
    with Image.open(png) as image:
        assert image.width == 400 and 300 < image.height < 600
        assert image.convert("RGB").getpixel((200, image.height - 100)) == (0, 51, 102)
    with pytest.raises(FileNotFoundError, match="build the book first"):
        rp.render_pages(tmp_path / "nothing", tmp_path / "png")


def test_native_output_silenced_discards_fd_writes_only_inside(capfd):
    """Writes to file descriptors 1 and 2 inside the block are dropped; after it they show."""
    from gler.notebook import native_output_silenced

    with native_output_silenced():
        os.write(1, b"native out\n")
        os.write(2, b"native err\n")
    os.write(1, b"after\n")
    captured = capfd.readouterr()
    assert "native" not in captured.out + captured.err
    assert captured.out == "after\n"
