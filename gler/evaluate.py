"""Score trained runs and the classical baselines on exactly the same test targets.

Protocol (``evaluation.md``): all models forecast the same windows (issue dates whose ``H``
targets lie in the test period, every valid pixel); one common mask keeps only the targets that
are observed and forecast by every model; RMSE, MAE and R² in mm per horizon step and overall;
against the clean signal too when the stack has ``displacement_clean`` (QTR-sim), with the noise
floor (RMSE of the noisy observation against the clean signal on the same targets); skill
against persistence and the best classical baseline; trend consistency; per-pixel RMSE maps;
mean ± std over several runs of the same model (seeds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from gler import __version__
from gler.conformal import QuantileCalibration, calibration_for
from gler.data.degree_days import DEGREE_DAY_FACTORS, DEGREE_DAY_HINT
from gler.data.model import factor_names
from gler.data.sample import (
    DEFAULT_HORIZON,
    DEFAULT_WINDOW,
    SampleSpec,
    SplitDates,
    default_split_dates,
)
from gler.data.windows import WindowDataset
from gler.forecast import FORECAST, HEAD_QUANTILE, forecast_values, predict, years_since
from gler.metrics import correlation, mae, mean_std, r2, rmse, skill, trend
from gler.models._registry import list_models, model_info
from gler.run import Run, classical_run, data_fingerprint, load_run, resolve_device
from gler.scoring import probabilistic_scores, quantile_scores

logger = logging.getLogger(__name__)

CLEAN = "displacement_clean"
#: Label suffix of a neural model's seed ensemble (the mean of its seeds' forecasts).
ENSEMBLE_SUFFIX = " (ensemble)"
#: A baseline forecasting fewer than this fraction of the targets is left out (with a warning)
#: instead of shrinking the common mask for every model.
MIN_COVERAGE = 0.5


@dataclass
class Evaluation:
    """What :func:`evaluate` returns: the JSON report, per-pixel RMSE maps, the forecasts."""

    report: dict
    maps: xr.Dataset
    forecasts: dict[str, xr.Dataset] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (NaN written as null)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(self.report), indent=2))
        return path

    def write(self, folder: str | Path) -> None:
        """Write everything to ``folder``: ``forecasts/<label>.nc``, ``maps.nc`` and, last
        (it marks a complete evaluation), ``report.json``."""
        folder = Path(folder)
        (folder / "forecasts").mkdir(parents=True, exist_ok=True)
        for label, forecast in self.forecasts.items():
            forecast.to_netcdf(folder / "forecasts" / f"{label}.nc", engine="h5netcdf")
        self.maps.to_netcdf(folder / "maps.nc", engine="h5netcdf")
        self.save(folder / "report.tmp.json")
        os.replace(folder / "report.tmp.json", folder / "report.json")

    @classmethod
    def read(cls, folder: str | Path) -> Evaluation:
        """What :meth:`write` wrote to ``folder``."""
        folder = Path(folder)
        report = json.loads((folder / "report.json").read_text())
        with xr.open_dataset(folder / "maps.nc", engine="h5netcdf") as maps:
            maps = maps.load()
        forecasts = {}
        for path in sorted((folder / "forecasts").glob("*.nc")):
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                forecasts[path.stem] = ds.load()
        return cls(report=report, maps=maps, forecasts=forecasts)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def resolve_baselines(baselines: str | Sequence[str] | None, stack: xr.Dataset,
                      left_out: dict[str, str] | None = None) -> list[str]:
    """Classical baseline names from ``"all"``, ``"none"``, a comma list or a list of names.

    ``"all"`` leaves out (with a warning, and in ``left_out`` with the reason when given)
    baselines whose factors the data lack; a baseline named explicitly must be classical and
    have its factors.

    Raises
    ------
    ValueError
        For an unknown or non-classical name, or a named baseline missing its factors.
    """
    classical = list_models("classical")
    if baselines is None or baselines == "none":
        return []
    if baselines == "all":
        present = factor_names(stack)
        keep = [n for n in classical if all(f in present for f in model_info(n).needs.values())]
        for name in sorted(set(classical) - set(keep)):
            needs = list(model_info(name).needs.values())
            reason = f"needs the factors {needs}, which the data lack"
            if set(needs) & set(DEGREE_DAY_FACTORS):
                reason += (f"; a daily temperature ({DEGREE_DAY_HINT}) in the factors gives the "
                           "degree-days")
            logger.warning("Baseline %s left out: it %s", name, reason)
            if left_out is not None:
                left_out[name] = reason
        return keep
    names = baselines.split(",") if isinstance(baselines, str) else list(baselines)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in classical]
    if unknown:
        msg = (f"Unknown classical baseline(s) {unknown}. Available: {', '.join(classical)} "
               "(or 'all'/'none'). Neural models are trained with gler train and passed as runs.")
        raise ValueError(msg)
    return names


def evaluate(runs: Run | str | Path | Sequence[Run | str | Path], stack: xr.Dataset, *,
             baselines: str | Sequence[str] | None = "all", split: str = "test",
             device: str = "auto", batch_size: int = 4096, progress: bool = False,
             split_dates: SplitDates | None = None, window: int | None = None,
             horizon: int | None = None, probabilistic: bool = False,
             forecasts: dict[str, xr.Dataset] | None = None) -> Evaluation:
    """Evaluate runs, classical baselines and external forecasts on the same targets of
    ``split``.

    Parameters
    ----------
    runs
        One or several run directories (or loaded runs). They must share window, horizon and
        split dates. Several runs of one model (different seeds) also give a stability entry.
        ``[]`` scores the classical baselines alone (``window``/``horizon`` default to 30/6).
    stack
        The data (with the factors the runs need).
    baselines
        ``"all"`` (every classical baseline the data allow), ``"none"``, or names.
        Persistence is always included: it is the reference of the skill score.
    split
        ``"test"`` (default) or ``"val"``/``"train"``.
    device, batch_size, progress
        Passed to :func:`gler.forecast.predict`; the probabilistic scores are computed on
        ``device`` too (:func:`gler.scoring.probabilistic_scores`).
    split_dates
        Cut dates to score on instead of the runs' (default: the runs' own, or without runs
        :func:`gler.data.windows.default_split_dates` of ``stack``). The runs' dates are used
        on another stack too, and a warning says so.
    window, horizon
        L and H of the baselines when there is no run.
    probabilistic
        Also calibrate every model on its validation period and score its predictive
        distribution on the same targets: ``probabilistic`` in each model's entry, and in its
        ``clean`` entry on QTR-sim, with ``calibration`` saying how (``"split-conformal"``
        around the point forecast, :func:`gler.conformal.calibrate` and
        :func:`gler.scoring.probabilistic_scores`; ``"cqr"`` of a run's quantile head,
        :func:`gler.conformal.calibrate_quantiles` and :func:`gler.scoring.quantile_scores`).
        External forecasts have no model to calibrate and get no probabilistic scores.
    forecasts
        External forecasts by label (e.g. :func:`gler.peers.predict_peer`'s), in the layout of
        :func:`gler.forecast.predict` at exactly the issue dates of ``split``. Like runs,
        they must forecast every target of the common mask; each gets the report entry a run
        gets (``report["external"]`` names their source).

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        If the runs disagree on window/horizon/split, a baseline is unknown,
        ``probabilistic`` is asked for the validation period (which calibrates), or an
        external forecast has a taken label or other issue dates, horizon or pixels.

    Example
    -------
    >>> result = evaluate("runs/beiluhe-gler", stack)  # doctest: +SKIP
    >>> result.report["models"]["gler"]["rmse"]  # doctest: +SKIP
    """
    if probabilistic and split == "val":
        msg = ("--probabilistic with --split val: the validation period calibrates the "
               "intervals, so scoring them there says nothing; score the test period.")
        raise ValueError(msg)
    runs = [runs] if isinstance(runs, Run | str | Path) else list(runs)
    runs = [r if isinstance(r, Run) else load_run(r) for r in runs]
    if not runs:
        ref = SampleSpec(window=window or DEFAULT_WINDOW, horizon=horizon or DEFAULT_HORIZON)
        split_dates = split_dates or default_split_dates(stack["time"].values)
    else:
        ref = runs[0].sample
        if window not in (None, ref.window) or horizon not in (None, ref.horizon):
            msg = (f"The runs forecast with window {ref.window} and horizon {ref.horizon}; a "
                   f"window of {window} and horizon of {horizon} cannot change that (give them "
                   "only to score the baselines without runs).")
            raise ValueError(msg)
        split_dates = _run_split(runs[0], stack, split_dates)
    for run in runs[1:]:
        cfg = run.sample
        if (cfg.window, cfg.horizon, run.split) != (ref.window, ref.horizon, runs[0].split):
            msg = (f"Runs differ in window/horizon/split ({run.run_dir}: {cfg.window}/"
                   f"{cfg.horizon}/{run.split}; {runs[0].run_dir}: {ref.window}/{ref.horizon}/"
                   f"{runs[0].split}); they cannot be scored on the same targets.")
            raise ValueError(msg)
    skipped: dict[str, str] = {}
    names = resolve_baselines(baselines, stack, skipped)
    if "persistence" not in names:
        names = ["persistence", *names]
    # The classical baselines read the factors they declare, under the same cut dates.
    base = dataclasses.replace(ref, factors=None, train_end=split_dates.train_end.isoformat(),
                               val_end=split_dates.val_end.isoformat())
    if split_dates != (runs[0].split if runs else split_dates):
        runs = [dataclasses.replace(run, sample=run.sample.resolved(run.factors, split_dates))
                for run in runs]
    candidates = {_label(run, runs): run for run in runs}
    for name in names:
        candidates[name] = classical_run(stack, name, base)
    external = dict(forecasts or {})
    taken = sorted(set(external) & set(candidates))
    if taken:
        msg = (f"External forecasts {taken} have the labels of runs or baselines "
               f"({', '.join(candidates)}); give them other names.")
        raise ValueError(msg)
    windows = WindowDataset.from_spec(stack, dataclasses.replace(base, factors=()))
    forecasts, refused = {}, {}
    for label, run in candidates.items():
        try:
            forecasts[label] = predict(run, stack, issues=split, device=device,
                                       batch_size=batch_size, progress=progress,
                                       head=probabilistic and bool(run.quantiles))
        except ValueError as err:
            # With "all", a baseline that cannot run in this setting (e.g. seasonal naive with
            # a window shorter than a year) is reported, not fatal; a named one is fatal.
            if run.kind != "classical" or baselines != "all" or label == "persistence":
                raise
            refused[label] = str(err)
            logger.warning("Baseline %s left out: %s", label, err)
    forecasts.update(external)
    issue_index = windows.issues(split)
    targets = issue_index[:, None] + np.arange(1, ref.horizon + 1)  # [I, H]
    obs = windows.values[:, targets].transpose(1, 2, 0)  # [I, H, P]
    clean = None
    if CLEAN in stack:
        clean_grid = stack[CLEAN].transpose("time", *windows.spatial_dims).values
        clean = clean_grid.reshape(len(windows.times), -1)[targets].astype(np.float32)
    preds = {k: forecast_values(v, windows, issue_index, stack, k) for k, v in forecasts.items()}
    mask = _common_mask(obs, clean, preds, [*(_label(r, runs) for r in runs), *external])
    kept = {k: v for k, v in preds.items() if k in mask["models"]}
    ensembles = seed_ensembles(kept, runs)
    for label, pred in ensembles.items():
        kept[label] = pred
        member = forecasts[_label(runs[0], runs)]
        forecasts[label] = member.assign({FORECAST: member[FORECAST].copy(
            data=pred.reshape(member[FORECAST].shape))})
    report = _report(kept, obs, clean, mask["mask"], windows, issue_index, targets, runs,
                     stack, split, ensembles=set(ensembles), external=set(external))
    if probabilistic:
        scoring_device = resolve_device(device)  # NumPy on a CPU, PyTorch on a GPU
        for label, pred in kept.items():
            if label in ensembles or label in external:  # no run to calibrate
                continue
            cal = calibration_for(candidates[label], stack, device=device,
                                  batch_size=batch_size)
            cqr = isinstance(cal, QuantileCalibration)
            entry = report["models"][label]
            entry["calibration"] = "cqr" if cqr else "split-conformal"
            entry["calibration_period"] = list(cal.period)
            if cqr:  # the head's quantiles after CQR
                head = forecasts[label][HEAD_QUANTILE].values
                quantiles = cal.apply(head.reshape(*head.shape[:3], -1))
            for where, truth in (("obs", obs), ("clean", clean)):
                if truth is None:
                    continue
                scores = (quantile_scores(quantiles, cal.levels, truth, mask=mask["mask"],
                                          device=scoring_device) if cqr else
                          probabilistic_scores(pred, truth, cal, mask=mask["mask"],
                                               device=scoring_device))
                (entry if where == "obs" else entry["clean"])["probabilistic"] = scores
    report["left_out"] = {**skipped, **refused, **mask["left_out"]}
    report["external"] = {k: v.attrs.get("source", "") for k, v in external.items()}
    report["split_dates"] = split_dates.to_dict()
    maps = _maps(kept, obs, mask["mask"], windows, stack)
    return Evaluation(report=report, maps=maps,
                      forecasts={k: v for k, v in forecasts.items() if k in kept})


def _run_split(run: Run, stack: xr.Dataset, split_dates: SplitDates | None) -> SplitDates:
    """The split to score on: ``split_dates``, else the run's own, said when ``stack`` is not
    the run's training data (its split dates then cut data they were not chosen for)."""
    trained_on = run.info.get("data_fingerprint")
    other = trained_on is not None and trained_on != data_fingerprint(stack)
    if split_dates is not None:
        if not other and split_dates != run.split:
            logger.warning("Scoring on other split dates (%s) than %s was trained with (%s): "
                           "test targets may have been training or validation targets",
                           _dates(split_dates), run.run_dir, _dates(run.split))
        return split_dates
    if other:
        logger.warning("These data are not those %s was trained on: their test period is cut "
                       "with the run's split dates (%s); give --test-fraction, --test-dates or "
                       "--train-end/--val-end to choose others", run.run_dir, _dates(run.split))
    return run.split


def _dates(split: SplitDates) -> str:
    return f"train to {split.train_end.date()}, validation to {split.val_end.date()}"


def _label(run: Run, runs: list[Run]) -> str:
    same = [r for r in runs if r.label == run.label]
    if len(same) == 1:
        return run.label
    return f"{run.label}@{run.run_dir.name if run.run_dir else runs.index(run)}"


def _common_mask(obs: np.ndarray, clean: np.ndarray | None, preds: dict[str, np.ndarray],
                 required: list[str]) -> dict:
    mask = np.isfinite(obs)
    if clean is not None:
        mask &= np.isfinite(clean)
    for name in required:
        mask &= np.isfinite(preds[name])
    left_out = {}
    models = list(required)
    for name, pred in preds.items():
        if name in required:
            continue
        coverage = float((np.isfinite(pred) & mask).sum() / max(mask.sum(), 1))
        if coverage < MIN_COVERAGE:
            left_out[name] = f"forecasts only {coverage:.0%} of the targets"
            logger.warning("Baseline %s left out: it forecasts only %.0f%% of the targets",
                           name, 100 * coverage)
            continue
        models.append(name)
        mask &= np.isfinite(pred)
    if not mask.any():
        msg = ("No target is observed and forecast by every model in this period; check the "
               "data for gaps and the split dates.")
        raise ValueError(msg)
    return {"mask": mask, "models": models, "left_out": left_out}


def _scores(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    return {
        "rmse": float(rmse(pred, truth, mask=mask)),
        "mae": float(mae(pred, truth, mask=mask)),
        "r2": float(r2(pred, truth, mask=mask)),
        "rmse_per_horizon": [float(v) for v in rmse(pred, truth, mask=mask, axis=(0, 2))],
        "mae_per_horizon": [float(v) for v in mae(pred, truth, mask=mask, axis=(0, 2))],
        "r2_per_horizon": [float(v) for v in r2(pred, truth, mask=mask, axis=(0, 2))],
    }


def _trend_consistency(pred: np.ndarray, obs: np.ndarray, mask: np.ndarray,
                       years: np.ndarray) -> list[float]:
    """Per horizon step: correlation over pixels of predicted vs observed linear trends."""
    out = []
    for h in range(pred.shape[1]):
        p = np.where(mask[:, h], pred[:, h], np.nan).T  # [P, I]
        o = np.where(mask[:, h], obs[:, h], np.nan).T
        out.append(correlation(trend(p, years[:, h]), trend(o, years[:, h])))
    return out


def seed_ensembles(preds: dict[str, np.ndarray], runs: list[Run]) -> dict[str, np.ndarray]:
    """``"<model> (ensemble)"``: the mean forecast of each neural model's seeds, for every
    model with at least two runs among ``preds`` (scored on the same targets as its seeds)."""
    members: dict[str, list[np.ndarray]] = {}
    for run in runs:
        label = _label(run, runs)
        if label in preds:
            members.setdefault(run.label, []).append(preds[label])
    return {f"{model}{ENSEMBLE_SUFFIX}": np.mean(arrays, axis=0, dtype=np.float64).astype(
        np.float32) for model, arrays in members.items() if len(arrays) > 1}


def _report(preds: dict[str, np.ndarray], obs: np.ndarray, clean: np.ndarray | None,
            mask: np.ndarray, windows: WindowDataset, issue_index: np.ndarray,
            targets: np.ndarray, runs: list[Run], stack: xr.Dataset, split: str, *,
            ensembles: set[str] = frozenset(), external: set[str] = frozenset()) -> dict:
    years = years_since(windows.times[targets.ravel()], windows.times[0]).reshape(targets.shape)
    classical_names = list_models("classical")
    models = {}
    for name, pred in preds.items():
        kind = ("ensemble" if name in ensembles else "external" if name in external
                else "classical" if name in classical_names else "neural")
        entry = {"kind": kind, **_scores(pred, obs, mask)}
        if clean is not None:
            vs_clean = _scores(pred, clean, mask)
            entry["clean"] = {k: vs_clean[k] for k in ("rmse", "mae", "rmse_per_horizon")}
        consistency = _trend_consistency(pred, obs, mask, years)
        entry["trend_consistency"] = float(np.nanmean(consistency)) if np.isfinite(
            consistency).any() else float("nan")
        entry["trend_consistency_per_horizon"] = consistency
        models[name] = entry
    classical = {k: v["rmse"] for k, v in models.items() if v["kind"] == "classical"}
    best_classical = min(classical, key=classical.get)
    for entry in models.values():
        entry["skill_vs_persistence"] = skill(entry["rmse"], models["persistence"]["rmse"])
        entry["skill_vs_best_classical"] = skill(entry["rmse"], classical[best_classical])
    report = {
        "gler_version": __version__,
        "region": stack.attrs.get("region"),
        "split": split,
        "period": [str(windows.times[targets.min()].date()),
                   str(windows.times[targets.max()].date())],
        "window": windows.window, "horizon": windows.horizon,
        "n_issues": len(issue_index), "n_pixels": int(mask.any(axis=(0, 1)).sum()),
        "n_targets": int(mask.sum()),
        "runs": {_label(r, runs): str(r.run_dir) for r in runs},
        "best_classical": best_classical,
        "models": models,
        "ranking": sorted(models, key=lambda k: models[k]["rmse"]),
    }
    if clean is not None:
        floor = _scores(obs, clean, mask)
        report["noise_floor"] = {k: floor[k] for k in ("rmse", "mae", "rmse_per_horizon")}
        for entry in models.values():  # undefined (NaN) for noise-free data: the floor is 0
            entry["rmse_over_noise_floor"] = (entry["rmse"] / floor["rmse"] if floor["rmse"] > 0
                                              else float("nan"))
    report["stability"] = _stability(runs, models)
    return report


def _stability(runs: list[Run], models: dict) -> dict:
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(_label(run, runs))
    return {name: {"rmse": mean_std([models[k]["rmse"] for k in labels if k in models]),
                   "mae": mean_std([models[k]["mae"] for k in labels if k in models])}
            for name, labels in groups.items() if len(labels) > 1}


def _maps(preds: dict[str, np.ndarray], obs: np.ndarray, mask: np.ndarray,
          windows: WindowDataset, stack: xr.Dataset) -> xr.Dataset:
    """Per-pixel RMSE (over issues and horizon steps) of each model, on the stack's grid."""
    spatial = windows.spatial_dims
    data = {}
    for name, pred in preds.items():
        values = rmse(pred, obs, mask=mask, axis=(0, 1)).reshape(windows.spatial_shape)
        data[f"rmse_{name}"] = (spatial, values.astype(np.float32),
                                {"units": "mm", "long_name": f"RMSE of {name} per pixel"})
    coords = {k: v for k, v in stack.coords.items() if k != "time" and set(v.dims) <= set(spatial)}
    return xr.Dataset(data, coords=coords, attrs={"Conventions": "CF-1.8",
                                                  "source": f"gler {__version__} evaluate"})
