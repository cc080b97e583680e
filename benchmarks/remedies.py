"""What each training remedy of issue 18 does on folds over seasons, for GLER and baselines.

Usage::

    python benchmarks/remedies.py --out remedies.json   # the book profile: minutes, 2-core CPU
    python benchmarks/remedies.py --tiny                # seconds

For each model and variant (none, warm-up, weight average, factor dropout, all three) one
pooled model per fold (two folds over seasons, the profile's regions) and seed is trained with
the profile's settings and the variant's changes. Printed (a markdown table) and written:

- ``rmse_mm``: validation RMSE in mm, mean over folds, seeds and regions (what tuning
  minimises, :func:`gler.tune.validation_rmse`);
- ``best_epoch_1``: the fraction of runs whose best validation epoch is the first;
- ``gap``: validation minus training loss at the best epoch (normalised MSE), mean over runs;
- ``final_fit``: the fixed-count final fit, measured one season early: trained on targets up
  to fold 1's validation end with fold 1's best-epoch count and no early stopping, scored on
  fold 2's validation season, next to the early-stopped fold-1 model scored on that season.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gler.config import TrainConfig
from gler.data.folds import season_folds
from gler.data.qtrsim import simulate_region
from gler.data.sample import SampleSpec
from gler.profiles import get_profile
from gler.train import train
from gler.tune import validation_rmse

MODELS = ("gler", "lstm", "transformer", "dlinear")
VARIANTS = {
    "none": {},
    "warm-up": {"warmup_epochs": 1},
    "weight average": {"ema_decay": 0.99},
    "factor dropout": {"factor_dropout": 0.25},
    "all three": {"warmup_epochs": 1, "ema_decay": 0.99, "factor_dropout": 0.25},
}


def measure(models: tuple[str, ...], seeds: tuple[int, ...], tiny: bool,
            samples_per_epoch: int | None = None) -> dict:
    """The table's numbers, per model and variant, and the final fit's comparison."""
    profile = get_profile("book")
    size, regions = (8, profile.regions[:2]) if tiny else (profile.size, profile.regions)
    stacks = [simulate_region(r, size=size, seed=0, noise=profile.noise) for r in regions]
    sample = profile.sample_spec(available=list(stacks[0].data_vars))
    folds = season_folds(stacks[0]["time"].values, sample.split_for(stacks[0]["time"].values))
    base = profile.train.replace(device="cpu", max_samples_per_epoch=samples_per_epoch,
                                 **({"epochs": 2} if tiny else {}))
    results: dict = {}
    for model in models:
        overrides = profile.model_overrides(model)
        fits: list[dict] = []
        for variant, changes in VARIANTS.items():
            runs = []
            for seed in seeds:
                config = base.replace(seed=seed, **changes)
                with tempfile.TemporaryDirectory() as tmp:
                    for fold in folds:
                        run_dir = Path(tmp) / f"fold{fold.number}"
                        result = train(stacks, model, config, overrides, run_dir,
                                       sample=fold.sample(sample), progress=False)
                        best = result.history[result.best_epoch - 1]
                        runs.append({"rmse_mm": float(np.mean(validation_rmse(
                            run_dir, stacks, config.max_val_samples, seed))),
                            "best_epoch": result.best_epoch,
                            "gap": best["val_loss"] - best["train_loss"],
                            "seconds": result.wall_time_s})
                    if variant == "none":  # the final fit, one season early
                        fits.append(_final_fit(stacks, model, config, overrides, sample, folds,
                                               Path(tmp), runs[-len(folds)]["best_epoch"]))
            results.setdefault(model, {})[variant] = {
                "rmse_mm": float(np.mean([r["rmse_mm"] for r in runs])),
                "best_epoch_1": float(np.mean([r["best_epoch"] == 1 for r in runs])),
                "best_epoch": float(np.mean([r["best_epoch"] for r in runs])),
                "gap": float(np.mean([r["gap"] for r in runs])),
                "runs": runs}
            print(f"{model:12s} {variant:15s} {results[model][variant]['rmse_mm']:.3f} mm",
                  flush=True)
        results[model]["final_fit"] = fits
    return results


def _final_fit(stacks: list, model: str, config: TrainConfig, overrides: dict,
               sample: SampleSpec, folds: tuple, tmp: Path, epochs: int) -> dict:
    """Fold 1's early-stopped model and a final fit to fold 1's ``val_end`` with its
    ``epochs``, both scored on fold 2's validation season."""
    cut = folds[0].split.val_end.isoformat()
    train(stacks, model, config.replace(epochs=epochs, early_stopping=False), overrides,
          tmp / "final", sample=sample.replace(train_end=cut, val_end=cut), progress=False)
    scores = {name: float(np.mean(validation_rmse(tmp / run, stacks, config.max_val_samples,
                                                   config.seed, split=folds[1].split)))
              for name, run in (("early_stopped_mm", "fold1"), ("final_fit_mm", "final"))}
    return {"epochs": epochs, **scores}


def table(results: dict) -> str:
    """The markdown table of REMEDIES.md."""
    lines = ["| model | variant | RMSE (mm) | best epoch = 1 | mean best epoch | "
             "val − train loss |", "| --- | --- | --- | --- | --- | --- |"]
    for model, variants in results.items():
        for variant in VARIANTS:
            v = variants[variant]
            lines.append(f"| {model} | {variant} | {v['rmse_mm']:.3f} | "
                         f"{v['best_epoch_1']:.0%} | {v['best_epoch']:.1f} | {v['gap']:+.3f} |")
    lines += ["", "| model | fold-1 epochs | early-stopped on 2020, scored on 2021 (mm) | "
              "final fit to 2020, scored on 2021 (mm) |", "| --- | --- | --- | --- |"]
    for model, variants in results.items():
        fits = variants["final_fit"]
        lines.append(f"| {model} | {', '.join(str(f['epochs']) for f in fits)} | "
                     f"{np.mean([f['early_stopped_mm'] for f in fits]):.3f} | "
                     f"{np.mean([f['final_fit_mm'] for f in fits]):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="2 regions of 8 x 8, 2 epochs")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="models to measure")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    parser.add_argument("--samples-per-epoch", type=int, default=None,
                        help="training samples per epoch (default: the book profile's 2,048)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = measure(tuple(args.models), tuple(args.seeds), args.tiny,
                      args.samples_per_epoch)
    print(table(results))
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "torch": torch.__version__, "load_average": os.getloadavg(),
               "seconds": round(time.perf_counter() - start, 1)}
    print(f"{machine['seconds']} s; load average {machine['load_average']}")
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
