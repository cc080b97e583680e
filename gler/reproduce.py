"""Re-run the book: execute every chapter with papermill, then build the HTML.

``gler reproduce`` is the one command behind the published book: each chapter in ``book/`` is
executed in order with the chosen profile injected as its ``profile`` parameter, its log goes to
``_build/reproduce/<chapter>.log``, and the executed notebook replaces the committed one only
when it ran without error and every cell that draws holds its figure, so the committed outputs
are always those of a complete run. The kernel embeds figures whatever matplotlib backend the
calling shell sets (``MPLBACKEND=Agg`` included). A chapter whose data cannot be fetched (no
network, no local copy) is reported and skipped; any other error marks the chapter as failed.
Before running, each chapter's Colab cell is pointed at the repository URL of ``_config.yml``.
Then ``jupyter-book build`` renders the HTML, and :func:`render_pages` can take a screenshot of
every page with headless Chromium.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from tqdm.auto import tqdm

from gler.notebook import INLINE_BACKEND, cells_missing_figures, is_colab_cell, skip_reason

if TYPE_CHECKING:
    import nbformat

logger = logging.getLogger(__name__)

#: Exception names (as a kernel reports them) that mean "the data could not be fetched".
DATA_ERRORS = ("ConnectionError", "URLError", "HTTPError", "ConnectTimeout")
#: A chapter notebook: ``NN_name.ipynb`` or an appendix ``A1_name.ipynb``.
CHAPTER = re.compile(r"^(\d+|[A-Z]\d+)_[\w-]+\.ipynb$")
LOG_DIR = Path("_build") / "reproduce"
#: A web address in a Colab cell (up to a quote, a space or a pip ``@``).
WEB_URL = re.compile(r"https?://[^\s\"'@]+")


@dataclass
class ChapterResult:
    """Outcome of one chapter: ``status`` is ``"ok"``, ``"skipped"`` (data unavailable) or
    ``"failed"``; ``message`` says why for the last two."""

    chapter: str
    status: str
    seconds: float
    log: Path
    message: str = ""


def list_chapters(book_dir: str | Path = "book") -> list[Path]:
    """Chapter notebooks of ``book_dir`` in book order (numbered chapters, then appendices).

    Raises
    ------
    FileNotFoundError
        If the directory holds no chapter notebook.
    """
    book_dir = Path(book_dir)
    found = sorted((p for p in book_dir.glob("*.ipynb") if CHAPTER.match(p.name)),
                   key=lambda p: (p.name[0].isalpha(), p.name))
    if not found:
        msg = (f"No chapter notebooks (NN_name.ipynb) in {book_dir.resolve()}; run gler "
               "reproduce from the repository root or pass --book-dir.")
        raise FileNotFoundError(msg)
    return found


def select_chapters(chapters: Sequence[Path], wanted: Sequence[str] | None) -> list[Path]:
    """The chapters named in ``wanted`` (a number such as ``"02"`` or ``"2"``, a stem, or a file
    name), in book order; all of them when ``wanted`` is empty.

    Raises
    ------
    ValueError
        For a name that matches no chapter, listing the valid ones.
    """
    if not wanted:
        return list(chapters)
    keep, unknown = set(), []
    for name in wanted:
        key = name.removesuffix(".ipynb")
        hits = [c for c in chapters
                if key in (c.stem, c.stem.split("_")[0])
                or (key.isdigit() and c.stem.split("_")[0].isdigit()
                    and int(key) == int(c.stem.split("_")[0]))]
        if not hits:
            unknown.append(name)
        keep.update(hits)
    if unknown:
        msg = (f"Unknown chapter(s) {', '.join(unknown)}. Available: "
               f"{', '.join(c.stem for c in chapters)}.")
        raise ValueError(msg)
    return [c for c in chapters if c in keep]


def run_chapter(path: Path, *, profile: str, log_dir: Path = LOG_DIR,
                parameters: dict | None = None) -> ChapterResult:
    """Execute one chapter with papermill; replace it in place only if it ran cleanly."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{path.stem}.log"
    executed = log_dir / path.name
    start = time.perf_counter()
    try:
        with open(log, "w") as stream, _inline_figures():
            papermill.execute_notebook(
                str(path), str(executed), parameters={"profile": profile, **(parameters or {})},
                cwd=str(path.parent), log_output=True, stdout_file=stream, stderr_file=stream,
                progress_bar=False, kernel_name="python3")
    except PapermillExecutionError as err:
        status = "skipped" if err.ename in DATA_ERRORS else "failed"
        message = f"{err.ename}: {err.evalue}".splitlines()[0]
        return _not_published(path, status, message, start, log, "".join(err.traceback))
    notebook = nbformat.read(executed, as_version=4)
    notebook.cells = [c for c in notebook.cells
                      if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    reason = skip_reason(notebook)
    if reason:
        return _not_published(path, "skipped", reason, start, log)
    missing = cells_missing_figures(notebook)
    if missing:
        message = (f"code cells {', '.join(map(str, missing))} (counted from 0) draw but hold "
                   "no figure; check that the chapter does not switch matplotlib to a "
                   "non-inline backend")
        return _not_published(path, "failed", message, start, log)
    _publish(notebook, path)
    return ChapterResult(path.stem, "ok", time.perf_counter() - start, log)


def _not_published(path: Path, status: str, message: str, start: float, log: Path,
                   details: str = "") -> ChapterResult:
    """A chapter left as committed: ``status`` and ``message`` appended to its log."""
    with open(log, "a") as stream:
        stream.write(f"\n{status.upper()}: {message}\n{details}\n")
    return ChapterResult(path.stem, status, time.perf_counter() - start, log, message)


@contextlib.contextmanager
def _inline_figures() -> Iterator[None]:
    """Kernels started inside use the inline backend, which embeds figures in the outputs (a
    shell's ``MPLBACKEND=Agg`` would make ``plt.show()`` emit nothing)."""
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MPLBACKEND"]
        else:
            os.environ["MPLBACKEND"] = saved


def _publish(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write the executed notebook (papermill's injected-parameters cell removed) over the
    chapter: the chapter keeps reading its profile from its own parameters cell (and from
    ``GLER_BOOK_PROFILE``, which CI sets), while the provenance cell records what ran."""
    import nbformat

    nbformat.write(notebook, path)


def repository_url(root: str | Path = ".") -> str:
    """The repository URL of the book's ``_config.yml`` (``repository: url:``), the one place
    that names it: the launch buttons read it there, the Colab cells from :func:`point_colab_cell`.

    Raises
    ------
    ValueError
        If ``_config.yml`` has no ``repository: url:``.
    """
    config_path = Path(root) / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    url = (config.get("repository") or {}).get("url")
    if not url:
        msg = f"{config_path} has no 'repository: url:'; add the project's repository URL there."
        raise ValueError(msg)
    return url.rstrip("/")


def point_colab_cell(path: Path, url: str) -> bool:
    """Point the Colab cell of chapter ``path`` (:func:`gler.notebook.is_colab_cell`) at
    repository ``url``; True if the chapter changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if is_colab_cell(cell):
            pointed = WEB_URL.sub(url, cell.source)
            if pointed == cell.source:
                return False
            cell.source = pointed
            nbformat.write(notebook, path)
            return True
    return False


def colab_urls(notebook: dict) -> list[str]:
    """The URLs in a chapter's Colab cell."""
    return [url for cell in notebook.get("cells", []) if is_colab_cell(cell)
            for url in WEB_URL.findall("".join(cell["source"]))]


def jupyter_book_command() -> str:
    """The ``jupyter-book`` executable of this Python environment (else the one on PATH).

    Raises
    ------
    FileNotFoundError
        If jupyter-book is not installed (``pip install "gler[book]"``).
    """
    found = (shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
             or shutil.which("jupyter-book"))
    if found is None:
        msg = "jupyter-book is not installed; install the book extras: pip install 'gler[book]'."
        raise FileNotFoundError(msg)
    return found


def build_book(root: str | Path = ".", *, log_dir: Path = LOG_DIR,
               extra: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """``jupyter-book build --all root`` (outputs as committed), logged to
    ``<log_dir>/build.log``; every page is rebuilt, so a chapter added to the table of contents
    appears in the navigation of the pages that did not change."""
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [jupyter_book_command(), "build", "--all", str(root), *extra]
    with open(log_dir / "build.log", "w") as stream:
        return subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)


def reproduce(*, profile: str = "book", chapters: Sequence[str] | None = None,
              book_dir: str | Path = "book", build: bool = True, progress: bool = True,
              jobs: int = 1, streams: int = 1) -> list[ChapterResult]:
    """Run the selected chapters in order with ``profile``, then build the book.

    Parameters
    ----------
    profile
        A profile of :mod:`gler.profiles`, injected as each chapter's ``profile`` parameter.
    chapters
        Chapters to run (see :func:`select_chapters`); default all.
    book_dir
        Directory of the chapter notebooks; the book root is its parent.
    build
        Build the HTML book afterwards.
    progress
        Show a progress bar over chapters.
    jobs
        With more than 1: first train every run the chapters need
        (:meth:`gler.experiment.Experiment.planned_runs`, tuning first), ``jobs`` at a time
        (capped to what the device holds, :func:`gler.schedule.cap_jobs`), so that the chapters
        find them done; with 1 the chapters train their runs one after the other.
    streams
        Runs each of those processes trains at once, taking turns step by step, each on its
        own CUDA stream on a GPU (:class:`gler.turns.Turns`); more than 1 trains the planned
        runs first even with one job.

    Returns
    -------
    list of ChapterResult
        One per chapter run; a failed build is logged and raised.

    Raises
    ------
    ValueError
        Unknown profile or chapter.
    RuntimeError
        If ``jupyter-book build`` fails (see ``_build/reproduce/build.log``).
    gler.schedule.RunsFailedError
        With ``jobs > 1`` or ``streams > 1``, if some runs failed (before any chapter runs;
        the finished runs are kept, and running again resumes the others).

    Example
    -------
    >>> results = reproduce(profile="smoke", chapters=["02"], build=False)  # doctest: +SKIP
    """
    from gler.profiles import get_profile

    get_profile(profile)
    book_dir = Path(book_dir)
    log_dir = book_dir.parent / LOG_DIR
    selected = select_chapters(list_chapters(book_dir), chapters)
    if (book_dir.parent / "_config.yml").is_file():
        url = repository_url(book_dir.parent)
        for path in selected:
            if point_colab_cell(path, url):
                logger.info("%s: Colab cell pointed at %s", path.stem, url)
    if jobs > 1 or streams > 1:
        train_planned(profile, jobs=jobs, streams=streams, progress=progress)
    results = []
    bar = tqdm(selected, desc="reproduce", unit="chapter", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.stem)
        result = run_chapter(path, profile=profile, log_dir=log_dir)
        if result.status != "ok":
            logger.warning("%s %s: %s (log: %s)", path.stem, result.status, result.message,
                           result.log)
        results.append(result)
    if build:
        done = build_book(book_dir.parent, log_dir=log_dir)
        if done.returncode:
            msg = f"jupyter-book build failed; see {log_dir / 'build.log'}."
            raise RuntimeError(msg)
    return results


def train_planned(profile: str, *, jobs: int, streams: int = 1, progress: bool = True) -> None:
    """Train every run the chapters need with ``profile``, ``jobs`` processes at a time of
    ``streams`` runs each, in the cache the chapters read (:func:`gler.experiment.runs_root`)."""
    from gler.experiment import Experiment

    exp = Experiment(profile, progress=progress)
    exp.train_runs(exp.planned_runs(), jobs=jobs, streams=streams)


#: Browser executables tried by :func:`render_pages`, in order.
CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: Height of the book theme's footer, which stays at the bottom of the window (pixels).
FOOTER = 120


def built_pages(html_dir: str | Path = "_build/html") -> list[Path]:
    """The built HTML pages of the book's chapters (``<html_dir>/book/*.html``), sorted.

    Raises
    ------
    FileNotFoundError
        If the book has not been built (``gler reproduce`` or ``jupyter-book build .``).
    """
    pages = sorted((Path(html_dir) / "book").glob("*.html"))
    if not pages:
        msg = (f"No built chapter pages in {Path(html_dir) / 'book'}; build the book first "
               "(gler reproduce, or jupyter-book build .).")
        raise FileNotFoundError(msg)
    return pages


def render_pages(html_dir: str | Path = "_build/html", out_dir: str | Path = "_build/pages", *,
                 width: int = 1280, height: int = 16000, browser: str | None = None,
                 ) -> list[Path]:
    """A PNG of every built chapter page, as a reader's browser shows it (headless Chromium).

    Each page is drawn in a ``width`` x ``height`` window and cropped below the last content of
    its text column (the middle of the window, above the footer); a page longer than that is
    cut there (a warning says which).

    Parameters
    ----------
    html_dir
        The built book (``_build/html``).
    out_dir
        Where the PNGs go, one per page, named like the page.
    browser
        A Chromium executable; default the first of :data:`CHROMIUM` on the PATH.

    Returns
    -------
    list of pathlib.Path
        The PNG files.

    Raises
    ------
    FileNotFoundError
        No built pages, or no Chromium (install Debian's ``chromium`` package, or pass
        ``--browser``).
    RuntimeError
        If Chromium fails on a page.
    """
    from PIL import Image, ImageChops

    pages = built_pages(html_dir)
    found = browser or next(filter(None, map(shutil.which, CHROMIUM)), None)
    if found is None:
        msg = (f"No Chromium found (tried {', '.join(CHROMIUM)}); install it (Debian: apt-get "
               "install chromium) or pass --browser PATH.")
        raise FileNotFoundError(msg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    for page in pages:
        png = out_dir / f"{page.stem}.png"
        done = subprocess.run(
            [found, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--force-device-scale-factor=1", f"--window-size={width},{height}",
             f"--screenshot={png.resolve()}", page.resolve().as_uri()],
            capture_output=True, text=True, check=False, timeout=300)
        if done.returncode or not png.is_file():
            msg = f"Chromium could not render {page}: {done.stderr.strip()[-500:]}"
            raise RuntimeError(msg)
        with Image.open(png) as image:
            rgb = image.convert("RGB")
        # The sidebars run the window's full height and the footer sits at its bottom: the page
        # ends where its text column does, above the footer.
        column = rgb.crop((width // 4, 0, width * 4 // 5, height - FOOTER))
        box = ImageChops.difference(column, Image.new("RGB", column.size, "white")).getbbox()
        bottom = box[3] if box else 1
        if bottom >= height - FOOTER - 1:
            logger.warning("%s is longer than %d px: its PNG is cut there", page.name, height)
        rgb.crop((0, 0, width, min(height, bottom + 40))).save(png)
        shots.append(png)
    return shots
