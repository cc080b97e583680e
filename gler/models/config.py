"""Frozen, JSON-round-trippable configurations of the neural forecasters.

A model's ``config`` is saved beside each checkpoint; ``create_model(name, **config.to_dict())``
rebuilds the same architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gler.config import JsonConfig
from gler.data.sample import DEFAULT_HORIZON, DEFAULT_WINDOW
from gler.layers.quantile import check_levels

EF_MODES = ("cross_attention", "concat", "none")

C = TypeVar("C", bound="ConfigMixin")


class ConfigMixin(JsonConfig):
    """A model config: :class:`~gler.config.JsonConfig` plus the registry builders' ``create``
    and shared field checks. ``quantiles`` (a quantile head's levels) is written only when set,
    so point models' configs, and the runs written before it existed, keep their meaning."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``quantiles`` only when the model has a quantile head."""
        data = super().to_dict()
        if not data.get("quantiles"):
            data.pop("quantiles", None)
        return data

    @classmethod
    def create(cls: type[C], *, window: int, horizon: int, n_ef: int,
               presets: Mapping[str, Any] | None = None, **overrides: Any) -> C:
        """Config for a registry builder: ``presets`` first, then the caller's overrides."""
        return cls.from_dict({**(presets or {}), "window": window, "horizon": horizon,
                              "n_ef": n_ef, **overrides})

    def _check_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = (f"{type(self).__name__}.{name} must be a positive integer; got "
                       f"{value!r}.")
                raise ValueError(msg)

    def _check_dropout(self) -> None:
        dropout = getattr(self, "dropout", 0.0)
        if not 0.0 <= dropout < 1.0:
            msg = f"{type(self).__name__}.dropout must be in [0, 1); got {dropout!r}."
            raise ValueError(msg)

    def _check_common(self) -> None:
        self._check_positive("window", "horizon")
        if isinstance(self.n_ef, bool) or not isinstance(self.n_ef, int) or self.n_ef < 0:
            msg = f"{type(self).__name__}.n_ef must be an integer >= 0; got {self.n_ef!r}."
            raise ValueError(msg)
        self._check_dropout()
        if self.quantiles:
            check_levels(self.quantiles, head=True)


@dataclass(frozen=True)
class GLERConfig(ConfigMixin):
    """Architecture of :class:`~gler.models.GLERBiGRUNet`, ablation switches included.

    Parameters
    ----------
    window, horizon
        Input length L (acquisitions) and forecast steps H.
    n_ef
        Number of environmental factors E (0: the factor path is skipped).
    d_model
        Width D of the fused sequence (MCAR, RCSA, BiGRU input).
    n_heads
        Attention heads N in MCAR and RCSA; must divide ``d_model``.
    dense_dim, conv_dim
        Widths of GLFE's dense and convolution branches.
    kernel_sizes, dilations
        GLFE convolution layers: one odd kernel and one dilation each.
    rcsa_kernel_size
        Odd kernel size of RCSA's residual conv block.
    gru_hidden, gru_layers
        Hidden size per direction and number of layers of the (Bi)GRU.
    dropout
        Dropout used throughout.
    use_dense, use_conv
        GLFE branches (ablations ``gler-no-dense``, ``gler-no-conv``).
    ef_mode
        ``"cross_attention"`` (MCAR, the paper), ``"concat"`` (factors appended to the GLFE
        features, ablation ``gler-concat-ef``) or ``"none"`` (factors ignored, ``gler-no-mcar``).
    use_rcsa
        RCSA on or off (``gler-no-rcsa``).
    bidirectional
        BiGRU (the paper) or a one-directional GRU (``gler-gru``).
    quantiles
        Levels of a quantile head (:class:`~gler.models.Forecaster`), e.g.
        ``(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)``; ``()``: a point forecast.

    Raises
    ------
    ValueError
        On non-positive sizes, an unknown ``ef_mode``, both GLFE branches off, mismatched
        kernel/dilation lists, even kernels or ``d_model`` not divisible by ``n_heads``.
    """

    window: int = DEFAULT_WINDOW
    horizon: int = DEFAULT_HORIZON
    n_ef: int = 0
    d_model: int = 32
    n_heads: int = 4
    dense_dim: int = 16
    conv_dim: int = 16
    kernel_sizes: tuple[int, ...] = (3, 3)
    dilations: tuple[int, ...] = (1, 2)
    rcsa_kernel_size: int = 3
    gru_hidden: int = 32
    gru_layers: int = 1
    dropout: float = 0.1
    use_dense: bool = True
    use_conv: bool = True
    ef_mode: str = "cross_attention"
    use_rcsa: bool = True
    bidirectional: bool = True
    quantiles: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self._check_common()
        self._check_positive("d_model", "n_heads", "dense_dim", "conv_dim",
                             "rcsa_kernel_size", "gru_hidden", "gru_layers")
        if self.ef_mode not in EF_MODES:
            msg = f"GLERConfig.ef_mode must be one of {EF_MODES}; got {self.ef_mode!r}."
            raise ValueError(msg)
        if not (self.use_dense or self.use_conv):
            msg = ("GLERConfig: use_dense and use_conv are both False; GLFE needs at least one "
                   "branch.")
            raise ValueError(msg)
        if len(self.kernel_sizes) != len(self.dilations) or not self.kernel_sizes:
            msg = (f"GLERConfig.kernel_sizes {tuple(self.kernel_sizes)} and dilations "
                   f"{tuple(self.dilations)} must be non-empty and of the same length.")
            raise ValueError(msg)
        kernels = (*self.kernel_sizes, self.rcsa_kernel_size)
        if any(k < 1 or k % 2 == 0 for k in kernels) or any(d < 1 for d in self.dilations):
            msg = (f"GLERConfig kernel sizes must be odd and positive and dilations positive; "
                   f"got kernel_sizes={tuple(self.kernel_sizes)}, "
                   f"rcsa_kernel_size={self.rcsa_kernel_size}, dilations={tuple(self.dilations)}.")
            raise ValueError(msg)
        if self.d_model % self.n_heads:
            msg = (f"GLERConfig.d_model={self.d_model} must be divisible by "
                   f"n_heads={self.n_heads}.")
            raise ValueError(msg)

    @property
    def uses_ef(self) -> bool:
        """Whether the factors reach the output (``n_ef > 0`` and ``ef_mode != "none"``)."""
        return self.n_ef > 0 and self.ef_mode != "none"


@dataclass(frozen=True)
class BaselineConfig(ConfigMixin):
    """Sizes shared by the neural baselines; each model reads the fields it needs.

    Parameters
    ----------
    window, horizon, n_ef
        Input length L, forecast steps H, environmental factors E.
    hidden
        Hidden/channel width (RNN hidden size, conv channels, transformer width).
    num_layers
        Recurrent or transformer layers; TCN blocks.
    kernel_size
        Odd convolution kernel (CNN-LSTM, TCN).
    n_heads
        Transformer heads; must divide ``hidden``.
    moving_avg
        Odd moving-average kernel of DLinear's trend/seasonal decomposition.
    dropout
        Dropout used throughout.
    quantiles
        Levels of a quantile head (:class:`~gler.models.Forecaster`); ``()``: a point
        forecast.
    """

    window: int = DEFAULT_WINDOW
    horizon: int = DEFAULT_HORIZON
    n_ef: int = 0
    hidden: int = 32
    num_layers: int = 2
    kernel_size: int = 3
    n_heads: int = 4
    moving_avg: int = 25
    dropout: float = 0.1
    quantiles: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self._check_common()
        self._check_positive("hidden", "num_layers", "kernel_size", "n_heads", "moving_avg")
        if self.kernel_size % 2 == 0 or self.moving_avg % 2 == 0:
            msg = (f"BaselineConfig.kernel_size and moving_avg must be odd; got "
                   f"kernel_size={self.kernel_size}, moving_avg={self.moving_avg}.")
            raise ValueError(msg)
        if self.hidden % self.n_heads:
            msg = (f"BaselineConfig.hidden={self.hidden} must be divisible by "
                   f"n_heads={self.n_heads}.")
            raise ValueError(msg)
