"""Helpers the book's chapters call: the chapter's start and provenance, the window the module
chapters look at, a chapter whose data cannot be had, and figures that show.

Every chapter starts with :func:`start_chapter` (display settings and the profile's cached
:class:`~gler.experiment.Experiment`) and ends with a :func:`provenance` table; the module
chapters (GLFE, MCAR, RCSA) look at the same trained run and input window, from
:func:`pick_window`.

A chapter that needs downloaded data (the real-site chapter) loads it through
:func:`load_or_skip`. Offline, without a cache and without ``GLER_DATA_DIR``, it shows one note
that names the file, where it comes from and how to provide it, and switches the chapter's
remaining cells off, so the chapter ends cleanly (under nbval too) instead of failing cell
after cell. ``gler reproduce`` recognises the note by its output metadata (:data:`SKIP_KEY`),
reports the chapter as skipped and keeps the committed one.

Example
-------
>>> from gler.notebook import load_or_skip
>>> load_or_skip(lambda: 42)
42
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

from gler import __version__
from gler.peers import require_neuralforecast

if TYPE_CHECKING:
    from gler.experiment import Experiment
    from gler.inspect import Window
    from gler.profiles import Profile
    from gler.run import Run

T = TypeVar("T")

#: Output-metadata key of the note that :func:`skip_rest_of_chapter` shows.
SKIP_KEY = "gler_skipped"
#: The matplotlib backend that embeds figures in a notebook's outputs.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: What the Colab install cell of a chapter checks for (it installs gler only on Colab).
COLAB_MODULE = "google.colab"
#: Figure resolution of the book's chapters (dots per inch, on screen and saved).
FIGURE_DPI = 80


def use_book_display(precision: int = 3) -> None:
    """The book's display settings: figures at :data:`FIGURE_DPI`, pandas floats with
    ``precision`` decimals."""
    matplotlib.rcParams.update({"figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI})
    pd.set_option("display.precision", precision)


def start_chapter(profile: Profile | str, runs_dir: str | Path | None = None, *,
                  precision: int = 3) -> Experiment:
    """The book's display settings (:func:`use_book_display`), and the profile's experiment
    with its cache under ``runs_dir`` (default :func:`gler.experiment.runs_root`).

    Example
    -------
    >>> exp = start_chapter("smoke")  # doctest: +SKIP
    """
    from gler.experiment import Experiment

    use_book_display(precision)
    return Experiment(profile, root=runs_dir)


def provenance(profile: Profile | str, start: float | None = None) -> dict[str, str]:
    """What a chapter ran with: profile, device, versions and (with ``start``) the wall time.

    Parameters
    ----------
    profile
        The profile (or its name).
    start
        ``time.perf_counter()`` at the chapter's start.
    """
    import torch

    from gler.run import resolve_device

    name = profile if isinstance(profile, str) else profile.name
    info = {
        "profile": name,
        "device": str(resolve_device("auto")),
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "gler": __version__, "torch": torch.__version__,
        "numpy": np.__version__, "xarray": xr.__version__, "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
    }
    if start is not None:
        info["wall time"] = f"{time.perf_counter() - start:.1f} s"
    return info


@dataclass
class PickedWindow:
    """A trained run, its stack and the input window of one pixel, as :func:`pick_window`
    chose them.

    Attributes
    ----------
    region, seed
        Where and with which seed the run was trained.
    run, stack
        The loaded run and the region's stack.
    pixels
        One representative pixel ``(row, col)`` per land-cover class
        (:func:`gler.plot.representative_pixels`).
    pixel_class
        The class whose pixel the window is of.
    issue_date
        The window's last acquisition.
    window
        That pixel's normalised input window (:func:`gler.inspect.window_at`).
    """

    region: str
    seed: int
    run: Run
    stack: xr.Dataset
    pixels: dict[str, tuple[int, int]]
    pixel_class: str
    issue_date: pd.Timestamp
    window: Window

    @cached_property
    def outputs(self) -> dict[str, np.ndarray]:
        """Each submodule's output on the window (:func:`gler.inspect.module_outputs`)."""
        from gler.inspect import module_outputs

        return module_outputs(self.run.model, self.window)

    def __str__(self) -> str:
        return (f"{self.run.model_name} on {self.region}, seed {self.seed}; window of pixel "
                f"{self.pixels[self.pixel_class]} ({self.pixel_class}) ending "
                f"{self.issue_date.date()}")


def pick_window(exp: Experiment, region: str, *, model: str = "gler", seed: int = 0,
                pixel_class: str = "meadow", issue: str = "2022-08-01") -> PickedWindow:
    """The run of ``model`` on ``region`` (trained if missing) and the input window of the
    ``pixel_class`` pixel that ends on the acquisition nearest ``issue``.

    Parameters
    ----------
    exp
        The chapter's experiment (:func:`start_chapter`).
    region, model, seed
        Which run.
    pixel_class
        A land-cover class of the stack; its representative pixel is shown.
    issue
        The date the window should end on; the nearest acquisition is taken.

    Raises
    ------
    ValueError
        If the stack has no pixel of ``pixel_class``, or no full window ends at ``issue``.

    Example
    -------
    >>> picked = pick_window(start_chapter("smoke"), "beiluhe")  # doctest: +SKIP
    >>> picked.outputs["glfe"].shape  # doctest: +SKIP
    """
    from gler.forecast import nearest_position
    from gler.inspect import window_at
    from gler.plot import representative_pixels
    from gler.run import load_run

    exp.train(region, model, seed)
    run = load_run(exp.run_dir(region, model, seed))
    stack = exp.stack(region)
    pixels = representative_pixels(stack)
    if pixel_class not in pixels:
        msg = (f"{region} has no pixel of class {pixel_class!r}; choose one of "
               f"{', '.join(pixels)}.")
        raise ValueError(msg)
    times = stack.indexes["time"]
    issue_date = times[nearest_position(times, issue)]
    window = window_at(run, stack, pixel=pixels[pixel_class], issue=str(issue_date.date()))
    return PickedWindow(region, seed, run, stack, pixels, pixel_class, issue_date, window)


def peer_forecasts(exp: Experiment, regions: Sequence[str], *,
                   steps: int) -> dict[str, dict[str, xr.Dataset]]:
    """``{region: {peer: forecast}}`` of neuralforecast's peers trained for ``steps`` steps
    (:meth:`~gler.experiment.Experiment.peer_forecasts`), or none when ``steps`` is 0 or the
    optional extra is not installed, in which case a line says how to install it."""
    if not steps:
        return {}
    try:
        require_neuralforecast()  # Lightning sets its loggers' levels when it is imported
    except ImportError as err:
        print(f"No peers in this run: {err}")
        return {}
    with lightning_quiet():
        return {region: exp.peer_forecasts(region, params={"max_steps": steps})
                for region in regions}


#: The loggers through which PyTorch Lightning (under neuralforecast) reports each fit.
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric")


@contextlib.contextmanager
def lightning_quiet() -> Iterator[None]:
    """Keep PyTorch Lightning's per-fit lines ("Seed set to 0", "GPU available: False", its
    warnings about its own options) out of a chapter's outputs; errors still show."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def load_or_skip(load: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``load(*args, **kwargs)``; if its data cannot be downloaded, a note and None.

    Parameters
    ----------
    load
        A loader that fetches through the manifest (e.g. :func:`gler.load_menyuan`), which
        raises :class:`ConnectionError` with a one-line message when a file cannot be had.

    Returns
    -------
    The loader's result, or None after :func:`skip_rest_of_chapter` (inside IPython).

    Raises
    ------
    ConnectionError
        Outside IPython, the loader's error as it is.
    """
    try:
        return load(*args, **kwargs)
    except ConnectionError as err:
        skip_rest_of_chapter(str(err))
        return None


def skip_rest_of_chapter(reason: str) -> None:
    """Show one note with ``reason`` and turn every later cell of this kernel into a no-op.

    Raises
    ------
    RuntimeError
        Outside an IPython kernel (there is no chapter to skip).
    """
    from IPython import get_ipython
    from IPython.display import Markdown, display

    shell = get_ipython()
    if shell is None:
        msg = f"skip_rest_of_chapter needs an IPython kernel; the chapter stopped: {reason}"
        raise RuntimeError(msg)
    note = (f"**This chapter's data are not available here, so the rest of the chapter is "
            f"skipped.** {reason}")
    display(Markdown(note), metadata={SKIP_KEY: reason})
    if _empty_cell not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(_empty_cell)


def _empty_cell(lines: list[str]) -> list[str]:
    """IPython input transformer: the cell runs as an empty one."""
    return []


def skip_reason(notebook: dict) -> str | None:
    """The reason of a :func:`skip_rest_of_chapter` note in an executed notebook, else None."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            reason = output.get("metadata", {}).get(SKIP_KEY)
            if reason:
                return reason
    return None


#: Source patterns of a code cell that draws: a ``gler.plot`` figure, a new matplotlib figure,
#: or a pandas/xarray/Axes ``.plot(`` call.
DRAWS = re.compile(r"\bplot\.(plot_\w+|quicklook|map_axes)\("
                   r"|\bplt\.(subplots|figure|subplot)\(|\.plot\(|\.(imshow|pcolormesh|contourf?)\(")
#: Cell tag for a cell that draws only under some parameters (the drawing line is in a branch).
FIGURE_OPTIONAL = "figure-optional"
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


def image_count(cell: dict) -> int:
    """How many image outputs a code cell holds."""
    return sum(any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
               for output in cell.get("outputs", []))


def is_colab_cell(cell: dict) -> bool:
    """Whether a notebook cell is a chapter's Colab install cell: a code cell that checks for
    :data:`COLAB_MODULE`."""
    return cell.get("cell_type") == "code" and COLAB_MODULE in "".join(cell.get("source", ""))


def cells_missing_figures(notebook: dict) -> list[int]:
    """Indices of the code cells that draw (see :data:`DRAWS`) but hold no image output.

    Cells tagged :data:`FIGURE_OPTIONAL` and cells of a skipped chapter (:func:`skip_reason`)
    are not counted.

    Example
    -------
    >>> cell = {"cell_type": "code", "source": "fig, ax = plt.subplots()", "outputs": []}
    >>> cells_missing_figures({"cells": [cell]})
    [0]
    """
    if skip_reason(notebook):
        return []
    missing = []
    for index, cell in enumerate(notebook.get("cells", [])):
        source = "".join(cell.get("source", ""))
        tags = cell.get("metadata", {}).get("tags", [])
        if (cell.get("cell_type") == "code" and FIGURE_OPTIONAL not in tags
                and DRAWS.search(source) and not image_count(cell)):
            missing.append(index)
    return missing


@contextlib.contextmanager
def native_output_silenced() -> Iterator[None]:
    """Discard what native code writes to the process's stdout and stderr inside the block
    (a library's C++ log lines that would land in a chapter's outputs); Python's own
    ``print`` and warnings are flushed first and work as usual again afterwards.

    Example
    -------
    >>> with native_output_silenced():
    ...     _ = os.write(1, b"not shown")
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    try:
        with open(os.devnull, "wb") as sink:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
