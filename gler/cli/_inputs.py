"""Options and loading shared by ``gler train``, ``predict`` and ``evaluate``: data, factors,
splits, and the library's messages said in the command line's words."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

logger = logging.getLogger(__name__)

#: ``--factors none``: no factor at all (those in ``--data`` are dropped too).
NO_FACTORS = "none"

STRADDLE_RULE = ("A sample belongs to the period that holds all its H target dates; windows "
                 "whose targets straddle a cut are dropped")

#: Python keywords of the library -> the flag that sets them, by what is being read.
STACK_FLAGS = {"units": "--units", "format": "--format"}
FACTOR_FLAGS = {"units": "--factor-units", "rename": "--factor-rename",
                "columns": "--factor-columns", "point_col": "--factors-point-column",
                "degree_day_source": "--degree-days-from", "format": "--factors"}
TRAIN_FLAGS = {"window": "--window", "horizon": "--horizon", "epochs": "--epochs",
               "batch_size": "--batch-size", "lr": "--lr", "pixel_fraction": "--pixel-fraction",
               "train_end": "--train-end", "val_end": "--val-end", "seed": "--seed",
               "device": "--device", "num_threads": "--num-threads",
               "warmup_epochs": "--warmup-epochs", "ema_decay": "--ema-decay",
               "factor_dropout": "--factor-dropout"}
#: Phrases with keywords that have no flag, said as what to do with the file instead.
_PHRASES = (
    (r"pass format='csv-long' with date_col=/value_col=/point_col=\.",
     "pass --format csv-long and name the columns date, value and point."),
    (r"pass date_col= and value_col=\.", "name the columns date and value."),
    (r"pass date_col=\.", "name the date column 'date'."),
    (r" to open_stack\b", ""),
    (r"\(or 'cm', 'm'\)", "(or cm, m)"),
    (r", or degree_day_source=None to skip the degree-days", ""),
    (r"degree_day_source=<a temperature factor in degC>", "--degree-days-from NAME (a daily "
     "temperature in degC)"),
    (r"Check the units= you gave", "Check the --factor-units you gave"),
    (r"choose one with lat=/lon= \(nearest cell\) or average a region with bbox=\(lon_min, "
     r"lat_min, lon_max, lat_max\)\.", "give the data lat/lon coordinates (the nearest cell "
     "is taken) or a file of one cell."),
    (r"TrainConfig\(factors=\.\.\.\)", "--factors"),
    (r"Invalid TrainConfig: ", "Invalid option: "),
    (r"Invalid SampleSpec: ", "Invalid option: "),
    (r"Convert with gler\.data\.model\.to_millimetres and set units='mm'\.",
     "Convert the file to mm (units attribute 'mm'), or give the product in its own format."),
    (r"Lower min_observed or raise pixel_fraction\.",
     "Raise --pixel-fraction, or give data with fewer gaps."),
    (r"Choose cut dates inside the data\.", "Choose cut dates inside the data (--train-end/"
     "--val-end, or --test-fraction/--test-dates)."),
)
_KEYWORD = re.compile(r"(?<![\w-])([a-z_]+)=(\{[^}]*\}|'[^']*'|\"[^\"]*\"|[^\s,;)]*)")


def cli_words(text: str, flags: Mapping[str, str]) -> str:
    """``text`` with the Python keywords it suggests replaced by the flags that set them.

    Example
    -------
    >>> cli_words("pass units='mm' (or 'cm', 'm') to open_stack.", STACK_FLAGS)
    'pass --units mm (or cm, m).'
    """
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)

    def flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        end = "." if value.endswith(".") else ""
        value = value.strip("'\"").rstrip(".")
        if value.startswith("{"):
            value = "NAME=UNIT,..." if "unit" in value else "OLD=NEW,..."
        return f"{flags[name]} {value}".rstrip() + end

    return _KEYWORD.sub(flag, text)


def said_as_flags(call: Callable[..., Any], flags: Mapping[str, str], *args: Any,
                  **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, its ValueError said with :func:`cli_words`."""
    try:
        return call(*args, **kwargs)
    except ValueError as err:
        raise ValueError(cli_words(str(err), flags)) from err


def _pairs(text: str | None, option: str) -> dict[str, str]:
    """``"a=b,c=d"`` as a dict (for ``--factor-units`` and ``--factor-rename``)."""
    if not text:
        return {}
    pairs = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            msg = f"{option} takes NAME=VALUE pairs separated by commas; got {item!r} in {text!r}."
            raise ValueError(msg)
        pairs[key.strip()] = value.strip()
    return pairs


def _factors_arg(value: str) -> Path | str:
    return NO_FACTORS if value.lower() == NO_FACTORS else Path(value)


def add_data_arguments(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """``--data``, ``--format``, ``--units``, ``--factors`` and the factor options; with
    ``several``, ``--data`` (and ``--factors``, once per ``--data``) may be given more than
    once (:func:`open_stacks`).
    """
    from gler.data.readers import FORMATS, describe_formats

    data_help = ("InSAR displacement time series in one of the --format formats (e.g. the "
                 "NetCDF of 'gler simulate')")
    factors_help = ("environmental factors when they are not in --data: a daily (or hourly, "
                    "weekly, monthly) CSV table or a NetCDF in the data model's names or ERA5-Land "
                    "short names, aggregated to the acquisition dates, with thawing/freezing "
                    "degree-days added when it has a temperature; 'none' uses no factor (the "
                    "neural models then get calendar features)")
    if several:
        data_help += (". Give --data several times to train one model on several stacks "
                      "(e.g. three regions, for spatial transfer: evaluate it on a fourth): "
                      "same split dates, pixels sampled in each, normalisation from their "
                      "training periods; they need the same factors")
        factors_help += ". With several --data: one --factors per --data, in the same order"
    action = "append" if several else "store"
    parser.add_argument("--data", required=True, type=Path, action=action, help=data_help)
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="format of --data (default: detected from the file, trying in "
                             f"this order): {describe_formats()}")
    parser.add_argument("--units", default=None,
                        help="displacement units of a CSV table (required unless --format "
                             "egms): m, cm or mm; overrides the units of MintPy/LiCSBAS files; "
                             "for NetCDF/Zarr only mm, to confirm very small displacements")
    parser.add_argument("--factors", type=_factors_arg, default=None, action=action,
                        metavar="FILE|none", help=factors_help)
    parser.add_argument("--date-format", default=None,
                        help="strptime format of the dates in CSV tables (--data and "
                             "--factors), e.g. %%d/%%m/%%Y; default ISO 8601 (2018-01-04 or "
                             "20180104); day/month orders are never guessed")
    parser.add_argument("--outliers", choices=("error", "mask"), default="error",
                        help="displacements no ground motion produces (beyond 10 m, or jumps "
                             "beyond 1 m between consecutive observations): error (default) "
                             "or mask (set single-date outliers to NaN)")
    parser.add_argument("--factor-units", default=None, metavar="NAME=UNIT,...",
                        help="units of factor columns/variables (after --factor-rename), e.g. "
                             "rain=mm,t2=K; data-model names default to the model's units")
    parser.add_argument("--factor-rename", default=None, metavar="OLD=NEW,...",
                        help="rename factor columns/variables, e.g. T2mMean=air_temperature")
    parser.add_argument("--factor-columns", default=None, metavar="NAME,...",
                        help="the factor columns to read from a CSV (default: every numeric "
                             "one)")
    parser.add_argument("--factors-point-column", default=None, metavar="NAME",
                        help="point-id column of a long factor table with one row per date "
                             "and point: per-point factors, matched to the points of --data "
                             "(default: a column named point, pid or point_id)")
    parser.add_argument("--degree-days-from", default=None, metavar="NAME",
                        help="daily temperature factor (degC) the thawing/freezing degree-days "
                             "are computed from (default: ground_surface_temperature, else "
                             "air_temperature, else no degree-days)")


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """``--window`` and ``--horizon``: L and H of the samples a model is trained on."""
    from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW

    parser.add_argument("--window", type=int, default=None,
                        help=f"input window L in acquisitions (default: {DEFAULT_WINDOW})")
    parser.add_argument("--horizon", type=int, default=None,
                        help=f"forecast horizon H in acquisitions (default: {DEFAULT_HORIZON})")


def add_split_arguments(parser: argparse.ArgumentParser, *, defaults: str) -> None:
    """``--train-end``/``--val-end`` or ``--test-fraction``/``--val-fraction``/
    ``--test-dates``: where the chronological split cuts."""
    group = parser.add_argument_group(
        "split", f"Chronological split by target date. {STRADDLE_RULE}. Give cut dates, or "
        f"a share or count of the dates (not both); default: {defaults}.")
    group.add_argument("--train-end", default=None,
                       help="last target date of the training period (YYYY-MM-DD)")
    group.add_argument("--val-end", default=None,
                       help="last target date of the validation period (YYYY-MM-DD)")
    group.add_argument("--test-fraction", type=float, default=None,
                       help="share of the acquisition dates, at the end, in the test period "
                            "(e.g. 0.2)")
    group.add_argument("--val-fraction", type=float, default=None,
                       help="share of the dates just before the test period that validate "
                            "(default: as many as the test period)")
    group.add_argument("--test-dates", type=int, default=None, metavar="N",
                       help="the last N acquisition dates form the test period")


def has_split_options(args: argparse.Namespace) -> bool:
    """Whether any split option was given."""
    return any(getattr(args, name, None) is not None for name in (
        "train_end", "val_end", "test_fraction", "val_fraction", "test_dates"))


def split_dates(args: argparse.Namespace, stacks: Sequence[xr.Dataset],
                ) -> tuple[str | None, str | None]:
    """``(train_end, val_end)`` from the split options (None: the default cut).

    Raises
    ------
    ValueError
        If cut dates and shares/counts are both given, or the shares leave no training date.
    """
    from gler.data.sample import split_by_count

    counted = [f"--{n.replace('_', '-')}" for n in ("test_fraction", "val_fraction",
                                                   "test_dates")
               if getattr(args, n, None) is not None]
    if not counted:
        return args.train_end, args.val_end
    if args.train_end is not None or args.val_end is not None:
        msg = (f"Give the split either as cut dates (--train-end/--val-end) or as a share or "
               f"count of the dates ({', '.join(counted)}), not both.")
        raise ValueError(msg)
    times = pd.DatetimeIndex(sorted({t for s in stacks
                                     for t in pd.DatetimeIndex(s["time"].values)}))
    split = said_as_flags(split_by_count, {}, times, test_fraction=args.test_fraction,
                          val_fraction=args.val_fraction, test_dates=args.test_dates)
    logger.warning("Split: training targets up to %s, validation up to %s, test after (%d "
                   "dates)", split.train_end.date(), split.val_end.date(),
                   int((times > split.val_end).sum()))
    return split.train_end.isoformat(), split.val_end.isoformat()


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
    if len(factors) == 1 and factors[0] == NO_FACTORS:
        factors = factors * len(args.data)
    if len(factors) != len(args.data):
        msg = (f"{len(args.data)} --data but {len(factors)} --factors: give one --factors per "
               "--data (in the same order), or none when the factors are in the data.")
        raise ValueError(msg)
    return [_open(data, factor, args) for data, factor in zip(args.data, factors, strict=True)]


def _open(data: Path, factors: Path | str | None, args: argparse.Namespace) -> xr.Dataset:
    from gler.data.factors import (
        attach_factors,
        factor_format,
        open_factors,
        stack_centre,
        use_spatial_factors,
    )
    from gler.data.model import factor_names
    from gler.data.readers import open_stack

    date_format = getattr(args, "date_format", None)
    stack = said_as_flags(open_stack, STACK_FLAGS, data, format=args.format, units=args.units,
                          date_format=date_format, outliers=getattr(args, "outliers", "error"))
    stack = use_spatial_factors(stack, what=f"--data {data}")
    if factors == NO_FACTORS:
        present = factor_names(stack)
        if present:
            logger.warning("--factors none: the factors in --data (%s) are not used",
                           ", ".join(present))
        return stack.drop_vars(present)
    if factors is None:
        return stack
    options = {"units": _pairs(args.factor_units, "--factor-units"),
               "rename": _pairs(args.factor_rename, "--factor-rename"),
               "columns": args.factor_columns.split(",") if args.factor_columns else None,
               "point_col": args.factors_point_column, "date_format": date_format}
    if factor_format(factors) == "netcdf":
        options = {"units": options["units"], "rename": options["rename"],
                   **stack_centre(stack)}
    daily = said_as_flags(open_factors, FACTOR_FLAGS, factors, **options)
    return said_as_flags(attach_factors, FACTOR_FLAGS, stack, daily, what=f"--factors {factors}",
                         fill_from_climatology=True,
                         degree_day_source=args.degree_days_from or "auto")


def streams_value(text: str) -> int:
    """``--streams``: a positive number."""
    if not text.isdigit() or int(text) < 1:
        msg = f"--streams takes a positive number, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def jobs_value(text: str) -> int | str:
    """``--jobs``: a positive number or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"--jobs takes a positive number or 'auto', not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value
