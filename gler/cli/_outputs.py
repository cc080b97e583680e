"""Output checks shared by ``gler predict`` and ``gler evaluate``, made before any computation.

Nothing is lost: an output may not be an input, a run directory's own file (``run.json``,
``best.pt``, ...) or another output of the same command; an existing file is overwritten only
with ``--force``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

#: What a run directory holds; no command but ``gler train`` writes these names in it.
RUN_DIR_FILES = ("run.json", "scaler.json", "checkpoint.pt", "best.pt", "train_log.jsonl")


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    """``--force``: overwrite existing outputs (never inputs or a run directory's files)."""
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files (inputs and the files of a run "
                             "directory are never overwritten)")


def check_outputs(outputs: Sequence[tuple[str, Path | None]], *, runs: Iterable[Path] = (),
                  inputs: Iterable[Path | None] = (), force: bool = False,
                  suffixes: dict[str, tuple[str, ...]] | None = None) -> None:
    """Refuse outputs that would destroy something, before anything is computed.

    Parameters
    ----------
    outputs
        ``(flag, path)`` pairs, e.g. ``("--out", Path("eval.json"))``; None paths are skipped.
    runs
        Run directories read by the command.
    inputs
        Input files (``--data``, ``--factors``).
    force
        Allow overwriting an existing output file.
    suffixes
        Allowed suffixes per flag.

    Raises
    ------
    ValueError
        One line naming the flag, the path and what to do.
    """
    run_dirs = {_resolve(r) for r in runs}
    input_paths = {_resolve(p) for p in inputs if p is not None}
    seen: dict[Path, str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        where = _resolve(path)
        if where in input_paths:
            msg = f"{flag} {path} is an input of this command; write the output elsewhere."
            raise ValueError(msg)
        if where in run_dirs or (where.parent in run_dirs and _is_run_file(where.name)):
            what = ("a run directory" if where in run_dirs
                    else f"a file of the run directory {where.parent}")
            msg = (f"{flag} {path} is {what}, which only gler train writes; choose another "
                   f"name (e.g. {where.parent / 'evaluation.json'}).")
            raise ValueError(msg)
        allowed = (suffixes or {}).get(flag)
        if allowed and path.suffix.lower() not in allowed:
            msg = (f"{flag} {path}: unknown output format {path.suffix or '(no suffix)'!r}; use "
                   f"a path ending in {' or '.join(allowed)}.")
            raise ValueError(msg)
        if where in seen:
            msg = f"{flag} and {seen[where]} are the same file ({path}); give them different paths."
            raise ValueError(msg)
        seen[where] = flag
        if path.exists() and not force:
            msg = (f"{flag} {path} exists; pass --force to overwrite it, or choose another "
                   "path.")
            raise ValueError(msg)
        if path.is_dir() and path.suffix.lower() != ".zarr":
            msg = f"{flag} {path} is a directory; give a file name."
            raise ValueError(msg)
        parent = where.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            msg = f"{flag} {path}: {parent} is a file, not a directory."
            raise ValueError(msg)


def _is_run_file(name: str) -> bool:
    return name in RUN_DIR_FILES or name.endswith((".pt", ".tmp"))


def _resolve(path: Path) -> Path:
    return Path(path).expanduser().resolve()
