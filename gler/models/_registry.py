"""Find every forecaster by name: ``register_model``, ``create_model``, ``list_models``.

Builders are small functions ``builder(*, window, horizon, n_ef, **overrides)`` decorated with
:func:`register_model`; presets (e.g. an ablation switch) are merged with the caller's
overrides, the caller winning. Neural and classical forecasters share the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW

KINDS = ("neural", "classical")
#: Architecture families: what a tuning search space and a profile's size overrides are
#: declared for (GLER and its ablations share one).
FAMILIES = ("gler", "recurrent", "convolutional", "attention", "linear", "classical")
#: Tags that put a model into a list: the proposed model, its ablations, and the baselines
#: compared with it.
TAGS = ("proposed", "ablation", "baseline")
# Modules whose import registers the built-in models (imported lazily: no import cycles).
_BUILTIN_MODULES = ("gler.models", "gler.baselines")


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model.

    Attributes
    ----------
    name, kind, description, builder
        Registry name, ``"neural"`` or ``"classical"``, one line for ``gler models``, builder.
    uses_ef
        Whether the model uses environmental factors.
    family
        Architecture family (one of :data:`FAMILIES`).
    tags
        Lists the model belongs to (of :data:`TAGS`): ``list_models(tag=...)`` queries them.
    needs
        For a classical baseline, the factors it reads: its ``predict`` keyword -> factor
        name (e.g. Stefan's ``{"ddt": "thawing_degree_days", ...}``).
    """

    name: str
    kind: str
    uses_ef: bool
    description: str
    builder: Callable[..., Any]
    family: str
    tags: tuple[str, ...] = ()
    needs: Mapping[str, str] = field(default_factory=dict)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, kind: str, uses_ef: bool, description: str, family: str,
                   tags: tuple[str, ...] = (), needs: Mapping[str, str] | None = None) -> Callable:
    """Decorator registering a model builder under ``name``.

    Parameters
    ----------
    name
        Registry name (lower case, dashes), e.g. ``"gler-no-mcar"``.
    kind
        ``"neural"`` or ``"classical"``.
    uses_ef
        Whether the model uses environmental factors (for neural models: when ``n_ef > 0``).
    description
        One line for ``gler models``.
    family
        Architecture family, one of :data:`FAMILIES`.
    tags
        Lists the model belongs to, of :data:`TAGS` (``"baseline"``: compared with GLER).
    needs
        Classical baselines: ``predict`` keyword -> the factor it is read from.

    Raises
    ------
    ValueError
        If ``kind``, ``family`` or a tag is unknown, or ``name`` is already taken.
    """
    bad = [f"{what} {value!r} (one of {allowed})"
           for what, value, allowed in (("kind", kind, KINDS), ("family", family, FAMILIES),
                                        *(("tag", t, TAGS) for t in tags))
           if value not in allowed]
    if bad:
        msg = f"Cannot register {name!r}: unknown {', '.join(bad)}."
        raise ValueError(msg)

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            msg = f"A model named {name!r} is already registered; choose another name."
            raise ValueError(msg)
        _REGISTRY[name] = ModelInfo(name, kind, uses_ef, description, builder, family,
                                    tuple(tags), dict(needs or {}))
        return builder

    return decorator


def _load_builtin() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def model_info(name: str) -> ModelInfo:
    """Registry entry of ``name`` (kind, uses_ef, one-line description).

    Raises
    ------
    ValueError
        If ``name`` is not registered; the message lists the valid names.
    """
    _load_builtin()
    if name not in _REGISTRY:
        msg = f"Unknown model {name!r}. Available: {', '.join(sorted(_REGISTRY))}."
        raise ValueError(msg)
    return _REGISTRY[name]


def list_models(kind: str | None = None, *, tag: str | None = None,
                family: str | None = None) -> list[str]:
    """Sorted registered names, optionally only those of one ``kind``, ``tag`` or ``family``.

    Raises
    ------
    ValueError
        For an unknown kind, tag or family.

    Example
    -------
    >>> from gler.models import list_models
    >>> "gler" in list_models("neural") and "harmonic" in list_models("classical")
    True
    >>> "gler-no-mcar" in list_models(tag="ablation")
    True
    """
    for what, value, allowed in (("kind", kind, KINDS), ("tag", tag, TAGS),
                                 ("family", family, FAMILIES)):
        if value is not None and value not in allowed:
            msg = f"{what} must be one of {allowed} or None; got {value!r}."
            raise ValueError(msg)
    _load_builtin()
    return sorted(n for n, info in _REGISTRY.items()
                  if kind in (None, info.kind) and (tag is None or tag in info.tags)
                  and family in (None, info.family))


def create_model(name: str, *, window: int = DEFAULT_WINDOW, horizon: int = DEFAULT_HORIZON,
                 n_ef: int = 0,
                 **overrides: Any) -> Any:
    """Build the model registered as ``name``.

    Parameters
    ----------
    name
        A name from :func:`list_models`.
    window, horizon, n_ef
        Input length L, forecast steps H, number of environmental factors E.
    **overrides
        Config fields of that model (e.g. ``d_model=64``); they win over the name's presets,
        so ``create_model(name, **model.config.to_dict())`` rebuilds the same architecture.

    Returns
    -------
    A :class:`~gler.models.base.Forecaster` (``kind == "neural"``) or a classical baseline.

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or an invalid config.

    Example
    -------
    >>> import torch
    >>> from gler.models import create_model
    >>> model = create_model("gler", window=30, horizon=6, n_ef=5)
    >>> model(torch.zeros(2, 30), torch.zeros(2, 30, 5)).shape
    torch.Size([2, 6])
    """
    info = model_info(name)
    return info.builder(window=window, horizon=horizon, n_ef=n_ef, **overrides)
