"""Data: the stack model, verified downloads, readers of InSAR products, factor alignment."""

from __future__ import annotations

from gler.data.align import align_factors
from gler.data.degree_days import degree_days
from gler.data.model import decimal_years, factor_names, validate_stack
from gler.data.registry import fetch, list_datasets

__all__ = [
    "align_factors",
    "decimal_years",
    "degree_days",
    "factor_names",
    "fetch",
    "list_datasets",
    "validate_stack",
]
