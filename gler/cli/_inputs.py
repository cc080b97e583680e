"""Options and loading shared by ``gler train``, ``predict`` and ``evaluate``: data + factors."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import xarray as xr

logger = logging.getLogger(__name__)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--format``, ``--units`` and ``--factors``."""
    from gler.data.readers import FORMATS

    parser.add_argument("--data", required=True, type=Path,
                        help="InSAR displacement time series: NetCDF/Zarr in the gler data "
                             "model (e.g. from 'gler simulate'), MintPy timeseries.h5, LiCSBAS "
                             "cum.h5, an EGMS CSV or a generic wide/long CSV table")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="format of --data (default: detected from the file)")
    parser.add_argument("--units", default=None,
                        help="displacement units of a generic CSV table: m, cm or mm")
    parser.add_argument("--factors", type=Path, default=None,
                        help="environmental factors (daily CSV or NetCDF, e.g. ERA5-Land) when "
                             "they are not in --data; aggregated to the acquisition dates, "
                             "with thawing/freezing degree-days added")


def open_inputs(args: argparse.Namespace) -> xr.Dataset:
    """The stack of ``--data`` with the factors of ``--factors`` aligned onto its dates."""
    from gler.data.align import align_factors
    from gler.data.factors import open_factors
    from gler.data.readers import open_stack

    stack = open_stack(args.data, format=args.format, units=args.units)
    if args.factors is None:
        return stack
    aligned = align_factors(open_factors(args.factors), stack["time"].values)
    replaced = sorted(set(aligned.data_vars) & set(stack.data_vars))
    if replaced:
        logger.warning("Factors %s in --data are replaced by those of --factors", replaced)
    return stack.drop_vars(replaced).merge(aligned)
