"""``gler train``: train a forecaster on a stack and write a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from gler.cli._inputs import (
    TRAIN_FLAGS,
    add_data_arguments,
    add_sample_arguments,
    add_split_arguments,
    open_stacks,
    said_as_flags,
    split_dates,
)

NAME = "train"
HELP = "train a forecaster (GLER-BiGRUnet or a baseline) and write a run directory"
ORDER = 20
#: What helps a model generalise (TrainConfig fields, off by default): type and help.
REMEDIES = {
    "warmup_epochs": (int, "linear learning-rate warm-up over this many epochs (0: none)"),
    "ema_decay": (float, "average the weights with this decay, in [0, 1); validation and the "
                         "saved model use the average (0: none)"),
    "factor_dropout": (float, "probability of replacing each factor channel of a training "
                              "sample by its training mean, in [0, 1) (0: none)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, several=True)
    parser.add_argument("--model", default="gler",
                        help="model name (see gler.models.list_models(); default: gler). "
                             "Classical baselines store only their config")
    parser.add_argument("--profile", default="paper",
                        help="named parameter set from gler.profiles: smoke, book or paper "
                             "(default: paper); the options below override it")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum number of epochs (with --final-fit: the number trained)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the profile's first seed)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="where to train; auto picks CUDA when present (default: auto)")
    add_sample_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=None, help="samples per step")
    parser.add_argument("--lr", type=float, default=None, help="AdamW learning rate")
    parser.add_argument("--pixel-fraction", type=float, default=None,
                        help="fraction of valid pixels sampled for training, in (0, 1]")
    parser.add_argument("--calendar", action=argparse.BooleanOptionalAction, default=None,
                        help="give the neural model calendar features (day-of-year sine and "
                             "cosine of the acquisition dates); default: only when it gets no "
                             "other factor")
    add_split_arguments(parser, defaults="the cuts at 4/6 and 5/6 of the time span, snapped to "
                        "a year (or month) end")
    for field, (kind, text) in REMEDIES.items():
        parser.add_argument(TRAIN_FLAGS[field], type=kind, default=None, help=text)
    parser.add_argument("--quantiles", default=None, metavar="LEVELS",
                        help="give the neural model a quantile head forecasting these levels "
                             "instead of a point forecast, e.g. 0.05,0.1,0.25,0.5,0.75,0.9,0.95 "
                             "(0.5 among them, symmetric about it): trained on the mean pinball "
                             "loss over the levels, its median is the point forecast, and gler "
                             "predict --quantiles and gler evaluate --probabilistic calibrate "
                             "its intervals by conformalised quantile regression on the "
                             "validation period")
    parser.add_argument("--tuned", type=Path, default=None, metavar="FILE",
                        help="tuned.json written by gler tune for this --profile and data: "
                             "the settings chosen for --model (refused if tuned by another "
                             "gler release or on other data); the options above win")
    parser.add_argument("--final-fit", action="store_true",
                        help="train on the training and validation periods together for a fixed "
                             "number of epochs (the tuned count with --tuned, else --epochs or "
                             "the profile's), without early stopping; the test period stays "
                             "out")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-amp", action="store_true",
                        help="disable mixed precision on CUDA")
    parser.add_argument("--no-cuda-graphs", action="store_true",
                        help="run every training step eagerly on CUDA (no CUDA graph)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--out", required=True, type=Path,
                        help="run directory (created; an interrupted run there is resumed)")


def run(args: argparse.Namespace) -> int:
    from gler.data.folds import final_fit_sample
    from gler.data.multistack import shared_factors
    from gler.layers.quantile import check_levels
    from gler.profiles import get_profile
    from gler.run import read_run_record
    from gler.train import train

    levels = (check_levels(args.quantiles.split(","), head=True) if args.quantiles is not None
              else ())
    profile = get_profile(args.profile)
    stacks = open_stacks(args)
    if args.tuned is not None:
        profile = profile.with_tuned(args.tuned, data=stacks)
        profile.tuned.check_quantiles(levels)
    train_end, val_end = split_dates(args, stacks)
    config = said_as_flags(
        profile.train_config, TRAIN_FLAGS,
        seed=args.seed if args.seed is not None else profile.seeds[0], model=args.model,
        final_fit=args.final_fit, epochs=args.epochs, device=args.device,
        batch_size=args.batch_size, lr=args.lr, pixel_fraction=args.pixel_fraction,
        num_threads=args.num_threads, amp=False if args.no_amp else None,
        cuda_graphs=False if args.no_cuda_graphs else None,
        **{field: getattr(args, field) for field in REMEDIES})
    sample = said_as_flags(profile.sample_spec, TRAIN_FLAGS, available=shared_factors(stacks),
                           window=args.window, horizon=args.horizon, train_end=train_end,
                           val_end=val_end, calendar=args.calendar)
    if args.final_fit:
        sample = said_as_flags(final_fit_sample, TRAIN_FLAGS, sample, stacks[0]["time"].values)
    overrides = {**profile.model_overrides(args.model),
                 **({"quantiles": levels} if levels else {})}
    result = said_as_flags(train, TRAIN_FLAGS, stacks, args.model, config, overrides,
                           args.out, sample=sample, progress=not args.no_progress)
    if len(stacks) > 1:
        print(f"{args.out}: one model trained on {len(stacks)} stacks "
              f"({', '.join(str(p) for p in args.data)})")
    if result.best_epoch is None:
        print(f"{args.out}: {args.model} is a classical baseline; its config is saved")
    else:
        kept = ("the last epoch's weights (final fit)" if result.best_val_loss is None
                 else f"best validation loss {result.best_val_loss:.4f} at epoch "
                      f"{result.best_epoch}")
        print(f"{args.out}: {args.model}, {result.epochs_run} epochs, {kept} "
              f"({result.wall_time_s:.0f} s)")
        if levels:
            print(f"  quantile head: levels {','.join(f'{q:g}' for q in levels)} (pinball "
                  "loss; the median is the point forecast)")
        used = read_run_record(args.out)["sample"]
        print(f"  factors: {', '.join(used['factors']) or 'none'}; split: training targets "
              f"to {used['train_end'][:10]}, validation to {used['val_end'][:10]}")
    return 0


