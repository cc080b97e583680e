"""Options and loading shared by ``gler train``, ``predict`` and ``evaluate``: data + factors."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import xarray as xr

logger = logging.getLogger(__name__)


def add_data_arguments(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """``--data``, ``--format``, ``--units`` and ``--factors``; with ``several``, ``--data``
    (and ``--factors``, once per ``--data``) may be given more than once (:func:`open_stacks`).
    """
    from gler.data.readers import FORMATS

    data_help = ("InSAR displacement time series: NetCDF/Zarr in the gler data model (e.g. from "
                 "'gler simulate'), MintPy timeseries.h5, LiCSBAS cum.h5, an EGMS CSV or a "
                 "generic wide/long CSV table")
    factors_help = ("environmental factors (daily CSV or NetCDF, e.g. ERA5-Land) when they are "
                    "not in --data; aggregated to the acquisition dates, with thawing/freezing "
                    "degree-days added")
    if several:
        data_help += (". Give --data several times to train one model on several stacks "
                      "(e.g. three regions, for spatial transfer: evaluate it on a fourth): "
                      "same split dates, pixels sampled in each, normalisation from their "
                      "training periods; they need the same factors")
        factors_help += ". With several --data: one --factors per --data, in the same order"
    action = "append" if several else "store"
    parser.add_argument("--data", required=True, type=Path, action=action, help=data_help)
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="format of --data (default: detected from the file)")
    parser.add_argument("--units", default=None,
                        help="displacement units of a CSV table (required unless --format "
                             "egms): m, cm or mm; overrides the units of MintPy/LiCSBAS files; "
                             "for NetCDF/Zarr only mm, to confirm very small displacements")
    parser.add_argument("--factors", type=Path, default=None, action=action, help=factors_help)
    parser.add_argument("--date-format", default=None,
                        help="strptime format of the dates in CSV tables (--data and "
                             "--factors), e.g. %%d/%%m/%%Y; default ISO 8601 (2018-01-04 or "
                             "20180104); day/month orders are never guessed")
    parser.add_argument("--outliers", choices=("error", "mask"), default="error",
                        help="displacements no ground motion produces (beyond 10 m, or jumps "
                             "beyond 1 m between consecutive observations): error (default) "
                             "or mask (set single-date outliers to NaN)")


def open_inputs(args: argparse.Namespace) -> xr.Dataset:
    """The stack of ``--data`` with the factors of ``--factors`` aligned onto its dates."""
    return _open(args.data, args.factors, args)


def open_stacks(args: argparse.Namespace) -> list[xr.Dataset]:
    """The stacks of a repeated ``--data``, each with its own ``--factors`` when given.

    Raises
    ------
    ValueError
        If ``--factors`` is given, but not once per ``--data``.
    """
    factors = args.factors or [None] * len(args.data)
    if len(factors) != len(args.data):
        msg = (f"{len(args.data)} --data but {len(factors)} --factors: give one --factors per "
               "--data (in the same order), or none when the factors are in the data.")
        raise ValueError(msg)
    return [_open(data, factor, args) for data, factor in zip(args.data, factors, strict=True)]


def _open(data: Path, factors: Path | None, args: argparse.Namespace) -> xr.Dataset:
    from gler.data.align import align_factors
    from gler.data.factors import open_factors
    from gler.data.readers import open_stack

    date_format = getattr(args, "date_format", None)
    stack = open_stack(data, format=args.format, units=args.units, date_format=date_format,
                       outliers=getattr(args, "outliers", "error"))
    if factors is None:
        return stack
    factor_kw = {"date_format": date_format} if date_format else {}
    aligned = align_factors(open_factors(factors, **factor_kw), stack["time"].values)
    replaced = sorted(set(aligned.data_vars) & set(stack.data_vars))
    if replaced:
        logger.warning("Factors %s in --data are replaced by those of --factors", replaced)
    return stack.drop_vars(replaced).merge(aligned)
