"""QTR-sim (placeholder docstring)."""

from __future__ import annotations

from gler.data.qtrsim.core import simulate, simulate_region, write_simulation
from gler.data.qtrsim.noise import NOISE_PRESETS
from gler.data.qtrsim.regions import (
    CLASS_PARAMETERS,
    LAND_COVER,
    REGIONS,
    Region,
    railway_line,
    railway_stations,
    region_table,
)

__all__ = [
    "CLASS_PARAMETERS",
    "LAND_COVER",
    "NOISE_PRESETS",
    "REGIONS",
    "Region",
    "railway_line",
    "railway_stations",
    "region_table",
    "simulate",
    "simulate_region",
    "write_simulation",
]
