"""Data: the stack model, verified downloads, readers of InSAR products and of factors, their
alignment and merge into a stack, the Menyuan site, the QTR-sim simulator and synthetic frames."""

from __future__ import annotations

from gler.data.align import align_factors
from gler.data.degree_days import degree_days
from gler.data.factors import attach_factors, open_factors
from gler.data.menyuan import load_menyuan
from gler.data.model import decimal_years, factor_names, validate_stack
from gler.data.qtrsim import REGIONS, simulate, simulate_region
from gler.data.readers import detect_format, open_stack
from gler.data.registry import fetch, list_datasets

__all__ = [
    "REGIONS",
    "align_factors",
    "attach_factors",
    "decimal_years",
    "degree_days",
    "detect_format",
    "factor_names",
    "fetch",
    "list_datasets",
    "load_menyuan",
    "open_factors",
    "open_stack",
    "simulate",
    "simulate_region",
    "validate_stack",
]
