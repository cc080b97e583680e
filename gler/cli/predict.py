"""``gler predict``: forecast every valid pixel from a run and write NetCDF or Zarr."""

from __future__ import annotations

import argparse
from pathlib import Path

from gler.cli._inputs import add_data_arguments, open_inputs

NAME = "predict"
HELP = "forecast a whole scene from a trained run (NetCDF or Zarr output)"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, type=Path,
                        help="run directory written by 'gler train'")
    add_data_arguments(parser)
    parser.add_argument("--issues", default="all",
                        help="issue dates: all (every date with a full window), last (the "
                             "next H acquisitions after the data), train, val, test, or "
                             "comma-separated acquisition dates (default: all)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run the model (default: auto)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="samples per model call (default: 256 on a CPU, 65536 on a GPU)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, type=Path,
                        help="output file: .nc for NetCDF, .zarr for Zarr")


def run(args: argparse.Namespace) -> int:
    from gler.forecast import ISSUE_CHOICES, predict, save_forecast
    from gler.train import load_run

    issues = args.issues if args.issues in ISSUE_CHOICES else args.issues.split(",")
    run_ = load_run(args.run)
    forecast = predict(run_, open_inputs(args), issues=issues, device=args.device,
                       batch_size=args.batch_size, progress=not args.no_progress)
    path = save_forecast(forecast, args.out)
    sizes = " x ".join(f"{n} {d}" for d, n in forecast["forecast"].sizes.items())
    print(f"{path}: {run_.model_name} forecasts, {sizes}")
    return 0
