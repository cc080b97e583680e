"""Tidy tables of evaluation reports, and the sentences that state what they show.

Scores per region × model × seed (:func:`scores`, :func:`horizon_scores`), the paper-style
table (:func:`paper_table`), the spread over seeds (:func:`stability`) and the spatial-transfer
table (:func:`transfer_table`), all computed from saved reports
(:attr:`gler.evaluate.Evaluation.report`); :func:`ranking_sentence` and
:func:`transfer_sentence` word a table's result so the book's prose cannot disagree with it.
The probabilistic tables (coverage, CRPS) are in :mod:`gler.scoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gler.evaluate import ENSEMBLE_SUFFIX
from gler.metrics import mean_std
from gler.tuned import TunedSettings

#: Label of the noise-floor rows in the tables.
NOISE_FLOOR = "noise floor"


def transfer_table(inside: dict[str, dict], across: dict[str, dict],
                   metric: str = "rmse") -> pd.DataFrame:
    """Held-out-region scores of models trained elsewhere next to the same models trained
    in-region: models × (region, ``in-region``/``transfer``), seeds averaged.

    Classical baselines are fitted on each input window and learn nothing from other regions:
    their two columns come from the two reports and agree (the same targets), which shows what
    a neural model loses or gains by training elsewhere against a transfer-free reference.

    Parameters
    ----------
    inside, across
        ``{region: report}`` of the in-region runs and of the transfer runs, evaluated on the
        same region's test split (:attr:`gler.evaluate.Evaluation.report`).
    metric
        A column of :func:`scores` (``rmse``, ``mae``, ``r2``, ``rmse_clean``, …).

    Returns
    -------
    pandas.DataFrame
        Rows: models (and the noise floor); columns ``(region, training)``, plus ``mean``
        over regions when there are several; sorted by the transfer mean.

    Raises
    ------
    ValueError
        If the two reports of a region were not scored on the same targets, or a region has
        only one of them.

    Example
    -------
    >>> exp = Experiment("book")  # doctest: +SKIP
    >>> transfer_table({"beiluhe": exp.evaluate("beiluhe").report},
    ...                {"beiluhe": exp.transfer("beiluhe").report})  # doctest: +SKIP
    """
    if set(inside) != set(across):
        msg = (f"In-region reports ({sorted(inside)}) and transfer reports ({sorted(across)}) "
               "must cover the same regions.")
        raise ValueError(msg)
    frames = []
    for region in inside:
        shape = [(r["period"], r["n_targets"]) for r in (inside[region], across[region])]
        if shape[0] != shape[1]:
            msg = (f"{region}: the in-region and transfer reports were scored on different "
                   f"targets (period, count: {shape[0]} vs {shape[1]}); evaluate both with the "
                   "same window, horizon and split dates.")
            raise ValueError(msg)
        for training, reports in (("in-region", inside), ("transfer", across)):
            frames.append(scores({region: reports[region]}).assign(training=training))
    table = pd.concat(frames, ignore_index=True)
    mean = table.groupby(["model", "region", "training"], sort=False)[metric].mean()
    wide = mean.unstack(["region", "training"])
    regions = list(inside)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([regions, ["in-region", "transfer"]]))
    if len(regions) > 1:
        for training in ("in-region", "transfer"):
            wide[("mean", training)] = wide.xs(training, axis=1, level=1).mean(axis=1)
    wide.columns.names = ["region", "training"]
    return wide.sort_values(wide.columns[-1])


def _model_seed(label: str, run_dir: str | None) -> tuple[str, float]:
    """(model, seed) of an evaluation label; classical baselines have no seed (NaN)."""
    if not run_dir:
        return label, np.nan
    path = Path(run_dir)
    seed = path.name.removeprefix("seed")
    return path.parent.name, float(seed) if seed.isdigit() else np.nan


def _none_nan(value) -> float:
    return np.nan if value is None else float(value)


def scores(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per region × model × seed with the overall scores of the reports.

    Parameters
    ----------
    reports
        ``{region: report}`` (:attr:`gler.evaluate.Evaluation.report`).

    Returns
    -------
    pandas.DataFrame
        Columns ``region, model, seed, kind, rmse, mae, r2, rmse_clean, mae_clean,
        trend_consistency, skill_vs_persistence, rmse_over_noise_floor``; the noise floor is a
        row with model ``"noise floor"`` (kind ``"reference"``) when the data have it.
    """
    rows = []
    for region, report in reports.items():
        for label, entry in report["models"].items():
            model, seed = _model_seed(label, report["runs"].get(label))
            clean = entry.get("clean") or {}
            rows.append({
                "region": region, "model": model, "seed": seed, "kind": entry["kind"],
                "rmse": _none_nan(entry["rmse"]), "mae": _none_nan(entry["mae"]),
                "r2": _none_nan(entry["r2"]), "rmse_clean": _none_nan(clean.get("rmse")),
                "mae_clean": _none_nan(clean.get("mae")),
                "trend_consistency": _none_nan(entry.get("trend_consistency")),
                "skill_vs_persistence": _none_nan(entry.get("skill_vs_persistence")),
                "rmse_over_noise_floor": _none_nan(entry.get("rmse_over_noise_floor")),
            })
        floor = report.get("noise_floor")
        if floor:
            # Against the clean signal the floor row is the observation's own error: a model
            # below it forecasts the ground better than the InSAR measurement shows it.
            rows.append({"region": region, "model": NOISE_FLOOR, "seed": np.nan,
                         "kind": "reference", "rmse": _none_nan(floor["rmse"]),
                         "mae": _none_nan(floor["mae"]), "rmse_clean": _none_nan(floor["rmse"]),
                         "mae_clean": _none_nan(floor["mae"]), "rmse_over_noise_floor": 1.0})
    return pd.DataFrame(rows)


def _per_step(entry: dict, key: str, step: int) -> float:
    values = entry.get(key)
    return _none_nan(values[step]) if values else np.nan


def horizon_scores(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per region × model × seed × horizon step: ``rmse``, ``mae``, ``r2`` against the
    observation and ``rmse_clean`` against the clean signal (noise floor included)."""
    rows = []
    for region, report in reports.items():
        entries = dict(report["models"])
        if report.get("noise_floor"):
            entries[NOISE_FLOOR] = {"kind": "reference", **report["noise_floor"]}
        for label, entry in entries.items():
            model, seed = _model_seed(label, report["runs"].get(label))
            clean = (entry.get("clean") or {}).get("rmse_per_horizon")
            for h, value in enumerate(entry["rmse_per_horizon"]):
                rows.append({
                    "region": region, "model": model, "seed": seed, "kind": entry["kind"],
                    "horizon": h + 1, "rmse": _none_nan(value),
                    "mae": _per_step(entry, "mae_per_horizon", h),
                    "r2": _per_step(entry, "r2_per_horizon", h),
                    "rmse_clean": _none_nan(clean[h]) if clean else
                    (_none_nan(value) if model == NOISE_FLOOR else np.nan),
                })
    return pd.DataFrame(rows)


def paper_table(table: pd.DataFrame, metrics: Sequence[str] = ("rmse", "mae", "r2"),
                ) -> pd.DataFrame:
    """The paper-style table: models × (region, metric), seeds averaged, plus the mean RMSE
    over regions (the paper's headline number), sorted by it.

    Parameters
    ----------
    table
        Output of :func:`scores`.
    metrics
        Metric columns to show per region.
    """
    mean = table.groupby(["model", "region"], sort=False)[list(metrics)].mean()
    wide = mean.unstack("region")
    wide = wide.swaplevel(axis=1)
    regions = list(dict.fromkeys(table["region"]))
    wide = wide.reindex(columns=pd.MultiIndex.from_product([regions, list(metrics)]))
    key = metrics[0]
    wide[("mean", key)] = mean[key].unstack("region").reindex(columns=regions).mean(axis=1)
    wide.columns.names = ["region", "metric"]
    return wide.sort_values(("mean", key))


def stability(table: pd.DataFrame, metric: str = "rmse") -> pd.DataFrame:
    """Mean, standard deviation, min, max and count of ``metric`` over seeds, per region and
    neural model (only models with at least two seeds)."""
    neural = table[table["kind"] == "neural"]
    stats = neural.groupby(["region", "model"])[metric].agg(["mean", "std", "min", "max",
                                                             "count"])
    return stats[stats["count"] >= 2].rename(columns={"count": "seeds"})


def ensemble_table(table: pd.DataFrame, metric: str = "rmse") -> pd.DataFrame:
    """Each neural model's seeds (mean and standard deviation of ``metric``) beside its seed
    ensemble (the mean of the seeds' forecasts, scored on the same targets), per region and
    averaged over regions; models without an ensemble (one seed) are left out.

    Parameters
    ----------
    table
        Output of :func:`scores` of reports that hold ensembles
        (:func:`gler.evaluate.seed_ensembles`).

    Returns
    -------
    pandas.DataFrame
        Rows: models; columns ``(region, "seed mean" | "seed std" | "ensemble")``, sorted by
        the ensemble's mean over regions.
    """
    neural = table[table["kind"] == "neural"]
    seeds = neural.groupby(["model", "region"], sort=False)[metric].agg(["mean", "std"])
    seeds.columns = ["seed mean", "seed std"]
    ensembles = table[table["kind"] == "ensemble"].assign(
        model=lambda t: t["model"].str.removesuffix(ENSEMBLE_SUFFIX))
    seeds["ensemble"] = ensembles.set_index(["model", "region"])[metric]
    seeds = seeds.dropna(subset=["ensemble"])
    wide = seeds.unstack("region").swaplevel(axis=1)
    regions = list(dict.fromkeys(table["region"]))
    columns = ["seed mean", "seed std", "ensemble"]
    wide = wide.reindex(columns=pd.MultiIndex.from_product([regions, columns]))
    for column in columns:
        wide[("mean", column)] = wide.xs(column, axis=1, level=1).mean(axis=1)
    wide.columns.names = ["region", "score"]
    return wide.sort_values(("mean", "ensemble"))


def _check_row(wide: pd.DataFrame, model: str) -> None:
    if model not in wide.index:
        msg = f"{model!r} is not in the table (rows: {', '.join(map(str, wide.index))})."
        raise ValueError(msg)


def ranking_sentence(wide: pd.DataFrame, model: str = "gler") -> str:
    """A sentence that states, from a :func:`paper_table`, where ``model`` ranks and which
    models beat it (in the mean and per region), so the prose cannot disagree with the table.

    Raises
    ------
    ValueError
        If ``model`` is not a row of the table.
    """
    _check_row(wide, model)
    metric = wide.columns[-1][1]
    models = wide.drop(index=NOISE_FLOOR, errors="ignore")
    mean = models[("mean", metric)]
    rank = int((mean < mean[model]).sum()) + 1
    regions = [r for r in dict.fromkeys(models.columns.get_level_values(0)) if r != "mean"]
    scope = "Averaged over the regions" if len(regions) > 1 else f"On {regions[0]}"
    text = (f"{scope}, {model} has a {metric.upper()} of {mean[model]:.2f} mm "
            f"and ranks {rank} of {len(mean)}")
    better = mean[mean < mean[model]].index.tolist()
    text += (f"; {', '.join(better)} {'does' if len(better) == 1 else 'do'} better." if better
             else ": no compared model does better.")
    per_region = []
    for region in regions if len(regions) > 1 else ():
        col = models[(region, metric)]
        winner = col.idxmin()
        if winner != model:
            per_region.append(f"{region} ({winner}, {col[winner]:.2f} vs {col[model]:.2f} mm)")
    if per_region:
        text += " A model beats it in " + "; ".join(per_region) + "."
    floor = wide.loc[NOISE_FLOOR, ("mean", metric)] if NOISE_FLOOR in wide.index else np.nan
    if floor > 0:
        text += (f" The noise floor is {floor:.2f} mm, so {model}'s error is "
                 f"{mean[model] / floor:.2f} times the floor.")
    return text


def transfer_sentence(wide: pd.DataFrame, model: str = "gler") -> str:
    """A sentence that states, from a :func:`transfer_table`, where ``model`` trained on the
    other regions does better or worse than trained in-region, so the prose follows the table.

    Raises
    ------
    ValueError
        If ``model`` is not a row of the table.
    """
    _check_row(wide, model)
    row = wide.loc[model]
    regions = [r for r in dict.fromkeys(wide.columns.get_level_values(0)) if r != "mean"]
    parts = {"worse": [], "better": [], "equal": []}
    for region in regions:
        inside, across = row[(region, "in-region")], row[(region, "transfer")]
        verdict = ("equal" if round(across, 2) == round(inside, 2)
                   else "worse" if across > inside else "better")
        parts[verdict].append(f"{region} ({across:.2f} vs {inside:.2f} mm)")
    said = {"worse": "worse than trained in-region on", "better": "better on",
            "equal": "the same on"}
    clauses = [f"{said[k]} {', '.join(v)}" for k, v in parts.items() if v]
    text = f"Trained on the other regions, {model} forecasts " + "; ".join(clauses) + "."
    if "mean" in wide.columns.get_level_values(0):
        text += (f" Averaged over the held-out regions: {row[('mean', 'transfer')]:.2f} mm "
                 f"after transfer vs {row[('mean', 'in-region')]:.2f} mm in-region.")
    return text


def summary_table(reports: dict[str, dict], metric: str = "rmse",
                  against: str = "noisy") -> pd.DataFrame:
    """Models × regions table of one metric from several reports, plus the regions' mean.

    Parameters
    ----------
    reports
        ``{region: report}`` as returned in :attr:`gler.evaluate.Evaluation.report`.
    metric
        ``"rmse"``, ``"mae"`` or ``"r2"``.
    against
        ``"noisy"`` (the InSAR observation) or ``"clean"`` (the simulator's clean signal).
        The noise floor is added as a row when the reports have it.
    """
    rows: dict[str, dict[str, float]] = {}
    for region, report in reports.items():
        for name, entry in report["models"].items():
            source = entry if against == "noisy" else entry.get("clean", {})
            rows.setdefault(name, {})[region] = source.get(metric, np.nan)
        if "noise_floor" in report and metric in report["noise_floor"]:
            rows.setdefault(NOISE_FLOOR, {})[region] = report["noise_floor"][metric]
    table = pd.DataFrame(rows).T
    table["mean"] = table.mean(axis=1)
    return table.sort_values("mean")


def aggregate_seeds(reports: Sequence[dict], metric: str = "rmse") -> dict[str, dict]:
    """Mean ± std of ``metric`` per model over reports of runs with different seeds."""
    names = sorted({n for r in reports for n in r["models"]})
    return {n: mean_std([r["models"][n][metric] for r in reports if n in r["models"]])
            for n in names}


#: The remedies the search spaces switch, and the value that means "off".
REMEDIES = {"warmup_epochs": 0, "ema_decay": 0.0, "factor_dropout": 0.0}


def tuned_table(settings: TunedSettings) -> pd.DataFrame:
    """What tuning chose per model: the optimiser's settings, the remedies, the model sizes,
    the epoch count of the final fit, the objective (mm) per fold and the trials by state."""
    rows = {}
    for name, chosen in settings.models.items():
        folds = {f"fold {k} (mm)": v for k, v in enumerate(chosen.fold_values_mm, start=1)}
        trials = {f"trials {state}": count for state, count in chosen.trials.items()}
        values = {**chosen.train_changes, **chosen.model_overrides, "epochs": chosen.epochs,
                  "objective (mm)": chosen.value_mm, **folds, **trials}
        # Three significant digits: a learning rate of 0.00912 and a decay of 0.000281 both
        # stay readable in one column (a fixed number of decimals would show 0.000).
        rows[name] = {k: float(f"{v:.3g}") if isinstance(v, float) else v
                      for k, v in values.items()}
    table = pd.DataFrame.from_dict(rows, orient="index").astype(object)
    return table.sort_values("objective (mm)")


def remedy_effects(trials: pd.DataFrame) -> pd.DataFrame:
    """What each remedy did in the tuning trials: per remedy and setting, the completed trials
    and their objective relative to the median trial of the same model (mm; negative: better),
    averaged over models. Few trials per model make this indicative, not a test."""
    done = trials[trials["state"] == "COMPLETE"].copy()
    done["relative"] = done["value"] - done.groupby("model")["value"].transform("median")
    rows = []
    for remedy, off in REMEDIES.items():
        column = f"params_{remedy}"
        if column not in done:
            continue
        for value, group in done.groupby(column):
            rows.append({"remedy": remedy, "setting": value, "on": value != off,
                         "trials": len(group), "models": group["model"].nunique(),
                         "relative objective (mm)": group["relative"].mean()})
    return pd.DataFrame(rows).set_index(["remedy", "setting"])


def run_diagnostics(histories: pd.DataFrame) -> pd.DataFrame:
    """Per model, over its runs: how many, how many reach their best validation loss in the
    first epoch, the mean best epoch and epochs run, and the train–validation gap (validation
    minus training loss at the best epoch, normalised units)."""
    best = histories.loc[histories.groupby(["model", "region", "seed"])["val_loss"].idxmin()]
    last = histories.groupby(["model", "region", "seed"])["epoch"].max().rename("epochs run")
    best = best.set_index(["model", "region", "seed"]).join(last).reset_index()
    best["gap"] = best["val_loss"] - best["train_loss"]
    return best.groupby("model").agg(
        runs=("epoch", "size"), best_at_epoch_1=("epoch", lambda e: int((e == 1).sum())),
        mean_best_epoch=("epoch", "mean"), mean_epochs_run=("epochs run", "mean"),
        train_val_gap=("gap", "mean"))
