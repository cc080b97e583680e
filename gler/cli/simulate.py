"""``gler simulate``: write QTR-sim regions to NetCDF or Zarr."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "simulate"
HELP = "simulate QTR-sim permafrost InSAR stacks (one file per region)"
ORDER = 10

SUFFIX = {"netcdf": ".nc", "zarr": ".zarr"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gler.data.qtrsim import NOISE_PRESETS, REGIONS

    parser.add_argument("--region", default="all",
                        help=f"region id ({', '.join(REGIONS)}) or 'all' (default: all)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output file for one region; for 'all' a directory that receives "
                             "<region>.nc (or .zarr)")
    parser.add_argument("--size", type=int, default=128,
                        help="grid size in pixels, size x size (default: 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--noise", default="default",
                        help=f"noise preset: {', '.join(NOISE_PRESETS)} (default: default)")
    parser.add_argument("--noise-scale", type=float, default=1.0,
                        help="factor on the preset's noise levels, >= 0 (default: 1)")
    parser.add_argument("--start", default="2017-01-01",
                        help="first acquisition date (default: 2017-01-01)")
    parser.add_argument("--end", default="2022-12-31",
                        help="last possible acquisition date (default: 2022-12-31)")
    parser.add_argument("--format", choices=sorted(SUFFIX), default="netcdf",
                        help="output format (default: netcdf)")


def run(args: argparse.Namespace) -> int:
    from gler.data.qtrsim import simulate
    from gler.data.qtrsim.core import write_simulation

    stacks = simulate(args.region, size=args.size, seed=args.seed, noise=args.noise,
                      noise_scale=args.noise_scale, start=args.start, end=args.end)
    out: Path = args.out
    several = args.region.strip().lower() == "all" or out.is_dir()
    if several:
        out.mkdir(parents=True, exist_ok=True)
    for name, ds in stacks.items():
        path = out / f"{name}{SUFFIX[args.format]}" if several else out
        write_simulation(ds, path, format=args.format)
        shape = " x ".join(str(n) for n in ds["displacement"].shape)
        print(f"{path}: {name}, displacement {shape} (time x y x x), "
              f"noise {ds.attrs['noise']} ({ds.attrs['noise_sigma_mm']:.2f} mm), "
              f"seed {ds.attrs['seed']}")
    return 0
