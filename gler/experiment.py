"""Cached experiments: simulate the regions, train models × seeds, evaluate, tidy tables.

The book's chapters and ``gler reproduce`` share one cache, so a model trained by one chapter is
reused by the next instead of being trained again. Layout under the cache root
(``GLER_RUNS_DIR``, default ``pooch.os_cache("gler") / "runs"``)::

    <profile>-<key>/                   key = hash of everything that changes the results
        data/<region>.nc               QTR-sim stack (NetCDF)
        <region>/<model>/seed<k>/      a gler run directory (gler.train) + done.json
        <region>/eval-<key>/           report.json, maps.nc, forecasts/<label>.nc
        transfer/to-<held out>-from-<regions>/<model>/seed<k>/   spatial transfer runs
        transfer/to-<held out>-from-<regions>/eval-<key>/        their evaluation

A run counts as finished when its ``done.json`` exists; an interrupted run resumes from its
checkpoint (:func:`gler.train.train`). Every table is computed from the saved evaluation report,
which :func:`gler.evaluate.evaluate` computes from the saved forecasts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler import __version__
from gler.data.menyuan import load_menyuan
from gler.data.multistack import shared_factors
from gler.data.qtrsim import simulate_region, write_simulation
from gler.evaluate import Evaluation, evaluate
from gler.models._registry import list_models, model_info
from gler.profiles import REGIONS, Profile, get_profile
from gler.run import LOG_FILE, RUN_FORMAT, load_run, resolve_device
from gler.train import train

logger = logging.getLogger(__name__)

RUNS_DIR_ENV = "GLER_RUNS_DIR"
DONE_FILE = "done.json"
#: The real site, accepted by :meth:`Experiment.stack` next to the QTR-sim regions.
MENYUAN = "menyuan"
#: Label of the noise-floor rows in the tables.
NOISE_FLOOR = "noise floor"


def runs_root() -> Path:
    """The cache root: ``$GLER_RUNS_DIR`` or ``pooch.os_cache("gler") / "runs"``."""
    env = os.environ.get(RUNS_DIR_ENV)
    return Path(env).expanduser() if env else Path(pooch.os_cache("gler")) / "runs"


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def profile_key(profile: Profile) -> str:
    """``<name>-<hash>`` of the settings that change results (not where they run), and of the
    gler version, so an upgrade never reuses runs of another version."""
    from gler import __version__

    train_cfg = {k: v for k, v in profile.train.to_dict().items()
                 if k not in ("device", "num_threads", "amp", "seed")}
    return f"{profile.name}-" + _hash({
        "version": __version__, "run_format": RUN_FORMAT, "size": profile.size,
        "noise": profile.noise, "train": train_cfg, "sample": profile.sample.to_dict(),
        "factors": getattr(profile, "factors", None),
        "gler": profile.gler_overrides, "baselines": profile.baseline_overrides})


def ablation_models(profile: Profile) -> tuple[str, ...]:
    """The ablations a profile trains: its ``ablations`` field when it has one, else all of
    the registry's ablations for profiles that compare models and none for the others."""
    default = tuple(list_models(tag="ablation")) if profile.compare else ()
    return tuple(getattr(profile, "ablations", default))


@dataclass
class Experiment:
    """A profile's experiment with its cache: stacks, runs and evaluations on demand.

    Parameters
    ----------
    profile
        A name from :mod:`gler.profiles` or a :class:`~gler.profiles.Profile`.
    root
        Cache root (default :func:`runs_root`).
    device
        Training/prediction device (``"auto"``, ``"cpu"``, ``"cuda"``); the profile's by
        default. It does not change the cache key.
    progress
        Show tqdm progress bars.

    Example
    -------
    >>> exp = Experiment("smoke")  # doctest: +SKIP
    >>> exp.train("beiluhe", "gler", 0)["epochs_run"]  # doctest: +SKIP
    """

    profile: Profile | str = "book"
    root: Path | str | None = None
    device: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.profile, str):
            self.profile = get_profile(self.profile)
        self.root = Path(self.root) if self.root is not None else runs_root()
        self.path = self.root / profile_key(self.profile)
        self.device = self.device or self.profile.train.device
        self._stacks: dict[str, xr.Dataset] = {}

    # -- data ---------------------------------------------------------------------------------
    def stack(self, region: str) -> xr.Dataset:
        """The region's QTR-sim stack (simulated once, then read from the cache), or the real
        Menyuan site for ``region="menyuan"`` (:func:`gler.data.load_menyuan`, which fetches it
        through the data registry and raises ``ConnectionError`` offline without a copy)."""
        if region == MENYUAN and region not in self._stacks:
            self._stacks[region] = load_menyuan()
        if region not in self._stacks:
            path = self.path / "data" / f"{region}.nc"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                ds = simulate_region(region, size=self.profile.size, seed=0,
                                     noise=self.profile.noise)
                tmp = path.with_suffix(".tmp.nc")
                write_simulation(ds, tmp)
                os.replace(tmp, path)
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                self._stacks[region] = ds.load()
        return self._stacks[region]

    # -- training -----------------------------------------------------------------------------
    def run_dir(self, region: str, model: str, seed: int) -> Path:
        """Where the run of ``model`` with ``seed`` on ``region`` lives."""
        return self.path / region / model / f"seed{seed}"

    def is_done(self, region: str, model: str, seed: int) -> bool:
        """Whether that run finished (its ``done.json`` exists)."""
        return (self.run_dir(region, model, seed) / DONE_FILE).is_file()

    def train(self, region: str, model: str = "gler", seed: int = 0) -> dict:
        """Train ``model`` (or reuse the finished run) and return its summary.

        Returns
        -------
        dict
            ``run_dir``, ``epochs_run``, ``best_epoch``, ``best_val_loss``, ``stopped_early``,
            ``wall_time_s``, ``device``, ``threads``, ``gler_version`` (from ``done.json``).
        """
        return self._train_once(self.run_dir(region, model, seed), (region,), model, seed,
                                {"region": region})

    def _train_once(self, run_dir: Path, regions: Sequence[str], model: str, seed: int,
                    where: dict) -> dict:
        """Train ``model`` on the stacks of ``regions`` into ``run_dir`` unless done.json
        says it finished; ``where`` opens the summary (region, or held-out and training
        regions)."""
        done = run_dir / DONE_FILE
        if not done.is_file():
            stacks = [self.stack(r) for r in regions]
            config = self.profile.train_config(seed, device=self.device)
            sample = self.profile.sample_spec(available=shared_factors(stacks))
            result = train(stacks, model, config, self.profile.model_overrides(model), run_dir,
                           sample=sample, progress=self.progress)
            summary = {
                "run_dir": str(run_dir), **where, "model": model, "seed": seed,
                "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss, "stopped_early": result.stopped_early,
                "wall_time_s": round(result.wall_time_s, 2),
                "device": str(resolve_device(config.device)), "threads": torch.get_num_threads(),
                "gler_version": __version__,
            }
            done.write_text(json.dumps(summary, indent=2))
        return json.loads(done.read_text())

    def train_all(self, regions: Iterable[str] | None = None,
                  models: Iterable[str] | None = None,
                  seeds: Iterable[int] | None = None) -> pd.DataFrame:
        """Train (or reuse) every region × neural model × seed; one summary row per run."""
        jobs = [(r, m, s) for r in (regions or self.profile.regions)
                for m in (models or ("gler",)) if model_info(m).kind == "neural"
                for s in (seeds if seeds is not None else self.profile.seeds)]
        rows = [self.train(*job) for job in tqdm(jobs, desc="train", unit="run",
                                                  disable=not self.progress)]
        return pd.DataFrame(rows)

    def summaries(self) -> pd.DataFrame:
        """One row per finished run in this profile's cache (what :meth:`train` recorded)."""
        rows = [json.loads(p.read_text()) for p in sorted(self.path.glob(f"*/*/seed*/{DONE_FILE}"))]
        return pd.DataFrame(rows)

    def history(self, region: str, model: str = "gler", seed: int = 0) -> pd.DataFrame:
        """The per-epoch log of a run (``epoch``, ``train_loss``, ``val_loss``, timings)."""
        path = self.run_dir(region, model, seed) / LOG_FILE
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return pd.DataFrame([r for r in records if "epoch" in r and "train_loss" in r])

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, region: str, models: Sequence[str] = ("gler",),
                 seeds: Sequence[int] | None = None, *,
                 probabilistic: bool = False) -> Evaluation:
        """Evaluate neural ``models`` × ``seeds`` and every classical baseline on the test
        split of ``region`` (training what is missing); cached with its forecasts. With
        ``probabilistic``, each model is also calibrated on the validation period and its
        predictive distribution scored (see :func:`gler.evaluate.evaluate`)."""
        seeds = tuple(seeds if seeds is not None else self.profile.seeds)
        jobs = [(m, s) for m in models if model_info(m).kind == "neural" for s in seeds]
        return self._evaluate_once(region, self.path / region,
                                   [self.run_dir(region, m, s) for m, s in jobs],
                                   lambda: [self.train(region, m, s) for m, s in jobs],
                                   probabilistic=probabilistic)

    def _evaluate_once(self, region: str, folder: Path, runs: list[Path],
                       train_missing: Callable[[], object], *,
                       probabilistic: bool = False, own_split: bool = False) -> Evaluation:
        """The cached evaluation of ``runs`` on ``region``'s test split, under ``folder``;
        ``own_split``: on the runs' split dates (a transfer scores the held-out region, whose
        data the runs never read, on the split they were trained with)."""
        # The classical baselines are part of the key: a gler with a new baseline evaluates
        # again (from the cached runs) instead of reusing a report without it. The
        # probabilistic scores are too, only when asked (earlier caches stay valid).
        key = [str(r) for r in runs] + list_models("classical")
        out = folder / f"eval-{_hash([*key, 'probabilistic'] if probabilistic else key)}"
        if not (out / "report.json").is_file():
            train_missing()
            split_dates = load_run(runs[0]).split if own_split and runs else None
            result = evaluate([str(r) for r in runs], self.stack(region), baselines="all",
                              device=self.device, progress=self.progress,
                              probabilistic=probabilistic, split_dates=split_dates)
            _save_evaluation(result, out)
        return _load_evaluation(out)

    # -- spatial transfer ---------------------------------------------------------------------
    def transfer_regions(self, held_out: str, regions: Sequence[str] | None = None,
                         ) -> tuple[str, ...]:
        """The training regions of a transfer to ``held_out``: ``regions`` (default the four
        QTR-sim regions, :data:`gler.profiles.REGIONS`) without ``held_out``.

        Raises
        ------
        ValueError
            If no region is left to train on.
        """
        chosen = tuple(r for r in (regions or REGIONS) if r != held_out)
        if not chosen:
            msg = (f"No training region left for a transfer to {held_out!r} (regions: "
                   f"{list(regions or REGIONS)}). Name at least one other region.")
            raise ValueError(msg)
        return chosen

    def transfer_folder(self, held_out: str, regions: Sequence[str] | None = None) -> Path:
        """Where the transfer runs to ``held_out`` and their evaluation live."""
        sources = "+".join(self.transfer_regions(held_out, regions))
        return self.path / "transfer" / f"to-{held_out}-from-{sources}"

    def train_transfer(self, held_out: str, model: str = "gler", seed: int = 0, *,
                       regions: Sequence[str] | None = None) -> dict:
        """Train ``model`` on the other regions' stacks (or reuse the finished run).

        One model learns from windows of every training region (:func:`gler.train.train`
        with several stacks): the same split dates, the profile's pixel fraction in each
        region, normalisation from their training periods only. ``held_out`` is never read.

        Returns
        -------
        dict
            The summary of :meth:`train`, with ``held_out`` and ``train_regions`` instead of
            ``region``.
        """
        sources = self.transfer_regions(held_out, regions)
        run_dir = self.transfer_folder(held_out, regions) / model / f"seed{seed}"
        return self._train_once(run_dir, sources, model, seed,
                                {"held_out": held_out, "train_regions": list(sources)})

    def transfer(self, held_out: str, models: Sequence[str] = ("gler",),
                 seeds: Sequence[int] | None = None, *, regions: Sequence[str] | None = None,
                 ) -> Evaluation:
        """Evaluate ``models`` trained on the other regions on ``held_out``'s test split.

        The spatial-transfer experiment of ``evaluation.md`` (train on three regions, test on
        the fourth), scored by :func:`gler.evaluate.evaluate` on the same targets as
        :meth:`evaluate` scores the in-region runs; the classical baselines, fitted per window,
        are in the report too. Cached like :meth:`evaluate`.

        Example
        -------
        >>> exp = Experiment("book")  # doctest: +SKIP
        >>> exp.transfer("beiluhe").report["models"]["gler@seed0"]["rmse"]  # doctest: +SKIP
        """
        seeds = tuple(seeds if seeds is not None else self.profile.seeds)
        jobs = [(m, s) for m in models if model_info(m).kind == "neural" for s in seeds]
        folder = self.transfer_folder(held_out, regions)
        return self._evaluate_once(
            held_out, folder, [folder / m / f"seed{s}" for m, s in jobs],
            lambda: [self.train_transfer(held_out, m, s, regions=regions) for m, s in jobs],
            own_split=True)

    def transfer_table(self, held_out: Iterable[str] | None = None,
                       models: Sequence[str] = ("gler",), seeds: Sequence[int] | None = None,
                       *, regions: Sequence[str] | None = None, metric: str = "rmse",
                       ) -> pd.DataFrame:
        """:func:`transfer_table` of each held-out region (default: every region of
        ``regions``): the in-region runs (:meth:`evaluate`) next to the transfer runs
        (:meth:`transfer`), training what is missing.

        Example
        -------
        >>> Experiment("book").transfer_table(["beiluhe"])  # doctest: +SKIP
        """
        targets = list(held_out if held_out is not None else (regions or REGIONS))
        inside = {r: self.evaluate(r, models, seeds).report for r in targets}
        across = {r: self.transfer(r, models, seeds, regions=regions).report for r in targets}
        return transfer_table(inside, across, metric)


def _save_evaluation(result: Evaluation, out: Path) -> None:
    (out / "forecasts").mkdir(parents=True, exist_ok=True)
    for label, forecast in result.forecasts.items():
        forecast.to_netcdf(out / "forecasts" / f"{label}.nc", engine="h5netcdf")
    result.maps.to_netcdf(out / "maps.nc", engine="h5netcdf")
    result.save(out / "report.tmp.json")
    os.replace(out / "report.tmp.json", out / "report.json")  # written last: marks completion


def _load_evaluation(out: Path) -> Evaluation:
    report = json.loads((out / "report.json").read_text())
    with xr.open_dataset(out / "maps.nc", engine="h5netcdf") as maps:
        maps = maps.load()
    forecasts = {}
    for path in sorted((out / "forecasts").glob("*.nc")):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            forecasts[path.stem] = ds.load()
    return Evaluation(report=report, maps=maps, forecasts=forecasts)


# -- tidy tables ----------------------------------------------------------------------------------

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


def provenance(profile: Profile | str, start: float | None = None) -> dict[str, str]:
    """What a chapter ran with: profile, device, versions and (with ``start``) the wall time.

    Parameters
    ----------
    profile
        The profile (or its name).
    start
        ``time.perf_counter()`` at the chapter's start.
    """
    import matplotlib
    import xarray

    name = profile if isinstance(profile, str) else profile.name
    info = {
        "profile": name,
        "device": str(resolve_device("auto")),
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "gler": __version__, "torch": torch.__version__,
        "numpy": np.__version__, "xarray": xarray.__version__, "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
    }
    if start is not None:
        info["wall time"] = f"{time.perf_counter() - start:.1f} s"
    return info
