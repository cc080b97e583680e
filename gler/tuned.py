"""Tuned settings: what ``gler tune`` chose per model, with where and how it was chosen.

``gler tune`` (:mod:`gler.tune`) writes a JSON file (``tuned.json``) that profiles read
(:meth:`gler.profiles.Profile.with_tuned`, ``gler train --tuned FILE``). Per model it holds
the ``TrainConfig`` changes and model overrides that the folds chose (on top of the profile's
own), the epoch count of the final fit, the objective (mean validation RMSE in mm over regions
and folds) and the trial counts; its provenance says which gler, profile, data, folds, budget,
sampler, pruner and study produced it, and when. Settings tuned by another gler release
(major.minor) or on other data are refused, with the reason.

The data are identified by the fingerprint (:func:`gler.run.data_fingerprint`) of each stack
*up to the end of the last fold's validation period*: tuning never reads the test period, so
the settings stay valid for a stack whose later acquisitions change or are added.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from gler import __version__
from gler.data.folds import Fold
from gler.data.multistack import stack_name
from gler.run import data_fingerprint, release_of

#: Version of the tuned-settings file layout.
TUNED_FORMAT = 1


@dataclass(frozen=True)
class TunedModel:
    """What the folds chose for one model.

    Attributes
    ----------
    model, family
        Registry name and family (whose search space was searched).
    train_changes
        ``TrainConfig`` fields to change (lr, weight decay, the remedies, and what the budget
        fixed for every trial, e.g. samples per epoch).
    model_overrides
        Model config fields, on top of the profile's overrides.
    epochs
        The final fit's epoch count: the best epochs of the chosen trial's folds, averaged.
    value_mm, fold_values_mm
        The objective (mean validation RMSE in mm over the regions and the folds; for a
        quantile head the mean validation pinball loss in mm) and its value per fold.
    params
        The values Optuna drew for the chosen trial (the search space's names).
    trials
        Number of trials by state (complete, pruned, failed).
    study
        The study's name in the study file.
    """

    model: str
    family: str
    train_changes: dict[str, Any]
    model_overrides: dict[str, Any]
    epochs: int
    value_mm: float
    fold_values_mm: tuple[float, ...]
    params: dict[str, Any]
    trials: dict[str, int]
    study: str

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TunedModel:
        """Inverse of :func:`dataclasses.asdict`."""
        return cls(**{**values, "fold_values_mm": tuple(values["fold_values_mm"])})


@dataclass(frozen=True)
class TunedSettings:
    """A tuned-settings file: the chosen settings per model and their provenance.

    Attributes
    ----------
    models
        Model name -> :class:`TunedModel`.
    gler_version, profile, budget, seed, n_trials, sampler, pruner
        How the study ran (the sampler and pruner with their settings).
    folds
        The folds the objective averaged over.
    data
        One ``{"name", "fingerprint"}`` per stack, fingerprinted up to :attr:`through`.
    through
        The last fold's ``val_end`` (ISO date): nothing after it was read.
    pooled
        Whether one model per fold was trained on all the stacks together.
    sample
        The :class:`~gler.data.sample.SampleSpec` of the folds (window, horizon, factors,
        the split whose test period was left alone).
    study_file, date
        The Optuna study (SQLite) and when the file was written (ISO, UTC).
    quantiles
        The levels of the quantile heads the models were tuned with (``gler tune
        --quantiles``; their objective the validation pinball loss); ``()``: point models.
    path
        Where the settings were read from (not written).
    """

    models: dict[str, TunedModel]
    gler_version: str
    profile: str
    budget: str
    seed: int
    n_trials: int
    sampler: str
    pruner: str
    folds: tuple[Fold, ...]
    data: tuple[dict[str, str], ...]
    through: str
    pooled: bool
    sample: dict[str, Any]
    study_file: str
    date: str
    quantiles: tuple[float, ...] = ()
    path: Path | None = field(default=None, compare=False)

    def model(self, name: str) -> TunedModel | None:
        """The settings chosen for ``name`` (None if it was not tuned)."""
        return self.models.get(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, as written to the file."""
        values = {k: v for k, v in asdict(self).items()
                  if k not in ("models", "path", "folds") and (k != "quantiles" or v)}
        return {"format": TUNED_FORMAT, **values, "folds": [f.to_dict() for f in self.folds],
                "models": {name: asdict(tuned) for name, tuned in self.models.items()}}

    def save(self, path: str | Path) -> Path:
        """Write the settings as JSON to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path

    def check_quantiles(self, levels: Sequence[float]) -> None:
        """Refuse a training whose quantile head (``levels``; ``()``: a point model) differs
        from the one these settings were tuned with. Settings tuned for point models may serve
        a quantile head (they were chosen on its median's loss, the RMSE).

        Raises
        ------
        ValueError
            Naming both sets of levels and the flags that make them agree.
        """
        if not self.quantiles or tuple(levels) == tuple(self.quantiles):
            return
        tuned = ",".join(f"{q:g}" for q in self.quantiles)
        asked = (f"--quantiles {','.join(f'{q:g}' for q in levels)}" if levels
                 else "a point model (no --quantiles)")
        msg = (f"{self._where()} were tuned for a quantile head at {tuned} (gler tune "
               f"--quantiles), not for {asked}. Train with --quantiles {tuned}, or use "
               "settings tuned without --quantiles.")
        raise ValueError(msg)

    def check_data(self, stacks: xr.Dataset | Sequence[xr.Dataset]) -> None:
        """Refuse stacks that are not among those the settings were tuned on.

        Raises
        ------
        ValueError
            Naming the stack, its fingerprint and the tuned ones, and what to do.
        """
        stacks = [stacks] if isinstance(stacks, xr.Dataset) else list(stacks)
        known = {entry["fingerprint"] for entry in self.data}
        for number, stack in enumerate(stacks, start=1):
            found = tuned_fingerprint(stack, self.through)
            if found not in known:
                tuned = ", ".join(f"{d['name']} {d['fingerprint']}" for d in self.data)
                msg = (f"{self._where()} were tuned on other data: {stack_name(stack, number)} "
                       f"has the fingerprint {found} up to {self.through[:10]}, the tuned data "
                       f"{tuned}. Tune on this data (gler tune), or train without --tuned.")
                raise ValueError(msg)

    def _where(self) -> str:
        return f"The tuned settings in {self.path}" if self.path else "The tuned settings"


def tuned_fingerprint(stack: xr.Dataset, through: str | pd.Timestamp) -> str:
    """The data fingerprint of ``stack`` up to ``through`` (what the folds read)."""
    return data_fingerprint(stack.sel(time=slice(None, pd.Timestamp(through))))


def read_tuned(path: str | Path) -> TunedSettings:
    """Read a tuned-settings file written by :func:`gler.tune.tune`.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is damaged, of another file format, or tuned by another gler release
        (major.minor), with the reason and what to do.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"No tuned-settings file {path}; write one with gler tune (--out)."
        raise FileNotFoundError(msg)
    try:
        values = json.loads(path.read_text())
        version = str(values.get("gler_version", ""))
        file_format = values.get("format")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
        msg = f"{path} is not a tuned-settings file ({type(err).__name__}); run gler tune again."
        raise ValueError(msg) from None
    if file_format != TUNED_FORMAT:
        msg = (f"{path} is a tuned-settings file of format {file_format!r}; this gler "
               f"{__version__} reads format {TUNED_FORMAT}. Run gler tune again.")
        raise ValueError(msg)
    if release_of(version) != release_of(__version__):
        msg = (f"{path} was tuned with gler {version or '(no version)'}; this gler "
               f"{__version__} uses settings tuned by the same release "
               f"({'.'.join(map(str, release_of(__version__)))}.x) only, because the models "
               "and the trainer may have changed. Run gler tune again with this version.")
        raise ValueError(msg)
    try:
        return TunedSettings(**{
            **{k: v for k, v in values.items() if k != "format"},
            "models": {n: TunedModel.from_dict(m) for n, m in values["models"].items()},
            "folds": tuple(Fold.from_dict(f) for f in values["folds"]),
            "data": tuple(values["data"]), "quantiles": tuple(values.get("quantiles", ())),
            "path": path})
    except (KeyError, TypeError, ValueError) as err:
        msg = (f"{path} is damaged ({type(err).__name__}: {err}); restore it from a copy or run "
               "gler tune again.")
        raise ValueError(msg) from None
