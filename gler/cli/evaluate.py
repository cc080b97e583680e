"""``gler evaluate``: score runs and the classical baselines on the same test targets."""

from __future__ import annotations

import argparse
from pathlib import Path

from gler.cli._inputs import add_data_arguments, open_inputs
from gler.cli._outputs import add_force_argument, check_outputs

NAME = "evaluate"
HELP = "evaluate runs against the classical baselines (and the noise floor) as JSON"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, type=Path, nargs="+",
                        help="one or more run directories (several seeds of a model give its "
                             "mean ± std)")
    add_data_arguments(parser)
    parser.add_argument("--baselines", default="all",
                        help="classical baselines: all, none, or comma-separated names "
                             "(persistence is always included as the skill reference)")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test",
                        help="period whose targets are scored (default: test)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run the neural models (default: auto)")
    parser.add_argument("--maps", type=Path, default=None,
                        help="also write per-pixel RMSE maps to this NetCDF file")
    parser.add_argument("--out", required=True, type=Path, help="report file (.json)")
    add_force_argument(parser)


def run(args: argparse.Namespace) -> int:
    from gler.evaluate import evaluate

    check_outputs([("--out", args.out), ("--maps", args.maps)], runs=args.run,
                  inputs=[args.data, args.factors], force=args.force,
                  suffixes={"--out": (".json",), "--maps": (".nc", ".nc4", ".netcdf")})
    result = evaluate(args.run, open_inputs(args), baselines=args.baselines, split=args.split,
                      device=args.device)
    result.save(args.out)
    if args.maps is not None:
        result.maps.to_netcdf(args.maps)
    report = result.report
    floor = report.get("noise_floor", {}).get("rmse")
    print(f"{args.out}: {report['split']} period {report['period'][0]} to {report['period'][1]},"
          f" {report['n_targets']} targets" + (f", noise floor {floor:.3f} mm" if floor else ""))
    for name in report["ranking"]:
        entry = report["models"][name]
        print(f"  {name:<16} RMSE {entry['rmse']:.3f} mm  MAE {entry['mae']:.3f} mm  "
              f"skill vs persistence {entry['skill_vs_persistence']:+.3f}")
    return 0
