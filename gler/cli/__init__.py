"""The ``gler`` command line: a thin shell over the library.

Each subcommand lives in its own module in this package and defines

- ``NAME`` (the subcommand), ``HELP`` (one line), optionally ``ORDER`` (position in ``--help``),
- ``add_arguments(parser)`` and ``run(args) -> int``.

The modules are discovered here, so adding a command touches one file. A user error
(``ValueError``, ``FileNotFoundError``, ``KeyError`` from the library) prints its one-line
message, with the Python keywords it suggests said as the flags that set them
(:func:`gler.cli._inputs.cli_words`), and exits with status 2; no logic lives only in the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, TypeError, OSError)


def _command_modules() -> list:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered subcommand."""
    from gler import __version__

    parser = argparse.ArgumentParser(
        prog="gler",
        description="GLER-BiGRUnet InSAR deformation forecasting: data, simulator, models, "
        "training, evaluation and the book.",
    )
    parser.add_argument("--version", action="version", version=f"gler {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gler`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as err:
        from gler.cli._inputs import STACK_FLAGS, TRAIN_FLAGS, cli_words

        text = cli_words(str(err), {**TRAIN_FLAGS, **STACK_FLAGS,
                                    "degree_day_source": "--degree-days-from"})
        print(f"gler {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
