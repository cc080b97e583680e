"""Neural forecasters behind one interface, found by name.

Importing this package registers GLER-BiGRUnet, its ablations and the neural baselines;
:mod:`gler.baselines` registers the classical ones.
"""

from __future__ import annotations

from gler.models import cnn_lstm, dlinear, gru, lstm, tcn, transformer  # noqa: F401
from gler.models._registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
)
from gler.models.base import Forecaster
from gler.models.cnn_lstm import CNNLSTM
from gler.models.config import BaselineConfig, GLERConfig
from gler.models.dlinear import DLinear
from gler.models.flops import count_flops, count_parameters
from gler.models.gler import VARIANTS, GLERBiGRUNet, GLEROutput
from gler.models.recurrent import RecurrentForecaster
from gler.models.tcn import TCN
from gler.models.transformer import TransformerForecaster

__all__ = [
    "CNNLSTM",
    "TCN",
    "VARIANTS",
    "BaselineConfig",
    "DLinear",
    "Forecaster",
    "GLERBiGRUNet",
    "GLERConfig",
    "GLEROutput",
    "ModelInfo",
    "RecurrentForecaster",
    "TransformerForecaster",
    "count_flops",
    "count_parameters",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
]
