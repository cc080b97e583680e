"""``gler reproduce``: run every book chapter with papermill, then build the HTML book."""

from __future__ import annotations

import argparse
import os

from gler.cli._inputs import jobs_value, streams_value

NAME = "reproduce"
HELP = "re-run the book's chapters (papermill) with a profile and build the HTML book"
ORDER = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gler.profiles import list_profiles

    parser.add_argument("--profile", default="book",
                        help=f"experiment profile ({', '.join(list_profiles())}; default: book, "
                             "the published one)")
    parser.add_argument("--chapters", nargs="+", metavar="CHAPTER",
                        help="chapters to run, by number (02) or name (02_data); default: all")
    parser.add_argument("--no-build", action="store_true",
                        help="run the chapters but do not build the HTML book")
    parser.add_argument("--jobs", type=jobs_value, default="auto", metavar="N",
                        help="train the runs the chapters need first, N at a time, each in a "
                             "process of its own (capped to the CPU cores, or on a GPU to its "
                             "free memory; the same weights as one at a time; finished runs "
                             "are kept and an interrupted one resumes); 1: the chapters train "
                             "them one by one; default auto: one per CPU core when the whole "
                             "book runs, 1 with --chapters")
    parser.add_argument("--streams", type=streams_value, default=1, metavar="K",
                        help="runs each of those processes trains at once, taking turns step "
                             "by step, each on its own CUDA stream: on a GPU their small "
                             "kernels then run side by side (the same weights as alone); "
                             "default 1")
    parser.add_argument("--book-dir", default="book",
                        help="directory of the chapter notebooks (default: book)")


def resolve_jobs(jobs: int | str, chapters: list[str] | None) -> int:
    """The runs to train at once: ``auto`` is one per CPU core for the whole book (the cap to
    the device follows in :func:`gler.schedule.cap_jobs`), and 1 for selected chapters, which
    train only what they need."""
    if jobs != "auto":
        return int(jobs)
    return 1 if chapters else (os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    from gler.reproduce import reproduce
    from gler.schedule import RunsFailedError

    try:
        results = reproduce(profile=args.profile, chapters=args.chapters,
                            book_dir=args.book_dir, build=not args.no_build,
                            jobs=resolve_jobs(args.jobs, args.chapters),
                            streams=args.streams)
    except RunsFailedError as err:
        print(err)
        return 1
    for r in results:
        note = f"  {r.message}" if r.message else ""
        print(f"{r.chapter:32s} {r.status:8s} {r.seconds:7.1f} s  log: {r.log}{note}")
    skipped = [r.chapter for r in results if r.status == "skipped"]
    if skipped:
        print(f"Skipped (data not available offline): {', '.join(skipped)}")
    if not args.no_build:
        print("Book built: _build/html/index.html")
    return 1 if any(r.status == "failed" for r in results) else 0
