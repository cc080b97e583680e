"""Search a peer's settings with neuralforecast's own Auto* search space, on gler's folds.

neuralforecast's ``AutoNHITS``/``AutoTiDE`` sample settings from a declared space with Optuna
(``backend="optuna"``, ``num_samples`` trials) and pick the lowest validation loss on one
validation window. The comparison gives every model the same number of trials on the same
folds (``evaluation.md``, model selection), so :func:`tune_peer` runs the Optuna study itself:
over the Auto* class's own space (:func:`search_space`), ``n_trials`` trials, each fitted with
:func:`gler.peers.models.fit_peer` on every fold (:class:`~gler.data.sample.SplitDates`) and
scored by the mean of the folds' best validation losses. What gler fixes (L, H, loss, seed,
factors: :data:`gler.peers.models.FIXED`) is taken out of the space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from gler.data.sample import SampleSpec, SplitDates
from gler.peers.models import FIXED, fit_peer, peer_info, require_neuralforecast


@dataclass
class PeerTuning:
    """What :func:`tune_peer` returns.

    Attributes
    ----------
    name
        The peer.
    params
        The best trial's settings, for ``fit_peer(..., params=params)``.
    best_loss
        Its mean best validation loss over the folds.
    study
        The ``optuna.Study`` (every trial, its settings and per-fold losses).
    """

    name: str
    params: dict[str, Any]
    best_loss: float
    study: Any


def search_space(name: str, sample: SampleSpec) -> Callable[[Any], dict[str, Any]]:
    """The settings neuralforecast's Auto* class of peer ``name`` searches, as a function of
    an Optuna trial, without what gler fixes (:data:`gler.peers.models.FIXED`).

    Raises
    ------
    ImportError
        Without neuralforecast.
    ValueError
        For an unknown peer.

    Example
    -------
    >>> space = search_space("nhits", SampleSpec())  # doctest: +SKIP
    >>> sorted(space(optuna.create_study().ask()))[:3]  # doctest: +SKIP
    ['batch_size', 'learning_rate', 'max_steps']
    """
    info = peer_info(name)
    require_neuralforecast()
    from neuralforecast import auto

    space = getattr(auto, info.auto).get_default_config(h=sample.horizon, backend="optuna")

    def sample_settings(trial: Any) -> dict[str, Any]:
        return {k: v for k, v in space(trial).items() if k not in FIXED}

    return sample_settings


def tune_peer(stacks: xr.Dataset | Sequence[xr.Dataset], name: str, *, sample: SampleSpec,
              folds: Sequence[SplitDates], n_trials: int, seed: int = 0,
              fixed: dict[str, Any] | None = None, pruner: Any = None) -> PeerTuning:
    """Search the settings of peer ``name`` with ``n_trials`` Optuna trials on ``folds``.

    Parameters
    ----------
    stacks
        One stack or several, as for :func:`gler.peers.models.fit_peer`.
    name
        A key of :data:`gler.peers.models.PEERS`.
    sample
        L, H, factors and gap rule (its cut dates are replaced by each fold's).
    folds
        The cut dates of each fold (train to ``train_end``, validate to ``val_end``); the
        same folds gler's models are tuned on.
    n_trials
        Trials (neuralforecast's ``num_samples``): the budget every model gets.
    seed
        Seed of the sampler (Optuna's TPE, as the Auto* classes use with this backend) and
        of every fit.
    fixed
        Settings that override the sampled ones (e.g. ``{"max_steps": 300}`` on a CPU).
    pruner
        An ``optuna.pruners`` pruner (default none, as the Auto* classes); each trial reports
        its running mean loss after every fold.

    Returns
    -------
    PeerTuning

    Raises
    ------
    ValueError
        For no fold, fewer than one trial, an unknown peer, or ``fixed`` setting what gler
        fixes.

    Example
    -------
    >>> folds = [SplitDates(pd.Timestamp("2019-12-31"), pd.Timestamp("2020-12-31")),
    ...          SplitDates(pd.Timestamp("2020-12-31"), pd.Timestamp("2021-12-31"))]
    >>> best = tune_peer(stack, "tide", sample=spec, folds=folds, n_trials=20)  # doctest: +SKIP
    >>> peer = fit_peer(stack, "tide", sample=spec, params=best.params)  # doctest: +SKIP
    """
    if not folds or isinstance(n_trials, bool) or n_trials < 1:
        msg = (f"tune_peer needs at least one fold and one trial, got {len(folds)} folds and "
               f"n_trials={n_trials!r}.")
        raise ValueError(msg)
    import optuna

    objective = PeerObjective(stacks, name, sample, tuple(folds), seed, dict(fixed or {}))
    study = optuna.create_study(direction="minimize",
                                pruner=pruner or optuna.pruners.NopPruner(),
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial
    return PeerTuning(name=name, params=best.user_attrs["params"], best_loss=best.value,
                      study=study)


@dataclass
class PeerObjective:
    """One trial of peer ``name``: settings drawn from its Auto* space (:func:`search_space`)
    with ``fixed`` over them, fitted on every fold; the mean of the folds' best validation
    losses, each fold reported to the trial's pruner as it finishes. The settings go to the
    trial's ``params`` attribute, the folds' losses to ``fold_losses``."""

    stacks: xr.Dataset | Sequence[xr.Dataset]
    name: str
    sample: SampleSpec
    folds: tuple[SplitDates, ...]
    seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)
    space: Callable[[Any], dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.space = search_space(self.name, self.sample)  # refuses an unknown peer here

    def __call__(self, trial: Any) -> float:
        import optuna

        params = {**self.space(trial), **self.fixed}
        trial.set_user_attr("params", params)
        losses = []
        for k, fold in enumerate(self.folds):
            peer = fit_peer(self.stacks, self.name, sample=self.sample, split=fold,
                            params=params, seed=self.seed)
            losses.append(peer.best_val_loss)
            trial.report(float(np.mean(losses)), step=k)
            if trial.should_prune():
                raise optuna.TrialPruned
        trial.set_user_attr("fold_losses", losses)
        return float(np.mean(losses))
