"""``gler alert``: per-pixel probabilities that settlement (or heave) exceeds a threshold."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gler.cli._inputs import add_data_arguments, open_inputs
from gler.cli._outputs import add_force_argument, check_outputs

NAME = "alert"
HELP = ("early-warning maps: probability that the displacement changes by more than a "
        "threshold within K steps (CF NetCDF or GeoTIFF; CSV of alerted points for point "
        "data)")
ORDER = 35


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, type=Path,
                        help="run directory written by 'gler train' (neural or classical): a "
                             "run with a quantile head gives each pixel its own distribution, "
                             "its quantiles calibrated by conformalised quantile regression; "
                             "any other run the forecast plus the split-conformal "
                             "distribution of its residuals")
    add_data_arguments(parser)
    parser.add_argument("--threshold-mm", required=True, type=float,
                        help="magnitude of the change in mm (positive; the sign comes from "
                             "--direction)")
    parser.add_argument("--steps", required=True, type=int,
                        help="acquisitions ahead K (1 to the run's horizon): the change from "
                             "the issue date to K acquisitions later")
    parser.add_argument("--direction", choices=("settlement", "heave"), default="settlement",
                        help="downward (settlement, default) or upward (heave) change")
    parser.add_argument("--issues", default="last",
                        help="issue dates: last (default: after the newest acquisition), all, "
                             "train, val, test, or comma-separated acquisition dates")
    parser.add_argument("--probability", type=float, default=0.5,
                        help="points at or above this alert probability go to the CSV (point "
                             "data; default 0.5)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run the model (default: auto)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output file: NetCDF (.nc: probabilities, forecast and observed "
                             "changes; for point data a CSV of the alerted points is written "
                             "next to it, same name, .csv) or, for a grid with a CRS, GeoTIFF "
                             "(.tif: the probability, one band per issue date; needs "
                             "pip install 'gler[geotiff]')")
    add_force_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gler.alerts import (
        GEOTIFF_SUFFIXES,
        PROBABILITY,
        alert_map,
        check_alert,
        check_geotiff,
        save_alerts,
    )
    from gler.forecast import ISSUE_CHOICES, NETCDF_SUFFIXES
    from gler.run import load_run

    if not 0 < args.probability <= 1:
        msg = f"--probability {args.probability:g}: give a probability in (0, 1]."
        raise ValueError(msg)
    run_ = load_run(args.run)
    check_alert(args.threshold_mm, args.steps, run_.sample.horizon, args.direction)
    csv = args.out.with_suffix(".csv")
    check_outputs([("--out", args.out), ("--out (CSV)", csv)], runs=[args.run],
                  inputs=[args.data, args.factors], force=args.force,
                  suffixes={"--out": (*NETCDF_SUFFIXES, *GEOTIFF_SUFFIXES)})
    issues = args.issues if args.issues in ISSUE_CHOICES else args.issues.split(",")
    stack = open_inputs(args)
    geotiff = args.out.suffix.lower() in GEOTIFF_SUFFIXES
    if geotiff:
        try:
            check_geotiff(stack)
        except ImportError as err:
            print(f"gler alert: error: {err}", file=sys.stderr)
            return 2
    alerts = alert_map(run_, stack, threshold_mm=args.threshold_mm, steps=args.steps,
                       direction=args.direction, issues=issues, device=args.device)
    save_alerts(alerts, args.out)
    prob = alerts[PROBABILITY]
    how = ("by CQR of its quantile head" if alerts.attrs["calibration"] == "cqr"
           else "by split conformal")
    print(f"{args.out}: P({args.direction} >= {args.threshold_mm:g} mm within {args.steps} "
          f"steps) by {run_.model_name}, {prob.sizes['issue_time']} issue date(s); "
          f"calibrated {how} on {alerts.attrs['calibration_period']}"
          + ("; GeoTIFF: the probability, one band per issue date" if geotiff else ""))
    if "point" in prob.dims:
        table = alerts.to_dataframe().reset_index()
        table = table[table[PROBABILITY] >= args.probability]
        table.to_csv(csv, index=False, float_format="%.4f")
        print(f"{csv}: {len(table)} point alert(s) at probability >= {args.probability:g}")
    return 0
