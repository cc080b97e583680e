"""Cached experiments: simulate the regions, train models × seeds, evaluate.

The book's chapters and ``gler reproduce`` share one cache, so a model trained by one chapter is
reused by the next instead of being trained again. Layout under the cache root
(``GLER_RUNS_DIR``, default ``pooch.os_cache("gler") / "runs"``)::

    <profile>-<key>/                   key = hash of everything that changes the results
        data/<region>.nc               QTR-sim stack (NetCDF)
        tuned/                         a tuning profile's study.sqlite3 and tuned.json
    <profile>-tuned-<digest>-<key>/    the runs of a tuned profile, laid out as below
        <region>/<model>/seed<k>/      a gler run directory (gler.train) + done.json
        <region>/<model>+quantiles-<digest>/seed<k>/   with a quantile head (levels, settings)
        <region>/fold<n>/<model>.../seed<k>/   a run of an earlier fold over seasons
        <region>/eval-<key>/           report.json, maps.nc, forecasts/<label>.nc
        transfer/...                   spatial transfer runs (gler.transfer)
        peers/...                      neuralforecast's forecasts (gler.peer_forecasts)

A run counts as finished when its ``done.json`` exists; an interrupted run resumes from its
checkpoint (:func:`gler.train.train`). The tables (:mod:`gler.tables`) are computed from the
saved evaluation report, which :func:`gler.evaluate.evaluate` computes from the saved forecasts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import torch
import xarray as xr

from gler import __version__
from gler.config import HEAD_SUFFIX, digest
from gler.conformal import calibration_for, interval_bounds, predict_quantiles
from gler.data.folds import final_fit_sample, season_folds
from gler.data.menyuan import load_menyuan
from gler.data.multistack import shared_factors
from gler.data.qtrsim import simulate_region, write_simulation
from gler.data.sample import SampleSpec
from gler.data.windows import WindowDataset
from gler.evaluate import Evaluation, evaluate
from gler.forecast import FORECAST
from gler.models._registry import list_models, model_info
from gler.peer_forecasts import PeerForecasts
from gler.profiles import Profile, get_profile
from gler.run import LOG_FILE, RUN_FORMAT, load_run, resolve_device
from gler.schedule import DONE_FILE, RunJob, profile_runs, run_jobs
from gler.scoring import SCORES_VERSION
from gler.train import train
from gler.transfer import SpatialTransfer
from gler.tune import N_FOLDS, STUDY_FILE, TUNED_FILE, import_optuna, tune
from gler.tuned import TunedSettings, read_tuned

logger = logging.getLogger(__name__)

RUNS_DIR_ENV = "GLER_RUNS_DIR"
#: The models that the early-warning chapter trains with a quantile head (tuned as such).
HEAD_MODELS = ("gler",)
#: The real site, accepted by :meth:`Experiment.stack` next to the QTR-sim regions.
MENYUAN = "menyuan"


def runs_root() -> Path:
    """The cache root: ``$GLER_RUNS_DIR`` or ``pooch.os_cache("gler") / "runs"``."""
    env = os.environ.get(RUNS_DIR_ENV)
    return Path(env).expanduser() if env else Path(pooch.os_cache("gler")) / "runs"


def profile_key(profile: Profile) -> str:
    """``<name>-<hash>`` of the settings that change results (not where they run), and of the
    gler version, so an upgrade never reuses runs of another version."""
    train_cfg = {k: v for k, v in profile.train.to_dict().items()
                 if k not in ("device", "num_threads", "amp", "seed")}
    return f"{profile.name}-" + digest({
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
class Experiment(SpatialTransfer, PeerForecasts):
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
        self.base_profile = self.profile
        self.base_path = self.root / profile_key(self.profile)
        self.device = self.device or self.profile.train.device
        self._stacks: dict[str, xr.Dataset] = {}
        self._head_profile: Profile | None = None

    @property
    def path(self) -> Path:
        """The cache of this profile's runs and evaluations: of its tuned settings when the
        profile tunes (tuning first, :meth:`tuned_profile`)."""
        return self.root / profile_key(self.tuned_profile())

    # -- tuning -------------------------------------------------------------------------------
    def tuned_profile(self, jobs: int = 1, streams: int = 1) -> Profile:
        """The profile the runs are trained with: with a tuning budget
        (:attr:`~gler.profiles.Profile.tuning`), the profile with the settings :meth:`tune`
        chose (``jobs`` processes tuning ``streams`` models each at a time); otherwise the
        profile itself."""
        if self.profile.tuning is not None and self.profile.tuned is None:
            stacks = [self.stack(r) for r in self.profile.regions]
            self.profile = self.profile.with_tuned(self.tune(jobs, streams), stacks)
        return self.profile

    def head_profile(self) -> Profile:
        """The profile the quantile-head runs are trained with: with a tuning budget, the
        profile with the settings :meth:`tune` chose for the heads; otherwise the profile."""
        if self.base_profile.tuning is None:
            return self.tuned_profile()
        if self._head_profile is None:
            stacks = [self.stack(r) for r in self.base_profile.regions]
            self._head_profile = self.base_profile.with_tuned(self.tune(quantiles=True), stacks)
        return self._head_profile

    def tune(self, jobs: int = 1, streams: int = 1, *, quantiles: bool = False,
             ) -> TunedSettings:
        """Tune GLER and the compared models on the folds over seasons of every region, with
        the profile's budget (:func:`gler.tune.tune`, ``jobs`` processes of ``streams``
        models each at a time), or read the
        choice already made; with ``quantiles``, the models of :data:`HEAD_MODELS` with a
        quantile head at the profile's levels (on the validation pinball loss, the same
        budget and folds), kept apart from the point models' choice.

        Raises
        ------
        ValueError
            If the profile has no tuning budget.
        """
        base = self.base_profile
        if base.tuning is None:
            msg = f"Profile {base.name} has no tuning budget (Profile.tuning); nothing to tune."
            raise ValueError(msg)
        out = self.base_path / "tuned"
        models = ("gler", *base.compared)
        if quantiles:
            out, models = out / f"quantiles-{digest(list(base.quantiles))}", HEAD_MODELS
        if (out / TUNED_FILE).is_file():
            settings = read_tuned(out / TUNED_FILE)
            if set(models) <= set(settings.models):
                return settings
        # The chapters show what was chosen (the tuned file), not a log line per trial.
        import_optuna().logging.set_verbosity(logging.WARNING)
        return tune([self.stack(r) for r in base.regions], models, profile=base,
                    budget=base.tuning, out_dir=out, device=self.device,
                    progress=self.progress, jobs=jobs, streams=streams,
                    quantiles=base.quantiles if quantiles else ())

    def tuning_trials(self) -> pd.DataFrame:
        """Every trial of the tuning study: ``model``, ``number``, ``state``, ``value`` (mean
        validation RMSE in mm over regions and folds) and the drawn settings (``params_*``)."""
        optuna = import_optuna()
        storage = f"sqlite:///{(self.base_path / 'tuned' / STUDY_FILE).resolve()}"
        frames = []
        for model in self.tuned_profile().tuned.models:
            study = optuna.load_study(study_name=model, storage=storage)
            frame = study.trials_dataframe(attrs=("number", "state", "value", "params"))
            frames.append(frame.assign(model=model))
        return pd.concat(frames, ignore_index=True)

    # -- data ---------------------------------------------------------------------------------
    def stack(self, region: str) -> xr.Dataset:
        """The region's QTR-sim stack (simulated once, then read from the cache), or the real
        Menyuan site for ``region="menyuan"`` (:func:`gler.data.load_menyuan`, which fetches it
        through the data registry and raises ``ConnectionError`` offline without a copy)."""
        if region == MENYUAN and region not in self._stacks:
            self._stacks[region] = load_menyuan()
        if region not in self._stacks:
            path = self.base_path / "data" / f"{region}.nc"
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
    def run_dir(self, region: str, model: str, seed: int, *, quantiles: bool = False,
                fold: int | None = None) -> Path:
        """Where the run of ``model`` with ``seed`` on ``region`` lives; ``quantiles``: the run
        with a quantile head at the profile's :attr:`~gler.profiles.Profile.quantiles` (and
        the settings tuned for it, :meth:`head_profile`);
        ``fold``: the run of that earlier fold over seasons (:meth:`fold_sample`)."""
        head = [list(self.profile.quantiles), self.head_profile().name] if quantiles else None
        name = f"{model}{HEAD_SUFFIX}-{digest(head)}" if quantiles else model
        return self.path / region / (f"fold{fold}" if fold else "") / name / f"seed{seed}"

    def is_done(self, region: str, model: str, seed: int) -> bool:
        """Whether that run finished (its ``done.json`` exists)."""
        return (self.run_dir(region, model, seed) / DONE_FILE).is_file()

    def train(self, region: str, model: str = "gler", seed: int = 0, *,
              quantiles: bool = False, fold: int | None = None) -> dict:
        """Train ``model`` (or reuse the finished run) and return its summary; ``quantiles``
        and ``fold`` as in :meth:`run_dir` (a fold's run is early-stopped on that fold's
        validation season, also in a final-fit profile).

        Returns
        -------
        dict
            ``run_dir``, ``epochs_run``, ``best_epoch``, ``best_val_loss``, ``stopped_early``,
            ``wall_time_s``, ``device``, ``threads``, ``gler_version`` (from ``done.json``).
        """
        return self._train_once(self.run_dir(region, model, seed, quantiles=quantiles,
                                             fold=fold),
                                (region,), model, seed, {"region": region},
                                quantiles=quantiles, fold=fold)

    def fold_sample(self, fold: int, stack: xr.Dataset) -> SampleSpec:
        """The profile's sample on ``stack`` cut at ``fold`` of the folds over seasons that
        tuning uses (:data:`gler.tune.N_FOLDS` of :func:`gler.data.folds.season_folds`; the
        last is the profile's own split, fold 1 on QTR-sim trains to 2019 and validates
        2020).

        Raises
        ------
        ValueError
            For a fold number outside the folds, or data too short for them.
        """
        sample = self.tuned_profile().sample_spec(available=shared_factors([stack]))
        times = stack["time"].values
        folds = season_folds(times, sample.split_for(times), N_FOLDS, window=sample.window,
                             horizon=sample.horizon)
        if fold not in range(1, len(folds) + 1):
            msg = f"Fold {fold}: the folds over seasons are numbered 1 to {len(folds)}."
            raise ValueError(msg)
        return folds[fold - 1].sample(sample)

    def _train_once(self, run_dir: Path, regions: Sequence[str], model: str, seed: int,
                    where: dict, *, quantiles: bool = False, fold: int | None = None) -> dict:
        """Train ``model`` on the stacks of ``regions`` into ``run_dir`` unless done.json
        says it finished; ``where`` opens the summary (region, or held-out and training
        regions); ``quantiles`` and ``fold`` as in :meth:`run_dir`."""
        done = run_dir / DONE_FILE
        if not done.is_file():
            stacks = [self.stack(r) for r in regions]
            profile = self.head_profile() if quantiles else self.tuned_profile()
            final_fit = profile.final_fit and not fold
            config = profile.train_config(seed, model=model, final_fit=final_fit,
                                          device=self.device)
            if fold:
                sample = self.fold_sample(fold, stacks[0])
            else:
                sample = profile.sample_spec(available=shared_factors(stacks))
            if final_fit:
                sample = final_fit_sample(sample, stacks[0]["time"].values)
            overrides = profile.model_overrides(model)
            if quantiles:
                overrides["quantiles"] = list(profile.quantiles)
            result = train(stacks, model, config, overrides, run_dir, sample=sample,
                           progress=self.progress)
            label = f"{model}{HEAD_SUFFIX}" if quantiles else model
            summary = {
                "run_dir": str(run_dir), **where, "model": label, "seed": seed,
                **({"fold": fold} if fold else {}),
                "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss, "stopped_early": result.stopped_early,
                "wall_time_s": round(result.wall_time_s, 2),
                "device": str(resolve_device(config.device)), "threads": torch.get_num_threads(),
                "gler_version": __version__,
            }
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(summary, indent=2))
            os.replace(tmp, done)  # whole or absent, even if the process is killed here
        return json.loads(done.read_text())

    def train_all(self, regions: Iterable[str] | None = None,
                  models: Iterable[str] | None = None,
                  seeds: Iterable[int] | None = None, *, jobs: int = 1,
                  streams: int = 1) -> pd.DataFrame:
        """Train (or reuse) every region × neural model × seed; one summary row per run.
        ``jobs`` processes train at once, each ``streams`` runs taking turns
        (:mod:`gler.schedule`)."""
        runs = [RunJob(r, m, s) for r in (regions or self.profile.regions)
                for m in (models or ("gler",)) if model_info(m).kind == "neural"
                for s in (seeds if seeds is not None else self.profile.seeds)]
        return self.train_runs(runs, jobs=jobs, streams=streams)

    def planned_runs(self) -> list[RunJob]:
        """Every run the book's chapters train with this profile (in-region, ablations,
        spatial transfers; :func:`gler.schedule.profile_runs`), for :meth:`train_runs`."""
        return profile_runs(self.profile, ablation_models(self.profile))

    def train_runs(self, runs: Sequence[RunJob], *, jobs: int = 1,
                   streams: int = 1) -> pd.DataFrame:
        """Train (or reuse) ``runs``, ``jobs`` processes at a time, each training ``streams``
        runs at once (:func:`gler.schedule.run_jobs`: tuning first, here; capped to what the
        device holds); one summary row per run.

        Raises
        ------
        gler.schedule.RunsFailedError
            With ``jobs > 1`` or ``streams > 1``, after the others finished, naming each run
            that failed.
        """
        return pd.DataFrame(run_jobs(self, runs, workers=jobs, streams=streams,
                                     progress=self.progress))

    def summaries(self) -> pd.DataFrame:
        """One row per finished run in this profile's cache (what :meth:`train` recorded)."""
        rows = [json.loads(p.read_text()) for p in sorted(self.path.glob(f"*/*/seed*/{DONE_FILE}"))]
        return pd.DataFrame(rows)

    def history(self, region: str, model: str = "gler", seed: int = 0) -> pd.DataFrame:
        """The per-epoch log of a run (``epoch``, ``train_loss``, ``val_loss``, timings)."""
        path = self.run_dir(region, model, seed) / LOG_FILE
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return pd.DataFrame([r for r in records if "epoch" in r and "train_loss" in r])

    def histories(self, regions: Iterable[str], models: Iterable[str],
                  seeds: Iterable[int]) -> pd.DataFrame:
        """The per-epoch logs of many runs in one table, with ``region``, ``model`` and
        ``seed`` columns (training what is missing)."""
        frames = []
        for region, model, seed in itertools.product(regions, models, seeds):
            self.train(region, model, seed)
            frames.append(self.history(region, model, seed).assign(region=region, model=model,
                                                                   seed=seed))
        return pd.concat(frames, ignore_index=True)

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, region: str, models: Sequence[str] = ("gler",),
                 seeds: Sequence[int] | None = None, *, probabilistic: bool = False,
                 peers: dict[str, xr.Dataset] | None = None,
                 heads: Sequence[str] = ()) -> Evaluation:
        """Evaluate neural ``models`` × ``seeds`` and every classical baseline on the test
        split of ``region`` (training what is missing); cached with its forecasts. With
        ``probabilistic``, each model is also calibrated on the validation period and its
        predictive distribution scored (see :func:`gler.evaluate.evaluate`); ``peers``
        (:meth:`peer_forecasts`) are scored on the same targets; the quantile-head runs of
        ``heads`` × ``seeds`` join as ``<model>+quantiles``."""
        seeds = tuple(seeds if seeds is not None else self.profile.seeds)
        jobs = [(m, s, False) for m in models if model_info(m).kind == "neural" for s in seeds]
        jobs += [(m, s, True) for m in heads for s in seeds]
        return self._evaluate_once(
            region, self.path / region,
            [self.run_dir(region, m, s, quantiles=q) for m, s, q in jobs],
            lambda: [self.train(region, m, s, quantiles=q) for m, s, q in jobs],
            probabilistic=probabilistic, peers=peers)

    def backtest_forecast(self, region: str, model: str = "gler", seed: int = 0, *,
                          quantiles: bool = False,
                          levels: Sequence[float] = (0.8, 0.9)) -> xr.Dataset:
        """What a calibration on one season promises for the next, without the test period:
        the run of the previous fold (trained up to the season before the validation
        season, e.g. 2019 on QTR-sim), calibrated on its own validation season (2020) as
        :func:`gler.conformal.calibration_for` calibrates any run, forecasts the profile's
        validation season (2021) with the bounds of its central intervals at ``levels``.

        Returns
        -------
        xarray.Dataset
            The forecast of :func:`gler.conformal.predict_quantiles` (its ``attrs``
            ``calibration_period`` says where it was calibrated), to score with
            :func:`gler.conformal.interval_coverage` and
            :func:`gler.conformal.coverage_interval`.
        """
        stack = self.stack(region)
        self.train(region, model, seed, quantiles=quantiles, fold=1)
        run = load_run(self.run_dir(region, model, seed, quantiles=quantiles, fold=1))
        calibration = calibration_for(run, stack, device=self.device)
        season = WindowDataset.from_spec(stack, self.fold_sample(2, stack))
        issues = season.times[season.issues("val")]
        return predict_quantiles(run, stack, interval_bounds(levels), issues=list(issues),
                                 calibration=calibration, device=self.device)

    def _evaluate_once(self, region: str, folder: Path, runs: list[Path],
                       train_missing: Callable[[], object], *,
                       probabilistic: bool = False, own_split: bool = False,
                       peers: dict[str, xr.Dataset] | None = None) -> Evaluation:
        """The cached evaluation of ``runs`` on ``region``'s test split, under ``folder``;
        ``own_split``: on the runs' split dates (a transfer scores the held-out region, whose
        data the runs never read, on the split they were trained with)."""
        # The classical baselines are part of the key: a gler with a new baseline evaluates
        # again (from the cached runs) instead of reusing a report without it. The
        # probabilistic scores are too, only when asked (earlier caches stay valid), and each
        # peer by its forecasts' bytes (a peer fitted with other settings is scored again).
        key = [str(r) for r in runs] + list_models("classical") + [
            f"{name}:{hashlib.sha256(np.ascontiguousarray(fc[FORECAST].values)).hexdigest()}"
            for name, fc in sorted((peers or {}).items())]
        scored = [*key, "probabilistic", SCORES_VERSION] if probabilistic else key
        out = folder / f"eval-{digest(scored)}"
        if not (out / "report.json").is_file():
            train_missing()
            split_dates = load_run(runs[0]).split if own_split and runs else None
            result = evaluate([str(r) for r in runs], self.stack(region), baselines="all",
                              device=self.device, progress=self.progress,
                              probabilistic=probabilistic, split_dates=split_dates,
                              forecasts=peers)
            result.write(out)
        return Evaluation.read(out)

