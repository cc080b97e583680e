"""``gler fetch``: download (or find) and verify datasets, print their local paths."""

from __future__ import annotations

import argparse

NAME = "fetch"
HELP = "download and verify datasets of data_manifest.yaml and print their local paths"
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gler.data.registry import list_datasets

    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"dataset name(s): {', '.join(list_datasets())}")
    parser.add_argument("--list", action="store_true",
                        help="list the datasets of the manifest and exit")
    parser.add_argument("--progress", action="store_true", help="show a download progress bar")


def run(args: argparse.Namespace) -> int:
    from gler.data.registry import dataset_info, fetch, list_datasets

    if args.list:
        for name in list_datasets():
            print(f"{name}\t{dataset_info(name).get('title', '')}")
        return 0
    if not args.names:
        msg = f"name at least one dataset to fetch ({', '.join(list_datasets())})"
        raise ValueError(msg)
    for name in args.names:
        for path in fetch(name, progressbar=args.progress):
            print(path)
    return 0
