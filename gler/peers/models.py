"""Fit neuralforecast's models on gler's split and forecast gler's issue dates with them.

A *peer* is what a user would pick instead of gler: a global model of neuralforecast (Olivares
et al.) fitted on the pixels' long frame (:mod:`gler.peers.frame`). :data:`PEERS` holds NHITS
(Challu et al. 2023) on the displacement alone and TiDE (Das et al. 2023) with the factors as
past covariates (``hist_exog_list``: only factors up to the issue date, as gler's models get).

The protocol is gler's: L and H from the :class:`~gler.data.sample.SampleSpec`; training
targets up to ``train_end``, early stopping on the windows whose targets lie in the validation
period (to ``val_end``; the weights of the best validation loss are kept, as gler's trainer
keeps its best epoch); nothing after ``val_end`` is in the frame the model is fitted on. The
loss is the mean squared error, gler's training loss (neuralforecast's default is MAE). Scaling
is neuralforecast's per-window ``scaler_type``, whose statistics come from each window's own
observed inputs; its per-series ``local_scaler_type`` (statistics over the whole frame given,
test period included) is not used.

:func:`predict_peer` then forecasts every issue date of a split with one
``NeuralForecast.cross_validation(use_fitted=True, step_size=1)`` call: no refit, each window
reads its L inputs only, and all issue dates and pixels go in one pass (per-date
``predict(df=…)`` calls would rebuild the dataset and the trainer at every date).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xarray as xr

from gler.data.sample import SPLITS, SampleSpec, SplitDates
from gler.data.windows import WindowDataset
from gler.peers.frame import (
    FREQ,
    ID,
    TARGET,
    TIME,
    as_stacks,
    fit_frame,
    forecast_from_frame,
    stack_windows,
    windows_frame,
)

INSTALL = 'pip install "gler[peers]"'
#: neuralforecast's validation loss, the one early stopping and the search watch.
VAL_LOSS = "ptl/val_loss"


@dataclass(frozen=True)
class Peer:
    """A neuralforecast model in the comparison: its class, its Auto* class (the search
    space) and whether it reads the factors."""

    model: str
    auto: str
    uses_factors: bool


#: The peers by gler name.
PEERS: dict[str, Peer] = {
    "nhits": Peer("NHITS", "AutoNHITS", uses_factors=False),
    "tide": Peer("TiDE", "AutoTiDE", uses_factors=True),
}
#: What gler changes in neuralforecast's defaults for every peer: early stopping after five
#: validation checks without improvement, a check every 50 steps, and the ``robust`` window
#: scaler (median and MAD of each window's observed inputs) instead of none: the displacement
#: is cumulative, so its level says little, and the factors come in their own units (°C, mm,
#: degree-days), which TiDE would otherwise read raw.
PEER_DEFAULTS: dict[str, Any] = {"early_stop_patience_steps": 5, "val_check_steps": 50,
                                 "scaler_type": "robust"}
#: Lightning settings: no progress bar, summary, logger or sanity validation.
QUIET: dict[str, Any] = {"enable_progress_bar": False, "enable_model_summary": False,
                         "logger": False, "num_sanity_val_steps": 0}
#: Settings gler sets from the sample specification and the seed, not from ``params``.
FIXED = ("h", "input_size", "loss", "valid_loss", "random_seed", "hist_exog_list",
         "futr_exog_list", "stat_exog_list", "training_data_availability_threshold")


def require_neuralforecast() -> Any:
    """The ``neuralforecast`` package.

    Raises
    ------
    ImportError
        When it is not installed, with the command that installs it.
    """
    try:
        import neuralforecast
    except ImportError as err:
        msg = (f"The peer models (gler.peers) need neuralforecast, an optional extra: {INSTALL}"
               " (it brings PyTorch Lightning and Ray along).")
        raise ImportError(msg) from err
    return neuralforecast


def peer_info(name: str) -> Peer:
    """The peer called ``name``.

    Raises
    ------
    ValueError
        For an unknown name, listing the peers.
    """
    if name not in PEERS:
        msg = f"Unknown peer {name!r}. Available: {', '.join(PEERS)}."
        raise ValueError(msg)
    return PEERS[name]


@dataclass
class PeerModel:
    """A fitted peer: what :func:`fit_peer` returns and :func:`predict_peer` reads.

    Attributes
    ----------
    name
        The peer's gler name (a key of :data:`PEERS`).
    forecaster
        The fitted ``neuralforecast.NeuralForecast``.
    sample
        The resolved sample specification: L, H, the factors read and the cut dates.
    params
        The settings given on top of :data:`PEER_DEFAULTS` (e.g. a search's best).
    best_val_loss
        Lowest validation loss (MSE on neuralforecast's window scale), the weights kept.
    steps, wall_time_s
        Training steps run and the fit's wall time.
    """

    name: str
    forecaster: Any
    sample: SampleSpec
    params: dict[str, Any]
    best_val_loss: float
    steps: int
    wall_time_s: float


def best_weights() -> Any:
    """A Lightning callback that keeps the weights of the lowest validation loss and puts
    them back when fitting ends (after early stopping or at ``max_steps``)."""
    from pytorch_lightning import Callback

    class BestWeights(Callback):
        def __init__(self) -> None:
            self.loss, self.state = math.inf, None

        def on_validation_end(self, trainer, module) -> None:
            loss = trainer.callback_metrics.get(VAL_LOSS)
            if trainer.sanity_checking or loss is None or not float(loss) < self.loss:
                return
            self.loss, self.state = float(loss), copy.deepcopy(module.state_dict())

        def on_fit_end(self, trainer, module) -> None:
            if self.state is not None:
                module.load_state_dict(self.state)

    return BestWeights()


def peer_settings(name: str, sample: SampleSpec, factors: Sequence[str],
                  params: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """Keyword arguments of the neuralforecast model: neuralforecast's defaults,
    :data:`PEER_DEFAULTS`, ``params``, then what gler fixes (:data:`FIXED`): h and input size
    from ``sample``, MSE losses, the seed, the factors as past covariates (peers that read
    them) and gler's gap rule for training windows (at least ``min_observed`` of the inputs
    and one target observed).

    Raises
    ------
    ValueError
        If ``params`` sets one of :data:`FIXED`.
    """
    from neuralforecast.losses.pytorch import MSE

    params = dict(params or {})
    fixed = sorted(set(params) & set(FIXED))
    if fixed:
        msg = (f"params sets {fixed}, which gler fixes from the sample specification, the seed "
               "and the peer (window, horizon, loss, factors, gap rule); leave them out.")
        raise ValueError(msg)
    settings = {**PEER_DEFAULTS, **QUIET, **params,
                "h": sample.horizon, "input_size": sample.window, "loss": MSE(),
                "valid_loss": MSE(), "random_seed": seed,
                "training_data_availability_threshold": [float(sample.min_observed), 0.0]}
    if peer_info(name).uses_factors:
        settings["hist_exog_list"] = list(factors)
    return settings


def fit_peer(stacks: xr.Dataset | Sequence[xr.Dataset], name: str = "nhits", *,
             sample: SampleSpec | None = None, split: SplitDates | None = None,
             params: dict[str, Any] | None = None, seed: int = 0) -> PeerModel:
    """Fit the peer ``name`` on the training period of ``stacks``, stopping early on their
    validation period.

    Parameters
    ----------
    stacks
        One stack or several (pooled: one global model over all their pixels).
    name
        A key of :data:`PEERS` (``"nhits"``, ``"tide"``).
    sample
        L, H, factors (for peers that read them; None: every factor of the data) and the gap
        rule; default :class:`~gler.data.sample.SampleSpec`.
    split
        Cut dates (default ``sample``'s, else the data's default ones); a fold of a
        search passes its own.
    params
        Model settings over neuralforecast's defaults and :data:`PEER_DEFAULTS` (e.g.
        ``{"max_steps": 300}``, or :attr:`PeerTuning.params`).
    seed
        neuralforecast's ``random_seed``.

    Returns
    -------
    PeerModel

    Raises
    ------
    ImportError
        Without neuralforecast (``pip install "gler[peers]"``).
    ValueError
        For an unknown peer, ``params`` setting what gler fixes, or stacks that
        :func:`gler.peers.frame.stack_windows` refuses.

    Example
    -------
    >>> peer = fit_peer(stack, "nhits", params={"max_steps": 300})  # doctest: +SKIP
    >>> fc = predict_peer(peer, stack, issues="test")  # doctest: +SKIP
    """
    info = peer_info(name)
    neuralforecast = require_neuralforecast()
    sample = sample or SampleSpec()
    windows, labels = stack_windows(as_stacks(stacks), sample,
                                    factors=None if info.uses_factors else (), split=split)
    frame, val_size = fit_frame(windows, labels, factors=info.uses_factors)
    keep = best_weights()
    settings = peer_settings(name, sample, windows[0].factors, params, seed)
    settings["callbacks"] = [keep, *settings.get("callbacks", [])]
    model = getattr(neuralforecast.models, info.model)(**settings)
    forecaster = neuralforecast.NeuralForecast(models=[model], freq=FREQ)
    start = time.perf_counter()
    forecaster.fit(frame, val_size=val_size)
    wall = time.perf_counter() - start
    fitted = forecaster.models[0]  # NeuralForecast fits a copy of the model it was given
    (kept,) = [cb for cb in fitted.trainer_kwargs["callbacks"] if isinstance(cb, type(keep))]
    steps = fitted.train_trajectories[-1][0] + 1 if fitted.train_trajectories else 0
    return PeerModel(name=name, forecaster=forecaster,
                     sample=sample.resolved(windows[0].factors, windows[0].split),
                     params=dict(params or {}), best_val_loss=kept.loss, steps=int(steps),
                     wall_time_s=wall)


def predict_peer(peer: PeerModel, stack: xr.Dataset, *, issues: str = "test") -> xr.Dataset:
    """The peer's forecasts at every issue date of ``issues`` on ``stack``, in the layout of
    :func:`gler.forecast.predict` (the issue dates of ``predict(run, stack, issues=...)``).

    Parameters
    ----------
    peer
        A fitted peer (:func:`fit_peer`).
    stack
        A stack with the factors the peer read (any stack: a global model forecasts other
        regions too).
    issues
        ``"test"`` (default), ``"val"`` or ``"train"``: the issue dates whose H targets lie
        in that period of the peer's cut dates.

    Returns
    -------
    xarray.Dataset
        ``forecast`` (issue_time, horizon, *spatial) in mm, NaN where an input window has
        fewer than ``min_observed`` observations (as in ``predict``); ``target_time``.

    Raises
    ------
    ValueError
        For another ``issues``, or a stack without those issue dates or factors.
    """
    if issues not in SPLITS:
        msg = f"issues={issues!r}: the peers forecast a period, one of {', '.join(SPLITS)}."
        raise ValueError(msg)
    neuralforecast = require_neuralforecast()
    windows = WindowDataset.from_spec(stack, peer.sample)
    issue_index = windows.issues(issues)
    first, stop = int(issue_index[0]), int(issue_index[-1]) + windows.horizon + 1
    frame = windows_frame(windows, "stack", stop=stop)
    cv = peer.forecaster.cross_validation(frame, n_windows=None, test_size=stop - 1 - first,
                                          step_size=1, use_fitted=True)
    (column,) = [c for c in cv.columns if c not in (ID, TIME, TARGET, "cutoff")]
    return forecast_from_frame(cv, column, windows, issue_index, stack, model=peer.name,
                               source=f"neuralforecast {neuralforecast.__version__} "
                                      f"{peer_info(peer.name).model}")

