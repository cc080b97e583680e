"""``gler evaluate``: score runs and the classical baselines on the same test targets."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from gler.cli._inputs import (
    TRAIN_FLAGS,
    add_data_arguments,
    add_split_arguments,
    has_split_options,
    open_inputs,
    said_as_flags,
    split_dates,
)
from gler.cli._outputs import add_force_argument, check_outputs
from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW

NAME = "evaluate"
HELP = "evaluate runs against the classical baselines (and the noise floor) as JSON"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, nargs="+", default=[],
                        help="one or more run directories (several seeds of a model give its "
                             "mean ± std); without --run the classical baselines are scored "
                             "alone (no training needed), with --window/--horizon")
    add_data_arguments(parser)
    parser.add_argument("--window", type=int, default=None,
                        help="input window L of the baselines without --run (default: "
                             f"{DEFAULT_WINDOW})")
    parser.add_argument("--horizon", type=int, default=None,
                        help="horizon H of the baselines without --run (default: "
                             f"{DEFAULT_HORIZON})")
    add_split_arguments(parser, defaults="the split dates of the runs (without --run: the "
                        "cuts at 4/6 and 5/6 of the time span)")
    parser.add_argument("--baselines", default="all",
                        help="classical baselines: all, none, or comma-separated names "
                             "(persistence is always included as the skill reference)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test",
                        help="period whose targets are scored (default: test)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run the neural models (default: auto)")
    parser.add_argument("--probabilistic", action="store_true",
                        help="also calibrate each model on its validation period, per step "
                             "(conformalised quantile regression for a run with a quantile "
                             "head, split conformal for the others) and report CRPS, pinball "
                             "loss, coverage and width of the 50/80/90 %% intervals, each "
                             "coverage's 95 %% interval over the issue dates (a date's pixels "
                             "share its atmosphere), and the PIT histogram")
    parser.add_argument("--maps", type=Path, default=None,
                        help="also write per-pixel RMSE maps to this NetCDF file")
    parser.add_argument("--out", required=True, type=Path, help="report file (.json)")
    add_force_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gler.evaluate import evaluate
    from gler.forecast import NETCDF_SUFFIXES

    check_outputs([("--out", args.out), ("--maps", args.maps)], runs=args.run or (),
                  inputs=[args.data, args.factors], force=args.force,
                  suffixes={"--out": (".json",), "--maps": NETCDF_SUFFIXES})
    stack = open_inputs(args)
    chosen = None
    if has_split_options(args):
        from gler.data.sample import resolve_split_dates

        train_end, val_end = split_dates(args, [stack])
        chosen = said_as_flags(resolve_split_dates, TRAIN_FLAGS, stack["time"].values,
                               train_end, val_end)
    if not args.run:
        print("no --run: scoring the classical baselines alone")
    result = said_as_flags(evaluate, TRAIN_FLAGS, args.run, stack, baselines=args.baselines,
                           split=args.split, device=args.device,
                           split_dates=chosen,
                           window=args.window, horizon=args.horizon,
                           probabilistic=args.probabilistic)
    result.save(args.out)
    if args.maps is not None:
        result.maps.to_netcdf(args.maps)
    report = result.report
    floor = report.get("noise_floor", {}).get("rmse")
    print(f"{args.out}: {report['split']} period {report['period'][0]} to {report['period'][1]},"
          f" {report['n_targets']} targets" + (f", noise floor {floor:.3f} mm" if floor else ""))
    for name in report["ranking"]:
        entry = report["models"][name]
        print(f"  {name:<20} RMSE {entry['rmse']:.3f} mm  MAE {entry['mae']:.3f} mm  "
              f"skill vs persistence {entry['skill_vs_persistence']:+.3f}")
        if "probabilistic" in entry:
            prob = entry["probabilistic"]
            cover = "  ".join(f"{float(k):.0%} {sum(v) / len(v):.1%}"
                              for k, v in prob["coverage"].items())
            print(f"  {'':<20} CRPS {prob['crps']:.3f} mm  pinball {prob['pinball']:.3f} mm  "
                  f"coverage {cover} ({entry.get('calibration', 'split-conformal')})")
            held = ", ".join(f"{float(k):.0%} at {sum(lo <= float(k) <= hi for lo, hi in v)} of "
                             f"{sum(math.isfinite(lo) for lo, _ in v)}"  # NaN: fewer than 2 dates
                             for k, v in prob["coverage_interval"].items())
            print(f"  {'':<20} nominal inside the 95 % interval over dates: {held} steps")
    for name, stats in report.get("stability", {}).items():
        rmse = stats["rmse"]
        print(f"  {name}: RMSE {rmse['mean']:.3f} ± {rmse['std']:.3f} mm over "
              f"{rmse.get('n', '?')} runs (mean ± std)")
    for name, reason in report.get("left_out", {}).items():
        print(f"  left out: {name}: {reason}")
    return 0
