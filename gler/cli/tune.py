"""``gler tune``: choose each neural model's settings on folds over seasons (Optuna)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gler.cli._inputs import (
    add_data_arguments,
    add_sample_arguments,
    add_split_arguments,
    jobs_value,
    streams_value,
)

NAME = "tune"
HELP = ("tune each neural model's settings on folds over seasons (Optuna: the same trials, "
        "sampler and pruner for every model) and write tuned.json for gler train --tuned")
ORDER = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gler.tune import BUDGETS

    add_data_arguments(parser, several=True)
    parser.add_argument("--models", default=None, metavar="NAME,...",
                        help="neural models to tune, comma-separated (default: gler and the "
                             "profile's compared baselines, e.g. the seven neural baselines "
                             "of the book profile)")
    parser.add_argument("--profile", default="book",
                        help="the profile whose settings are tuned: smoke, book or paper "
                             "(default: book)")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="book",
                        help="trials per model: " + "; ".join(
                            f"{b.name}: {b.n_trials} trials, {b.description}"
                            for b in BUDGETS.values()) + " (default: book)")
    parser.add_argument("--folds", type=int, default=2, metavar="N",
                        help="expanding-window folds before the test period, each validating "
                             "a season; the last is the split itself (default: 2)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampler and of every trial's training (default: 0)")
    parser.add_argument("--quantiles", default=None, metavar="LEVELS",
                        help="tune the models with a quantile head at these levels (as gler "
                             "train --quantiles), on the validation pinball loss instead of "
                             "the RMSE; use another --out than the point models'")
    add_sample_arguments(parser)
    add_split_arguments(parser, defaults="the cuts at 4/6 and 5/6 of the time span, snapped to "
                        "a year (or month) end; the folds never reach past --val-end")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="where the trials train (default: the profile's, auto)")
    parser.add_argument("--jobs", type=jobs_value, default="auto", metavar="N",
                        help="models tuned at once, each in a process of its own (the same "
                             "choice as one at a time; capped to the CPU cores, or to what the "
                             "GPU holds); auto: one per CPU core (default: auto)")
    parser.add_argument("--streams", type=streams_value, default=1, metavar="K",
                        help="models each of those processes tunes at once, their trials "
                             "taking turns step by step, each on its own CUDA stream (on a "
                             "GPU; the same choice); default 1")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bar over the trials")
    parser.add_argument("--out", required=True, type=Path,
                        help="directory for study.sqlite3 (an interrupted tune there resumes) "
                             "and tuned.json")


def run(args: argparse.Namespace) -> int:
    from gler.cli._inputs import TRAIN_FLAGS, open_stacks, said_as_flags, split_dates
    from gler.data.multistack import shared_factors
    from gler.layers.quantile import check_levels
    from gler.profiles import get_profile
    from gler.tune import TUNED_FILE, import_optuna, tune

    try:
        optuna = import_optuna()
    except ImportError as err:
        print(f"gler tune: error: {err}", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # gler says what each model chose
    levels = (check_levels(args.quantiles.split(","), head=True) if args.quantiles is not None
              else ())
    profile = get_profile(args.profile)
    models = (args.models.split(",") if args.models
              else ["gler", *profile.compared])
    stacks = open_stacks(args)
    train_end, val_end = split_dates(args, stacks)
    flags = {**TRAIN_FLAGS, "n_folds": "--folds", "budget": "--budget"}
    sample = said_as_flags(profile.sample_spec, flags, available=shared_factors(stacks),
                           window=args.window, horizon=args.horizon, train_end=train_end,
                           val_end=val_end)
    settings = said_as_flags(tune, flags, stacks, [m.strip() for m in models],
                             profile=profile, budget=args.budget, n_folds=args.folds,
                             seed=args.seed, out_dir=args.out, sample=sample,
                             device=args.device, progress=not args.no_progress,
                             jobs=os.cpu_count() or 1 if args.jobs == "auto" else args.jobs,
                             streams=args.streams, quantiles=levels)
    folds = ", ".join(f"{f.split.train_end.date()}/{f.split.val_end.date()}"
                      for f in settings.folds)
    head = (f" with a quantile head at {','.join(f'{q:g}' for q in levels)} (pinball loss)"
            if levels else "")
    print(f"{args.out / TUNED_FILE}: {len(settings.models)} models{head}, "
          f"{settings.n_trials} trials each, folds (training to / validation to) {folds}")
    for name, chosen in settings.models.items():
        changes = {**chosen.train_changes, **chosen.model_overrides}
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in changes.items())
        print(f"  {name}: {chosen.value_mm:.3f} mm over the folds; final fit "
              f"{chosen.epochs} epochs; {shown}")
    return 0
