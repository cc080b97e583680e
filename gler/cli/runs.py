"""``gler runs export|import``: move a profile's runs between machines in one archive."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "runs"
HELP = ("move a profile's runs, tuning and evaluations between machines in one archive "
        "(gler runs export PATH, then gler runs import PATH on the other machine)")
ORDER = 85


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gler.profiles import list_profiles

    profiles = ", ".join(list_profiles())
    root = ("cache root of the runs (default: $GLER_RUNS_DIR, else the user cache's "
            "gler/runs)")
    sub = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True,
                                help="export (write an archive) or import (read one)")
    export = sub.add_parser(
        "export", help="write the profile's runs into one archive",
        description="Write a profile's runs (weights, scaler, log; the checkpoint of unfinished "
                    "runs, which resume on the next machine), its tuning and its evaluation "
                    "reports into one archive with a manifest of checksums. The simulated "
                    "stacks and the forecasts are left out: they are recomputed.")
    export.add_argument("path", type=Path, metavar="PATH",
                        help="the archive to write: .tar, .tar.gz/.tgz or .tar.xz/.txz")
    export.add_argument("--profile", default="book",
                        help=f"the profile whose runs are exported ({profiles}; default: book)")
    export.add_argument("--root", type=Path, default=None, help=root)
    imp = sub.add_parser(
        "import", help="put the runs of an archive under the cache root",
        description="Check an archive written by gler runs export (gler version, run format, "
                    "profile, checksums, safe paths) and copy its files under the cache root; "
                    "a local file with other contents refuses the import (nothing is "
                    "replaced), identical ones are kept. Evaluations are recomputed from the "
                    "imported runs (their reports are kept in an imported/ folder).")
    imp.add_argument("path", type=Path, metavar="PATH", help="the archive to import")
    imp.add_argument("--root", type=Path, default=None, help=root)
    imp.add_argument("--profile", default=None,
                     help="refuse an archive of another profile, or of other settings of this "
                          "one (default: import any profile)")


def run(args: argparse.Namespace) -> int:
    from gler.archive import export_runs, import_runs

    if args.runs_command == "export":
        summary = export_runs(args.profile, args.path, root=args.root)
    else:
        summary = import_runs(args.path, args.root, profile=args.profile)
    print(summary.describe())
    return 0
