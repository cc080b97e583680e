"""Re-run the book: execute every chapter with papermill, then build the HTML.

``gler reproduce`` is the one command behind the published book: each chapter in ``book/`` is
executed in order with the chosen profile injected as its ``profile`` parameter, its log goes to
``_build/reproduce/<chapter>.log``, and the executed notebook replaces the committed one only
when it ran without error, so the committed outputs are always those of a complete run. A
chapter whose data cannot be fetched (no network, no local copy) is reported and skipped; any
other error marks the chapter as failed. Then ``jupyter-book build`` renders the HTML.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

#: Exception names (as a kernel reports them) that mean "the data could not be fetched".
DATA_ERRORS = ("ConnectionError", "URLError", "HTTPError", "ConnectTimeout")
#: A chapter notebook: ``NN_name.ipynb`` or an appendix ``A1_name.ipynb``.
CHAPTER = re.compile(r"^(\d+|[A-Z]\d+)_[\w-]+\.ipynb$")
LOG_DIR = Path("_build") / "reproduce"


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
    import papermill
    from papermill.exceptions import PapermillExecutionError

    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{path.stem}.log"
    executed = log_dir / path.name
    start = time.perf_counter()
    try:
        with open(log, "w") as stream:
            papermill.execute_notebook(
                str(path), str(executed), parameters={"profile": profile, **(parameters or {})},
                cwd=str(path.parent), log_output=True, stdout_file=stream, stderr_file=stream,
                progress_bar=False, kernel_name="python3")
    except PapermillExecutionError as err:
        seconds = time.perf_counter() - start
        status = "skipped" if err.ename in DATA_ERRORS else "failed"
        message = f"{err.ename}: {err.evalue}".splitlines()[0]
        with open(log, "a") as stream:
            stream.write(f"\n{status.upper()}: {message}\n{''.join(err.traceback)}\n")
        return ChapterResult(path.stem, status, seconds, log, message)
    _publish(executed, path)
    return ChapterResult(path.stem, "ok", time.perf_counter() - start, log)


def _publish(executed: Path, path: Path) -> None:
    """Write the executed notebook over the chapter, without papermill's injected-parameters
    cell: the chapter keeps reading its profile from its own parameters cell (and from
    ``GLER_BOOK_PROFILE``, which CI sets), while the provenance cell records what ran."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    notebook.cells = [c for c in notebook.cells
                      if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    nbformat.write(notebook, path)


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
    """``jupyter-book build root`` (outputs as committed), logged to ``<log_dir>/build.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [jupyter_book_command(), "build", str(root), *extra]
    with open(log_dir / "build.log", "w") as stream:
        return subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)


def reproduce(*, profile: str = "book", chapters: Sequence[str] | None = None,
              book_dir: str | Path = "book", build: bool = True, progress: bool = True,
              ) -> list[ChapterResult]:
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

    Example
    -------
    >>> results = reproduce(profile="smoke", chapters=["02"], build=False)  # doctest: +SKIP
    """
    from gler.profiles import get_profile

    get_profile(profile)
    book_dir = Path(book_dir)
    log_dir = book_dir.parent / LOG_DIR
    selected = select_chapters(list_chapters(book_dir), chapters)
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
