"""Tune each neural model on folds over seasons, with Optuna: ``gler tune``.

The protocol of ``evaluation.md`` ("Model selection"): every neural model, GLER included, gets
the same number of trials (a :class:`Budget`), the same sampler (Optuna's TPE, seeded) and the
same pruner (median), over the search space of its family (:mod:`gler.search_space`, declared
there only). A trial trains one model per fold (:func:`gler.data.folds.season_folds`, early
stopping on the fold's validation season) and scores it by the validation RMSE in mm; the
objective is the mean over the folds, each fold reported to the pruner as it finishes. The
chosen settings, the epoch count of the final fit (the chosen trial's best epochs, averaged
over the folds) and their provenance go to ``tuned.json`` (:mod:`gler.tuned`); the study lives
in an SQLite file beside it, so an interrupted ``gler tune`` resumes where it stopped.

**Pooled over regions.** A model gets one configuration for all regions, as in the paper, chosen
on the mean over regions and folds: a choice made on four regions' validation years overfits
one region's weather less than four per-region choices would, and costs a quarter of them.
Each fold trains *one* model on the windows of all the stacks together
(:func:`gler.train.train` on a list, :func:`gler.data.multistack.pool_windows`) and scores it
on each stack's validation windows; the fold's value is the mean of the stacks' RMSEs (each
region counts the same, as in the paper's average). One pooled model per fold, not one per
region: four times cheaper again, and with samples per epoch capped (the profiles cap them)
it takes the same optimiser steps per epoch as a per-region model, so the epoch count carries
over to the per-region runs of the book.

**No leakage.** The folds end at the split's ``val_end``; nothing after it is read (a trial's
windows and normalisation come from its fold's periods only), and the data are fingerprinted
up to that date. Changing the test period changes neither the choice nor the final weights.

**Reproducible.** On CPU a second ``gler tune`` with the same seed chooses the same settings:
the trials train with a fixed seed, and the sampler is seeded afresh before each trial from
``(seed, trials finished)``, so a resumed study draws what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scoringrules as sr
import torch
import xarray as xr
from tqdm.auto import tqdm

from gler import __version__
from gler.config import digest
from gler.data.folds import Fold, check_folds, season_folds
from gler.data.multistack import shared_factors, stack_name
from gler.data.sample import SampleSpec, SplitDates
from gler.data.windows import WindowDataset
from gler.layers.quantile import check_levels
from gler.metrics import rmse
from gler.models._registry import model_info
from gler.profiles import Profile, get_profile
from gler.run import Run, load_run, to_tensors
from gler.schedule import RunsFailedError, cap_jobs, run_in_processes, run_in_turns
from gler.search_space import search_space
from gler.train import NonFiniteLossError, train
from gler.tuned import TunedModel, TunedSettings, tuned_fingerprint

logger = logging.getLogger(__name__)

STUDY_FILE = "study.sqlite3"
TUNED_FILE = "tuned.json"
#: The peers' choice (:func:`tune_peers`), beside ``tuned.json``.
PEERS_FILE = "peers.json"
#: How long a process waits for another's write lock on the study file (seconds).
SQLITE_TIMEOUT_S = 300

#: Folds over seasons that tuning validates on, unless told otherwise (``gler tune --folds``).
N_FOLDS = 2


@dataclass(frozen=True)
class Budget:
    """How much tuning every model gets.

    Attributes
    ----------
    name, description
        The name ``--budget`` takes, and what the budget is sized for.
    n_trials
        Trials per model (finished ones: complete or pruned).
    n_startup_trials
        Random trials before TPE models the results; the pruner waits as many.
    train_changes
        ``TrainConfig`` fields every trial fixes (e.g. shorter runs for tests); they are part
        of the chosen settings, so the final fit trains as the folds did.
    """

    name: str
    description: str
    n_trials: int
    n_startup_trials: int
    train_changes: dict[str, Any] = field(default_factory=dict)


BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", "seconds per model on a tiny stack: tests and CI", 3, 2,
                    {"epochs": 2, "max_samples_per_epoch": 256, "max_val_samples": 256}),
    "book": Budget("book", "a few minutes on a 2-core CPU for GLER and the seven neural "
                   "baselines of the book profile (4 regions x 32 x 32)", 5, 3),
    "paper": Budget("paper", "the paper profile on a GPU: about an hour of one H200 for the "
                    "eight models at once (estimated, not yet measured)", 40, 10),
}


def get_budget(name: str | Budget) -> Budget:
    """The budget called ``name`` (a :class:`Budget` is returned as it is).

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones (``--budget``).
    """
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        msg = f"Unknown budget {name!r} (--budget). Available: {', '.join(BUDGETS)}."
        raise ValueError(msg)
    return BUDGETS[name]


def tune(stacks: xr.Dataset | Sequence[xr.Dataset], models: str | Sequence[str], *,
         profile: str | Profile = "book", budget: str | Budget = "book", n_folds: int = N_FOLDS,
         seed: int = 0, out_dir: str | Path = "tuned", sample: SampleSpec | None = None,
         device: str | None = None, progress: bool = False, jobs: int = 1, streams: int = 1,
         quantiles: Sequence[float] = ()) -> TunedSettings:
    """Tune ``models`` on folds over the seasons of ``stacks`` and write ``tuned.json``.

    Parameters
    ----------
    stacks
        One stack, or several (e.g. the four QTR-sim regions): one pooled model per fold.
    models
        Neural model names (e.g. ``["gler", *list_models("neural", tag="baseline")]``).
    profile
        The profile whose settings the tuned ones change (not a tuned profile).
    budget
        A name of :data:`BUDGETS` or a :class:`Budget`.
    n_folds
        Folds over seasons (:func:`gler.data.folds.season_folds`).
    seed
        Seed of the sampler and of every trial's training.
    out_dir
        Where ``study.sqlite3`` (resumed if present) and ``tuned.json`` are written.
    sample
        Window, horizon, factors and the split whose test period is left alone (default: the
        profile's, with the factors the stacks share).
    device
        Training device (default: the profile's).
    progress
        Show a progress bar over the trials.
    jobs
        Processes tuning models at once (:func:`gler.schedule.run_in_processes`; capped by
        :func:`gler.schedule.cap_jobs`). Each model's study is seeded on its own, so the
        choice is the same as with one job.
    streams
        Models each of those processes (this one, with one job) tunes at once, their trials
        training in turns step by step, each on its own CUDA stream on a GPU
        (:class:`gler.turns.Turns`); the same choice again.
    quantiles
        Tune the models with a quantile head at these levels (``gler train --quantiles``),
        on the mean validation pinball loss (:func:`validation_pinball`, mm) instead of the
        RMSE; the settings say so (``TunedSettings.quantiles``). Give them another
        ``out_dir`` than the point models'.

    Returns
    -------
    TunedSettings
        What was written to ``out_dir/tuned.json``.

    Raises
    ------
    ImportError
        Without Optuna (``pip install gler[tune]``).
    ValueError
        On a fold without enough data, stacks with different split dates, a study in
        ``out_dir`` run with other settings (e.g. other ``quantiles``), levels a quantile head
        cannot have, or a model none of whose trials completed.
    gler.schedule.RunsFailedError
        With ``jobs > 1`` or ``streams > 1``, if a model's study failed (the others finish).

    Example
    -------
    >>> tuned = tune(stacks, ["gler", "lstm"], profile="book", budget="book",
    ...              out_dir="tuned/book")  # doctest: +SKIP
    """
    optuna = import_optuna()
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if profile.tuned is not None:
        msg = (f"Profile {profile.name} already carries tuned settings; tune the profile "
               "they were tuned for (get_profile(name), gler tune --profile NAME).")
        raise ValueError(msg)
    budget = get_budget(budget)
    quantiles = check_levels(quantiles, head=True) if quantiles else ()
    stacks = [stacks] if isinstance(stacks, xr.Dataset) else list(stacks)
    models = [models] if isinstance(models, str) else list(models)
    for name in models:
        search_space(name).check(profile.model_overrides(name))
    sample = sample or profile.sample_spec(available=shared_factors(stacks))
    folds = _folds(stacks, sample, n_folds)
    through = folds[-1].split.val_end.isoformat()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = tuple({"name": stack_name(stack, number), "fingerprint": tuned_fingerprint(
        stack, through)} for number, stack in enumerate(stacks, start=1))
    setup = {"gler_version": __version__, "profile": profile.name, "budget": asdict(budget),
             "seed": seed, "folds": [f.to_dict() for f in folds], "data": list(data),
             "sample": sample.to_dict(), "train": profile.train.to_dict(),
             **({"quantiles": list(quantiles)} if quantiles else {})}
    trials = _Objective(stacks, "", profile, budget, folds, sample, seed, device, quantiles)
    studies = Studies(trials, out_dir, setup, optuna.logging.get_verbosity())
    pending = [name for name in models if _finished(studies.study(name)) < budget.n_trials]
    device = device or profile.train.device
    count, message = (1, None) if jobs == streams == 1 else cap_jobs(jobs, device,
                                                                     streams=streams)
    if message:
        logger.warning(message)
    parallel = (count > 1 or streams > 1) and len(pending) > 1
    if parallel:
        studied = [StudyJob(name) for name in pending]
        if count > 1:
            context = (Studies, tuple(getattr(studies, f.name)
                                      for f in dataclasses.fields(studies)))
            failures = run_in_processes(context, studied, count, progress, "tune", "model",
                                        slots=streams, device=device)
        else:
            failures = run_in_turns(studies, studied, streams, device, progress, "tune", "model")
        if failures:
            raise RunsFailedError(failures, [], len(pending), what="studies")
    chosen = {name: studies.run(name, progress and not parallel) for name in models}
    settings = TunedSettings(
        models=chosen, gler_version=__version__, profile=profile.name, budget=budget.name,
        seed=seed, n_trials=budget.n_trials, sampler=_describe_sampler(budget, seed),
        pruner=f"MedianPruner(n_startup_trials={budget.n_startup_trials}), per fold",
        folds=folds, data=data, through=through, pooled=len(stacks) > 1,
        sample=sample.to_dict(), study_file=STUDY_FILE,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        quantiles=quantiles)
    settings.save(out_dir / TUNED_FILE)
    return settings


@dataclass(frozen=True)
class Studies:
    """The studies of one ``tune`` call: one per model, in ``out_dir``'s SQLite storage, whose
    trials are ``trials`` for that model."""

    trials: _Objective
    out_dir: Path
    setup: dict
    verbosity: int

    def study(self, name: str) -> Any:
        """Model ``name``'s study (created, or loaded and checked against the setup)."""
        import_optuna().logging.set_verbosity(self.verbosity)
        return open_study(self.out_dir, name, self.trials.budget,
                          {**self.setup, "space": search_space(name).to_dict()})

    def run(self, name: str, progress: bool = False) -> TunedModel:
        """Finish model ``name``'s trials (none if done) and return its choice."""
        study = self.study(name)
        started = time.perf_counter()
        budget, seed = self.trials.budget, self.trials.seed
        _optimise(study, dataclasses.replace(self.trials, model=name), budget, seed, progress)
        chosen = _chosen(study, name, budget)
        logger.info("%s: %.3f mm over the folds (%.0f s)", name, chosen.value_mm,
                    time.perf_counter() - started)
        return chosen


@dataclass(frozen=True)
class StudyJob:
    """One model's study, for :func:`gler.schedule.run_in_processes`."""

    name: str

    def train(self, studies: Studies) -> TunedModel:
        """Run the study's trials in this process."""
        return studies.run(self.name)


def tune_peers(stacks: Sequence[xr.Dataset], names: Sequence[str], settings: TunedSettings, *,
               out_dir: str | Path, fixed: dict[str, Any] | None = None,
               progress: bool = False) -> dict[str, dict[str, Any]]:
    """Tune neuralforecast's peers ``names`` as the models of ``settings`` were tuned: the
    same budget (trials, seeded TPE sampler, median pruner per fold), folds, seed and sample,
    over each peer's Auto* space (:class:`gler.peers.tune.PeerObjective`), scored by its
    validation loss; or read the choice already made.

    Each study lives in ``out_dir``'s study file as ``peer-<name>``, or
    ``peer-<name>-<digest of fixed>`` with ``fixed`` settings (an interrupted one resumes);
    the latest choice per peer goes to ``out_dir/peers.json``. ``fixed`` overrides sampled
    settings of every trial and of the choice (e.g. ``{"max_steps": 300}``: the training
    length, as a profile fixes gler's epochs); other fixed settings make another study.

    Returns
    -------
    dict
        ``{name: settings}`` for :func:`gler.peers.fit_peer`'s ``params``.

    Raises
    ------
    ImportError
        Without Optuna or neuralforecast.
    ValueError
        If a study in ``out_dir`` was run with other settings, or no trial completed.
    """
    from gler.peers.models import require_neuralforecast
    from gler.peers.tune import PeerObjective

    neuralforecast = require_neuralforecast()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PEERS_FILE
    fixed = dict(fixed or {})
    chosen = json.loads(path.read_text()) if path.is_file() else {}
    budget = get_budget(settings.budget)
    sample = SampleSpec.from_dict(settings.sample)
    folds = tuple(fold.split for fold in settings.folds)
    setup = {"gler_version": __version__, "neuralforecast": neuralforecast.__version__,
             "tuned_like": settings.to_dict(), "fixed": fixed}
    for name in names:
        if chosen.get(name, {}).get("setup") == json.loads(json.dumps(setup, default=str)):
            continue
        study = open_study(out_dir, f"peer-{name}-{digest(fixed)}" if fixed else f"peer-{name}",
                           budget, setup)
        objective = PeerObjective(list(stacks), name, sample, folds, settings.seed, fixed)
        _optimise(study, objective, budget, settings.seed, progress)
        states = {t.state.name.lower() for t in study.trials}
        if "complete" not in states:
            msg = (f"No trial of the peer {name} completed ({len(study.trials)} trials): "
                   "nothing to choose. Look at the study's trials.")
            raise ValueError(msg)
        best = study.best_trial
        chosen[name] = {"params": best.user_attrs["params"], "best_val_loss": best.value,
                        "fold_losses": best.user_attrs["fold_losses"],
                        "trials": len(study.trials), "study": study.study_name,
                        "setup": json.loads(json.dumps(setup, default=str))}
        path.write_text(json.dumps(chosen, indent=1))
    return {name: chosen[name]["params"] for name in names}


def open_study(out_dir: Path, name: str, budget: Budget, setup: dict) -> Any:
    """The study ``name`` in ``out_dir``'s study file with the budget's median pruner: created,
    or loaded and checked against ``setup`` (refused when it was run with another). Several
    processes may write to the file (``tune(jobs=...)``): each waits for the write lock."""
    optuna = import_optuna()
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{(out_dir / STUDY_FILE).resolve()}",
        engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}})
    study = optuna.create_study(
        study_name=name, storage=storage, direction="minimize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=budget.n_startup_trials))
    _check_setup(study, setup, out_dir)
    return study


def import_optuna() -> Any:
    """The ``optuna`` module, imported here only (the core install does without it).

    Raises
    ------
    ImportError
        Saying how to install it.
    """
    try:
        import optuna
    except ImportError as err:
        msg = "gler tune needs Optuna: pip install 'gler[tune]' (or pip install optuna)."
        raise ImportError(msg) from err
    return optuna


def _folds(stacks: list[xr.Dataset], sample: SampleSpec, n_folds: int) -> tuple[Fold, ...]:
    """The folds on the first stack's dates, checked on every stack's."""
    splits = {stack_name(s, i): sample.split_for(s["time"].values)
              for i, s in enumerate(stacks, start=1)}
    if len(set(splits.values())) > 1:
        listed = "; ".join(f"{n}: {s.train_end.date()} / {s.val_end.date()}"
                           for n, s in splits.items())
        msg = (f"The stacks' default split dates differ ({listed}). Give the cut dates "
               "(--train-end/--val-end).")
        raise ValueError(msg)
    times = pd.DatetimeIndex(stacks[0]["time"].values)
    folds = season_folds(times, next(iter(splits.values())), n_folds, window=sample.window,
                         horizon=sample.horizon)
    for stack in stacks[1:]:
        check_folds(folds, stack["time"].values, window=sample.window, horizon=sample.horizon)
    return folds


def _check_setup(study: Any, setup: dict, out_dir: Path) -> None:
    """Store the setup with a new study; refuse to resume one run with another setup."""
    stored = study.user_attrs.get("setup")
    if stored is None:
        study.set_user_attr("setup", json.loads(json.dumps(setup, default=str)))
        return
    wanted = json.loads(json.dumps(setup, default=str))
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differ:
        msg = (f"The study {study.study_name!r} in {out_dir / STUDY_FILE} was run with other "
               f"settings (differs in: {', '.join(differ)}); it cannot be resumed with these. "
               "Use a new --out directory, or delete the study file to start over.")
        raise ValueError(msg)


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False,
                                states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _optimise(study: Any, objective: Callable[[Any], float], budget: Budget, seed: int,
              progress: bool) -> None:
    """Run trials until ``budget.n_trials`` have finished; trials a killed run left running
    are marked failed (they are redone)."""
    optuna = import_optuna()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        logger.warning("%s: trial %d was interrupted; it is run again", study.study_name,
                       trial.number)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    done = _finished(study)
    bar = tqdm(total=budget.n_trials, initial=done, desc=study.study_name, unit="trial",
               disable=not progress)
    while done < budget.n_trials:
        # Seeded from what has finished, so a resumed study draws as an uninterrupted one.
        study.sampler = optuna.samplers.TPESampler(
            seed=int(np.random.SeedSequence([seed, done]).generate_state(1)[0]),
            n_startup_trials=budget.n_startup_trials)
        study.optimize(objective, n_trials=1)
        done = _finished(study)
        bar.update(1)
    bar.close()


def _describe_sampler(budget: Budget, seed: int) -> str:
    import optuna

    return (f"TPESampler(n_startup_trials={budget.n_startup_trials}, multivariate) of optuna "
            f"{optuna.__version__}, seeded before each trial from (seed={seed}, trials "
            "finished)")


@dataclass
class _Objective:
    """One trial: train a model per fold with the drawn settings, the mean validation RMSE (of
    a quantile head at ``quantiles``: the mean validation pinball loss)."""

    stacks: list[xr.Dataset]
    model: str
    profile: Profile
    budget: Budget
    folds: tuple[Fold, ...]
    sample: SampleSpec
    seed: int
    device: str | None
    quantiles: tuple[float, ...] = ()

    def __call__(self, trial: Any) -> float:
        import optuna

        space = search_space(self.model)
        train_changes, overrides = space.apply(space.suggest(trial))
        config = self.profile.train.replace(
            seed=self.seed, device=self.device, **{**self.budget.train_changes,
                                                   **train_changes})
        overrides = {**self.profile.model_overrides(self.model), **overrides}
        if self.quantiles:
            overrides["quantiles"] = list(self.quantiles)
        score, name = ((validation_pinball, "pinball_mm") if self.quantiles
                       else (validation_rmse, "rmse_mm"))
        values = []
        with tempfile.TemporaryDirectory(prefix="gler-tune-") as tmp:
            for fold in self.folds:
                run_dir = Path(tmp) / f"fold{fold.number}"
                try:
                    result = train(self.stacks, self.model, config, overrides, run_dir,
                                   sample=fold.sample(self.sample), progress=False)
                except NonFiniteLossError as err:
                    trial.set_user_attr("diverged", f"{fold.describe()}: {err}")
                    logger.warning("%s trial %d diverged in %s; pruned", self.model,
                                   trial.number, fold.describe())
                    raise optuna.TrialPruned(str(err)) from None
                except ValueError as err:
                    msg = f"{fold.describe()}: {err} Or use fewer folds (--folds)."
                    raise ValueError(msg) from err
                by_stack = score(run_dir, self.stacks, config.max_val_samples, self.seed)
                values.append(float(np.mean(by_stack)))
                trial.set_user_attr(f"fold{fold.number}", {
                    name: values[-1], f"{name}_by_stack": by_stack,
                    "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                    "train_loss": [h["train_loss"] for h in result.history],
                    "val_loss": [h["val_loss"] for h in result.history],
                    "wall_time_s": round(result.wall_time_s, 2)})
                trial.report(values[-1], fold.number)
                if trial.should_prune():
                    raise optuna.TrialPruned
        return float(np.mean(values))


def validation_rmse(run_dir: str | Path, stacks: Sequence[xr.Dataset],
                    max_samples: int | None = None, seed: int = 0,
                    split: SplitDates | None = None) -> list[float]:
    """Validation RMSE (mm) of a run on each stack: every valid pixel's validation windows
    under the run's split (or ``split``, e.g. to score a final fit on a later season), or a
    seeded subset of ``max_samples`` of them per stack. A quantile head is scored by its
    median.

    Example
    -------
    >>> validation_rmse("runs/fold1", [beiluhe, xidatan])  # doctest: +SKIP
    [2.41, 3.02]
    """
    run = load_run(run_dir)
    median = run.quantiles.index(0.5) if run.quantiles else None
    return [float(rmse(pred if median is None else pred[median], target))
            for pred, target in _validation_forecasts(run, stacks, max_samples, seed, split)]


def validation_pinball(run_dir: str | Path, stacks: Sequence[xr.Dataset],
                       max_samples: int | None = None, seed: int = 0,
                       split: SplitDates | None = None) -> list[float]:
    """Validation pinball loss (mm, the mean over the levels of the quantile head, the loss it
    is trained on) of a run with a quantile head on each stack; windows as
    :func:`validation_rmse`'s.

    Raises
    ------
    ValueError
        If the run has no quantile head (naming the command that trains one).
    """
    run = load_run(run_dir)
    levels = np.asarray(run.check_quantile_head("The validation pinball loss"))
    scores = []
    for pred, target in _validation_forecasts(run, stacks, max_samples, seed, split):
        observed = np.isfinite(target)  # pred [Q, N, H], target [N, H]
        losses = sr.quantile_score(target[observed][:, None], pred[:, observed].T, levels)
        scores.append(float(np.mean(losses)))
    return scores


@torch.no_grad()
def _validation_forecasts(run: Run, stacks: Sequence[xr.Dataset], max_samples: int | None,
                          seed: int, split: SplitDates | None,
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per stack, the run's validation forecasts in mm (``[N, H]``, or ``[Q, N, H]`` for a
    quantile head) and their targets ``[N, H]``."""
    sample = run.sample if split is None else dataclasses.replace(
        run.sample, train_end=split.train_end.isoformat(), val_end=split.val_end.isoformat())
    device = torch.device("cpu")
    out = []
    for number, stack in enumerate(stacks):
        windows = WindowDataset.from_spec(stack, sample)
        index = windows.indices("val")
        if max_samples and len(index) > max_samples:
            rng = np.random.default_rng([seed, number])
            index = index.subset(np.sort(rng.choice(len(index), max_samples, replace=False)))
        forecasts, targets = [], []
        for begin in range(0, len(index), 4096):
            batch = windows.batch(index, slice(begin, begin + 4096))
            pred = run.model(*to_tensors(run.scaler, batch, device)).float().numpy()
            forecasts.append(np.stack([run.scaler.inverse(q, batch.anchor)
                                       for q in np.moveaxis(pred, -1, 0)])
                             if run.quantiles else run.scaler.inverse(pred, batch.anchor))
            targets.append(batch.target)
        out.append((np.concatenate(forecasts, axis=-2), np.concatenate(targets)))
    return out


def _chosen(study: Any, name: str, budget: Budget) -> TunedModel:
    """The best complete trial of ``study`` as a :class:`~gler.tuned.TunedModel`."""
    from optuna.trial import TrialState

    counts = {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
              for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    if not counts["complete"]:
        diverged = sum("diverged" in t.user_attrs for t in study.trials)
        msg = (f"No trial of {name} completed ({counts['pruned']} pruned, {diverged} of them "
               f"diverged; {counts['fail']} failed): nothing to choose. Give a larger budget "
               "(--budget), or look at the study's trials.")
        raise ValueError(msg)
    best = study.best_trial
    space = search_space(name)
    train_changes, overrides = space.apply(best.params)
    folds = [f"fold{n}" for n in range(1, len(best.intermediate_values) + 1)]
    epochs = max(1, math.floor(np.mean([best.user_attrs[k]["best_epoch"] for k in folds]) + 0.5))
    return TunedModel(
        model=name, family=model_info(name).family,
        train_changes={**budget.train_changes, **train_changes}, model_overrides=overrides,
        epochs=int(epochs), value_mm=float(best.value),
        fold_values_mm=tuple(best.user_attrs[k].get("pinball_mm", best.user_attrs[k].get(
            "rmse_mm")) for k in folds),  # a quantile head's trials score the pinball loss
        params=dict(best.params), trials=counts, study=name)
