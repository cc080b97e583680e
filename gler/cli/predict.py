"""``gler predict``: forecast every valid pixel from a run and write NetCDF or Zarr."""

from __future__ import annotations

import argparse
from pathlib import Path

from gler.cli._inputs import add_data_arguments, open_inputs
from gler.cli._outputs import add_force_argument, check_outputs

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
    parser.add_argument("--max-nan-fraction", type=float, default=0.5,
                        help="fail when more than this fraction of the observed pixels get no "
                             "forecast (all NaN: their input windows have too many gaps); "
                             "default 0.5, 1 accepts any (an all-NaN forecast is always an "
                             "error)")
    parser.add_argument("--quantiles", default=None,
                        help="also write calibrated quantiles, e.g. 0.05,0.5,0.95, calibrated "
                             "per step on the run's validation period (the data must cover "
                             "it): a run trained with a quantile head (gler train --quantiles) "
                             "gives its own quantiles, some or all ('head') of its levels, "
                             "calibrated by conformalised quantile regression; any other run "
                             "the forecast plus the split-conformal quantiles of its residuals")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, type=Path,
                        help="output file: .nc for NetCDF, .zarr for Zarr")
    add_force_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gler.conformal import (
        QuantileCalibration,
        add_quantiles,
        calibration_for,
        check_quantiles,
        requested_levels,
    )
    from gler.data.model import stack_crs, with_grid_mapping
    from gler.forecast import (
        ISSUE_CHOICES,
        NETCDF_SUFFIXES,
        check_coverage,
        predict,
        save_forecast,
    )
    from gler.run import load_run

    if args.batch_size is not None and args.batch_size < 1:
        msg = (f"--batch-size {args.batch_size}: give a positive number of samples per model "
               "call, or leave it out for the device's default.")
        raise ValueError(msg)
    if not 0 <= args.max_nan_fraction <= 1:
        msg = f"--max-nan-fraction {args.max_nan_fraction}: give a fraction in [0, 1]."
        raise ValueError(msg)
    if args.quantiles not in (None, "head"):
        check_quantiles(args.quantiles)
    check_outputs([("--out", args.out)], runs=[args.run], inputs=[args.data, args.factors],
                  force=args.force, suffixes={"--out": (*NETCDF_SUFFIXES, ".zarr")})
    issues = args.issues if args.issues in ISSUE_CHOICES else args.issues.split(",")
    run_ = load_run(args.run)
    levels = (requested_levels(args.quantiles, run_.quantiles) if args.quantiles is not None
              else None)
    stack = open_inputs(args)
    calibration = None
    if levels is not None:
        calibration = calibration_for(run_, stack, device=args.device,
                                      batch_size=args.batch_size)
        # too few calibration points: say so before forecasting
        if isinstance(calibration, QuantileCalibration):
            calibration.corrections()
        else:
            calibration.offsets(levels)
    forecast = predict(run_, stack, issues=issues, device=args.device,
                       batch_size=args.batch_size, progress=not args.no_progress,
                       head=isinstance(calibration, QuantileCalibration))
    check_coverage(forecast, stack, max_nan_fraction=args.max_nan_fraction,
                   min_observed=run_.sample.min_observed)
    if calibration is not None:
        forecast = add_quantiles(forecast, calibration, levels)
    path = save_forecast(with_grid_mapping(forecast, stack_crs(stack)), args.out)
    sizes = " x ".join(f"{n} {d}" for d, n in forecast["forecast"].sizes.items())
    print(f"{path}: {run_.model_name} forecasts, {sizes}")
    if calibration is not None:
        how = ("by CQR of its quantile head" if isinstance(calibration, QuantileCalibration)
               else "by split conformal")
        print(f"  quantiles {', '.join(f'{q:g}' for q in levels)} calibrated {how} on "
              f"{calibration.period[0]} to {calibration.period[1]} "
              f"({min(calibration.n_points)} points per step or more)")
    return 0
