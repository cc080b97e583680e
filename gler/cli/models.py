"""``gler models``: list the forecasters that ``--model NAME`` accepts."""

from __future__ import annotations

import argparse

from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW

NAME = "models"
HELP = "list the available models (neural, ablations and classical baselines)"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=("neural", "classical"), default=None,
                        help="only list models of this kind (default: all)")
    parser.add_argument("--n-ef", type=int, default=5,
                        help="number of environmental factors used for the parameter counts "
                             "(default: 5)")


def run(args: argparse.Namespace) -> int:
    from gler.models import count_parameters, create_model, list_models, model_info

    rows = [("name", "kind", "uses EFs", "parameters", "description")]
    for name in list_models(args.kind):
        info = model_info(name)
        params = (f"{count_parameters(create_model(name, n_ef=args.n_ef)):,}"
                  if info.kind == "neural" else "-")
        rows.append((name, info.kind, "yes" if info.uses_ef else "no", params, info.description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)),
              row[4], sep="  ")
    print(f"\nParameters at the default size (window={DEFAULT_WINDOW}, "
          f"horizon={DEFAULT_HORIZON}, n_ef={args.n_ef}).")
    return 0
