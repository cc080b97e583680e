"""Building blocks of GLER-BiGRUnet, one paper module per file (timm-style layers)."""

from __future__ import annotations

from gler.layers.attention import Attention
from gler.layers.glfe import GLFE, ConvBranch
from gler.layers.gru import GRU
from gler.layers.head import MultiOutputHead
from gler.layers.mcar import MCAR
from gler.layers.quantile import QuantileOutput
from gler.layers.rcsa import RCSA

__all__ = ["GLFE", "GRU", "MCAR", "RCSA", "Attention", "ConvBranch", "MultiOutputHead",
           "QuantileOutput"]
