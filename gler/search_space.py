"""What ``gler tune`` searches: one search space per model family, declared here only.

Every neural model of a family gets the same space (the registry's ``family``:
:data:`gler.models.FAMILIES`), every family the same optimiser settings and the remedies of
:class:`~gler.config.TrainConfig` as searchable switches (0 is off), and the sizes its models
read from their config (:mod:`gler.models.config`): a width and the attention heads for GLER
(its dense and convolution branches get half the width), the hidden size and the number of
layers for the recurrent models, a kernel size besides for the convolutional ones, heads for
the Transformer, the moving-average kernel for DLinear (which has no width or dropout).

A space is checked when it is declared or loaded (:meth:`SearchSpace.check`): every value it
can take, in every combination of the model's sizes, must make a valid ``TrainConfig`` and
model config, so that no trial fails on an impossible setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gler.config import TrainConfig
from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW
from gler.models._registry import model_info
from gler.models.config import BaselineConfig, GLERConfig


@dataclass(frozen=True)
class Param:
    """One searchable setting: a range (``low``, ``high``; ``log`` scale, ``integer``) or a
    list of ``choices``, setting a :class:`~gler.config.TrainConfig` field (``train_field``)
    or model config fields (``model_fields``: field -> factor; the value times the factor,
    rounded, e.g. GLER's branches at half the width).

    Raises
    ------
    ValueError
        If it has both or neither of a range and choices, an empty or inverted range, a log
        range that includes 0, or sets nothing.
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()
    train_field: str | None = None
    model_fields: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ranged = self.low is not None and self.high is not None
        problem = None
        if ranged == bool(self.choices):
            problem = "give either low and high, or choices"
        elif ranged and not self.low < self.high:
            problem = f"low={self.low} must be below high={self.high}"
        elif ranged and self.log and self.low <= 0:
            problem = f"a log range needs low > 0, got low={self.low}"
        elif bool(self.train_field) == bool(self.model_fields):
            problem = "set either one train_field or model_fields"
        if problem:
            msg = f"Search parameter {self.name!r}: {problem}."
            raise ValueError(msg)
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def extremes(self) -> tuple:
        """The values a check tries: every choice, or both ends of the range."""
        return self.choices or (self.low, self.high)

    def settings(self, value: Any) -> dict[str, Any]:
        """The config fields this parameter sets to ``value``."""
        if self.train_field:
            return {self.train_field: value}
        return {name: value if factor == 1 else max(1, round(value * factor))
                for name, factor in self.model_fields.items()}

    def suggest(self, trial: Any) -> Any:
        """Draw the value of an Optuna ``trial``."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log,
                "integer": self.integer, "choices": list(self.choices),
                "train_field": self.train_field, "model_fields": dict(self.model_fields)}


@dataclass(frozen=True)
class SearchSpace:
    """The parameters searched for the models of one ``family``; checked on creation.

    Raises
    ------
    ValueError
        If a parameter sets no field of ``TrainConfig`` or of the family's model config, or a
        value (alone or with the family's other sizes) is impossible, naming it.
    """

    family: str
    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        self.check()

    def check(self, base_overrides: Mapping[str, Any] | None = None) -> None:
        """Build a ``TrainConfig`` for every training value, and a model config (on top of
        ``base_overrides``, e.g. a profile's sizes) for every combination of model values.

        Raises
        ------
        ValueError
            Naming the family, the parameter values and what the config said.
        """
        config_class = GLERConfig if self.family == "gler" else BaselineConfig
        known = {f.name for f in fields(config_class)}
        train_fields = {f.name for f in fields(TrainConfig)}
        for param in self.params:
            unknown = ({param.train_field} - train_fields if param.train_field
                       else set(param.model_fields) - known)
            if unknown:
                msg = (f"Search space {self.family!r}: {param.name!r} sets {sorted(unknown)}, "
                       f"which {'TrainConfig' if param.train_field else config_class.__name__} "
                       "does not have.")
                raise ValueError(msg)
        for param in (p for p in self.params if p.train_field):
            for value in param.extremes:
                self._try(lambda p=param, v=value: TrainConfig(**p.settings(v)),
                          {param.name: value})
        sizes = [p for p in self.params if p.model_fields]
        for values in itertools.product(*(p.extremes for p in sizes)):
            chosen = dict(zip((p.name for p in sizes), values, strict=True))
            overrides = {**(base_overrides or {}), **self.apply(chosen)[1]}
            self._try(lambda o=overrides: config_class.create(
                window=DEFAULT_WINDOW, horizon=DEFAULT_HORIZON, n_ef=1, **o), chosen)

    def _try(self, build: Any, values: dict) -> None:
        try:
            build()
        except (ValueError, TypeError) as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            msg = f"Search space {self.family!r}: the value(s) {shown} are impossible: {err}"
            raise ValueError(msg) from None

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One value per parameter, drawn for an Optuna ``trial``."""
        return {param.name: param.suggest(trial) for param in self.params}

    def apply(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(TrainConfig changes, model overrides)`` for parameter ``values``."""
        train: dict[str, Any] = {}
        model: dict[str, Any] = {}
        for param in self.params:
            if param.name in values:
                (train if param.train_field else model).update(
                    param.settings(values[param.name]))
        return train, model

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (stored with the study and the tuned settings)."""
        return {"family": self.family, "params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`, checked like a declared space.

        Raises
        ------
        ValueError
            As for a declared space.
        """
        return cls(values["family"], tuple(Param(**p) for p in values["params"]))


#: What every family searches: the optimiser and the remedies (0: off).
_COMMON = (
    Param("lr", low=3e-4, high=1e-2, log=True, train_field="lr"),
    Param("weight_decay", low=1e-5, high=1e-1, log=True, train_field="weight_decay"),
    Param("warmup_epochs", choices=(0, 1, 2), train_field="warmup_epochs"),
    Param("ema_decay", choices=(0.0, 0.9, 0.99, 0.999), train_field="ema_decay"),
    Param("factor_dropout", choices=(0.0, 0.1, 0.25), train_field="factor_dropout"),
)
_DROPOUT = Param("dropout", low=0.0, high=0.3, model_fields={"dropout": 1})
_WIDTHS = (16, 24, 32, 48)
_HIDDEN = Param("hidden", choices=_WIDTHS, model_fields={"hidden": 1})
_LAYERS = Param("num_layers", choices=(1, 2), model_fields={"num_layers": 1})
_HEADS = Param("n_heads", choices=(1, 2, 4), model_fields={"n_heads": 1})

#: The search space of each neural family (:data:`gler.models.FAMILIES` but ``classical``).
SEARCH_SPACES: dict[str, SearchSpace] = {
    "gler": SearchSpace("gler", (*_COMMON, _DROPOUT, Param(
        "width", choices=_WIDTHS,
        model_fields={"d_model": 1, "gru_hidden": 1, "dense_dim": 0.5, "conv_dim": 0.5}),
        _HEADS)),
    "recurrent": SearchSpace("recurrent", (*_COMMON, _DROPOUT, _HIDDEN, _LAYERS)),
    "convolutional": SearchSpace("convolutional", (*_COMMON, _DROPOUT, _HIDDEN, Param(
        "kernel_size", choices=(3, 5, 7), model_fields={"kernel_size": 1}), _LAYERS)),
    "attention": SearchSpace("attention", (*_COMMON, _DROPOUT, _HIDDEN, _HEADS, _LAYERS)),
    "linear": SearchSpace("linear", (*_COMMON, Param(
        "moving_avg", choices=(5, 13, 25), model_fields={"moving_avg": 1}))),
}


def search_space(model_name: str) -> SearchSpace:
    """The search space of ``model_name``'s family.

    Raises
    ------
    ValueError
        For an unknown model, or one with nothing to tune (a classical baseline).
    """
    info = model_info(model_name)
    if info.family not in SEARCH_SPACES:
        msg = (f"Model {model_name!r} ({info.kind}, family {info.family!r}) has nothing to "
               f"tune; tune neural models (families {', '.join(SEARCH_SPACES)}).")
        raise ValueError(msg)
    return SEARCH_SPACES[info.family]
