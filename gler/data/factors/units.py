"""Factor names and units: the data model's factors, ERA5-Land's short names, conversions."""

from __future__ import annotations

import numpy as np

#: The data model's factors: (units, long_name, aggregation).
KNOWN_FACTORS = {
    "air_temperature": ("degC", "2 m air temperature", "mean"),
    "ground_surface_temperature": ("degC", "ground surface temperature", "mean"),
    "land_surface_temperature": ("degC", "land surface temperature", "mean"),
    "precipitation": ("mm", "total precipitation (daily total)", "sum"),
    "soil_moisture": ("m3 m-3", "volumetric soil water, top layer", "mean"),
    "snow_depth": ("m", "snow depth", "mean"),
    "ndvi": ("1", "normalised difference vegetation index", "mean"),
}

#: ERA5(-Land) short names -> gler names. The skin temperature stands in for the ground surface
#: temperature (ERA5-Land has no separate ground-surface variable); ``sd`` is the snow water
#: equivalent, not the snow depth (``sde``).
ERA5_NAMES = {
    "t2m": "air_temperature",
    "skt": "ground_surface_temperature",
    "tp": "precipitation",
    "swvl1": "soil_moisture",
    "sde": "snow_depth",
    "sd": "snow_water_equivalent",
    "e": "evaporation",
    "src": "skin_reservoir_content",
    **{f"stl{i}": f"soil_temperature_layer{i}" for i in range(1, 5)},
    **{f"swvl{i}": f"soil_moisture_layer{i}" for i in range(2, 5)},
}
#: Units ERA5-Land uses when a file does not say.
ERA5_UNITS = {"t2m": "K", "skt": "K", "tp": "m", "sde": "m", "sd": "m", "e": "m", "src": "m",
              **{f"stl{i}": "K" for i in range(1, 5)},
              **{f"swvl{i}": "m3 m-3" for i in range(1, 5)}}
#: ERA5-Land variables accumulated from 00 UTC in the hourly product.
ERA5_ACCUMULATED = ("tp", "e")

# Unit spellings -> canonical unit. Rates per day of a daily series are that day's total.
_SPELLINGS = {
    "k": "K", "kelvin": "K", "degc": "degC", "°c": "degC", "c": "degC", "deg_c": "degC",
    "celsius": "degC", "degrees_celsius": "degC",
    "m": "m", "metre": "m", "meter": "m", "metres": "m", "meters": "m", "m/day": "m",
    "m day-1": "m", "m d-1": "m", "m of water equivalent": "m",
    "mm": "mm", "mm/day": "mm", "mm day-1": "mm", "mm d-1": "mm", "cm": "cm",
    "m3 m-3": "m3 m-3", "m**3 m**-3": "m3 m-3", "m3/m3": "m3 m-3", "m^3/m^3": "m3 m-3",
    "1": "1", "": "1",
}
# (from, to) -> (scale, offset)
_CONVERSIONS = {
    ("K", "degC"): (1.0, -273.15), ("m", "mm"): (1000.0, 0.0), ("cm", "mm"): (10.0, 0.0),
    ("mm", "m"): (0.001, 0.0), ("cm", "m"): (0.01, 0.0),
}


def to_factor_units(values: np.ndarray, units: str, name: str) -> tuple[np.ndarray, str]:
    """Convert a factor to the data model's units (K -> °C, precipitation m -> mm, ...).

    Parameters
    ----------
    values
        The factor values.
    units
        Their units (ERA5 and CF spellings are understood, e.g. ``"K"``, ``"m**3 m**-3"``).
    name
        The factor's gler name: the data-model factors get the contract's units, other factors
        keep theirs (temperatures in K become °C).

    Returns
    -------
    values, units
        Converted values (float64) and their canonical units.

    Raises
    ------
    ValueError
        If the units are unknown or cannot be converted to the factor's units.
    """
    canonical = _SPELLINGS.get(str(units).strip().lower())
    target = KNOWN_FACTORS[name][0] if name in KNOWN_FACTORS else None
    if canonical is None:
        if target is None:
            return np.asarray(values, dtype=np.float64), str(units)
        msg = (f"Unknown units {units!r} for factor {name!r}; expected {target} or a unit "
               f"convertible to it ({', '.join(sorted(set(_SPELLINGS.values())))}).")
        raise ValueError(msg)
    if target is None:
        target = "degC" if canonical == "K" else canonical
    values = np.asarray(values, dtype=np.float64)
    if canonical == target:
        return values, target
    if (canonical, target) not in _CONVERSIONS:
        msg = (f"Factor {name!r} is in {units!r}, which cannot be converted to {target!r}. "
               "Check the units= you gave or the file's units attribute.")
        raise ValueError(msg)
    scale, offset = _CONVERSIONS[canonical, target]
    return values * scale + offset, target


def factor_attrs(name: str, units: str, **extra: str) -> dict[str, str]:
    """CF-style attributes of a factor: ``units``, ``long_name``, ``aggregation``."""
    _, long_name, aggregation = KNOWN_FACTORS.get(
        name, (units, name.replace("_", " "), "sum" if name == "evaporation" else "mean"))
    return {"units": units, "long_name": long_name, "aggregation": aggregation, **extra}

