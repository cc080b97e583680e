"""The four QTR-sim regions and the land-cover classes.

Each region's *character* (from the design spec) is expressed through a handful of numbers: its
climate (MAAT, annual amplitude, warming, precipitation), its terrain (relief, lakes, river) and
how strongly its ground deforms (scales applied to the class parameter ranges). The coordinates
are approximate, the same as the study sites of :mod:`gler.data.geography` (the railway and its
stations, for overview maps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class Region:
    """Settings of one simulated region (units in the field names; ranges in the module doc)."""

    name: str
    lon: float
    lat: float
    elevation_m: float
    character: str
    maat_degc: float
    amplitude_degc: float
    warming_degc_per_yr: float
    precipitation_mm_per_yr: float
    summer_fraction: float
    relief_m: float
    correlation_length_m: float
    meadow_fraction: float
    lake_fraction: float
    river: bool
    railway_bearing_deg: float
    velocity_scale: float
    thaw_scale: float
    n_thaw: float
    n_freeze: float
    ndvi_amplitude: float


REGIONS: dict[str, Region] = {
    "xidatan": Region(
        name="Xidatan", lon=94.13, lat=35.72, elevation_m=4500.0,
        character="near the northern permafrost limit, warm ice-rich permafrost, "
                  "large thaw settlement",
        maat_degc=-3.9, amplitude_degc=11.6, warming_degc_per_yr=0.045,
        precipitation_mm_per_yr=370.0, summer_fraction=0.84, relief_m=40.0,
        correlation_length_m=300.0, meadow_fraction=0.40, lake_fraction=0.01, river=False,
        railway_bearing_deg=235.0, velocity_scale=1.0, thaw_scale=1.1, n_thaw=1.25,
        n_freeze=0.70, ndvi_amplitude=0.20,
    ),
    "wudaoliang": Region(
        name="Wudaoliang", lon=93.08, lat=35.21, elevation_m=4600.0,
        character="continuous permafrost, wet alpine meadow",
        maat_degc=-5.2, amplitude_degc=12.4, warming_degc_per_yr=0.04,
        precipitation_mm_per_yr=390.0, summer_fraction=0.87, relief_m=25.0,
        correlation_length_m=250.0, meadow_fraction=0.65, lake_fraction=0.02, river=False,
        railway_bearing_deg=195.0, velocity_scale=0.8, thaw_scale=1.25, n_thaw=1.15,
        n_freeze=0.65, ndvi_amplitude=0.35,
    ),
    "beiluhe": Region(
        name="Beiluhe", lon=92.93, lat=34.82, elevation_m=4620.0,
        character="thermokarst lakes next to the embankment",
        maat_degc=-4.2, amplitude_degc=12.0, warming_degc_per_yr=0.045,
        precipitation_mm_per_yr=380.0, summer_fraction=0.86, relief_m=20.0,
        correlation_length_m=200.0, meadow_fraction=0.45, lake_fraction=0.07, river=False,
        railway_bearing_deg=215.0, velocity_scale=0.9, thaw_scale=1.0, n_thaw=1.2,
        n_freeze=0.70, ndvi_amplitude=0.30,
    ),
    "tuotuohe": Region(
        name="Tuotuohe", lon=92.44, lat=34.22, elevation_m=4530.0,
        character="river valley, talik and gravel terraces, mostly stable",
        maat_degc=-4.0, amplitude_degc=12.5, warming_degc_per_yr=0.035,
        precipitation_mm_per_yr=360.0, summer_fraction=0.88, relief_m=50.0,
        correlation_length_m=400.0, meadow_fraction=0.15, lake_fraction=0.0, river=True,
        railway_bearing_deg=200.0, velocity_scale=0.45, thaw_scale=0.6, n_thaw=1.3,
        n_freeze=0.75, ndvi_amplitude=0.15,
    ),
}

#: Land-cover classes: code -> name. Code 0 (water) is masked (NaN displacement).
LAND_COVER = {0: "water", 1: "stable_ground", 2: "meadow", 3: "embankment", 4: "lake_rim"}
WATER, STABLE, MEADOW, EMBANKMENT, LAKE_RIM = 0, 1, 2, 3, 4

#: Parameter ranges per land-cover class before the region scales: each parameter is drawn
#: uniformly within its range through a smooth Gaussian random field. ``decorrelation`` is the
#: base fraction of NaN pixel-dates, ``decorrelation_summer`` what summer adds on top.
CLASS_PARAMETERS: dict[str, dict[str, tuple[float, float] | float]] = {
    "stable_ground": {"velocity": (-0.8, 0.3), "thaw_coeff": (0.02, 0.10), "beta": (0.0, 0.1),
                      "decorrelation": 0.01, "decorrelation_summer": 0.01},
    "meadow": {"velocity": (-10.0, -3.0), "thaw_coeff": (0.35, 0.80), "beta": (0.3, 0.5),
               "decorrelation": 0.02, "decorrelation_summer": 0.08},
    "embankment": {"velocity": (-25.0, -10.0), "thaw_coeff": (0.25, 0.50), "beta": (0.1, 0.3),
                   "decorrelation": 0.005, "decorrelation_summer": 0.005},
    "lake_rim": {"velocity": (-25.0, -10.0), "thaw_coeff": (0.50, 0.90), "beta": (0.3, 0.5),
                 "decorrelation": 0.03, "decorrelation_summer": 0.06},
}


def check_region(region: str) -> Region:
    """The :class:`Region` named ``region`` (case-insensitive).

    Raises
    ------
    ValueError
        If the name is not one of :data:`REGIONS`.
    """
    key = str(region).strip().lower()
    if key not in REGIONS:
        msg = (f"Unknown QTR-sim region {region!r}. Valid regions: {', '.join(REGIONS)} "
               "(or 'all' where several are accepted).")
        raise ValueError(msg)
    return REGIONS[key]


def region_table() -> pd.DataFrame:
    """The regions as a table (one row per region id), for the book and the docs.

    Example
    -------
    >>> float(region_table().loc["beiluhe", "elevation_m"])
    4620.0
    """
    return pd.DataFrame([asdict(r) for r in REGIONS.values()],
                        index=pd.Index(list(REGIONS), name="region"))
