"""``simulate_region`` and ``simulate``: assemble one QTR-sim stack per region."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage, special

from gler.data.degree_days import DEFAULT_SEASON_START, season_index
from gler.data.factors import attach_factors
from gler.data.model import DAILY_DIM, DISPLACEMENT, DISPLACEMENT_ATTRS
from gler.data.qtrsim.climate import CLIMATE, acquisition_dates, daily_climate, summer_weight
from gler.data.qtrsim.deformation import (
    displacement_signal,
    seasonal_coefficients,
    stefan_clock,
)
from gler.data.qtrsim.fields import (
    gaussian_fields,
    grid_xy,
    land_cover,
    power_law_fields,
    railway_geometry,
)
from gler.data.qtrsim.noise import decorrelation_mask, insar_noise, noise_levels
from gler.data.qtrsim.regions import CLASS_PARAMETERS, LAND_COVER, REGIONS, WATER, check_region

logger = logging.getLogger(__name__)

SIMULATOR_VERSION = "1.0"
#: Spectral exponent of the synthetic DEM (power ∝ k^-3.2: rough, hilly terrain).
DEM_EXPONENT = 3.2
#: Relative summer-precipitation change counted as one unit of wetness anomaly, and the clip.
WETNESS_UNIT = 0.25
WETNESS_CLIP = 1.5
EARTH_RADIUS_M = 6371008.8
#: Child seeds in this order; append new components at the end to keep old outputs.
COMPONENTS = ("calendar", "climate", "terrain", "cover", "parameters", "noise", "decorrelation")

DAILY_ATTRS = {
    "air_temperature": {"units": "degC", "long_name": "air temperature (2 m, region mean)",
                        "aggregation": "mean"},
    "ground_surface_temperature": {"units": "degC", "long_name": "ground surface temperature",
                                   "aggregation": "mean"},
    "precipitation": {"units": "mm", "long_name": "precipitation", "aggregation": "sum"},
    "soil_moisture": {"units": "m3 m-3", "long_name": "liquid volumetric soil moisture "
                      "(top 0.1 m)", "aggregation": "mean"},
    "snow_depth": {"units": "m", "long_name": "snow depth", "aggregation": "mean"},
    "land_surface_temperature": {"units": "degC", "long_name": "land surface temperature "
                                 "(satellite-like, noisy)", "aggregation": "mean"},
    "ndvi": {"units": "1", "long_name": "normalised difference vegetation index",
             "aggregation": "mean"},
}

PIXEL_ATTRS = {
    "velocity": {"units": "mm/yr", "long_name": "planted secular line-of-sight velocity"},
    "thaw_coeff": {"units": "mm degC-0.5 day-0.5",
                   "long_name": "planted thaw-settlement coefficient E (settlement "
                                "= E*sqrt(DDT) in an average summer)"},
    "freeze_coeff": {"units": "mm degC-0.5 day-0.5",
                     "long_name": "frost-heave coefficient F for an average summer (E times "
                                  "the mean closure ratio sqrt(DDT_end/DDF_end))"},
    "beta": {"units": "1", "long_name": "sensitivity of E to the summer wetness anomaly "
                                        "(E_y = E*(1 + beta*a_y))"},
    "seasonal_amplitude": {"units": "mm", "long_name": "mean seasonal thaw settlement "
                                                       "(E_y*sqrt(DDT_end) averaged over years)"},
    "temperature_offset": {"units": "degC", "long_name": "lapse-rate temperature correction "
                                                         "added to the region-wide temperatures"},
    "elevation": {"units": "m", "long_name": "synthetic terrain elevation above sea level"},
}


def _check_inputs(size: int, pixel_spacing: float) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        msg = (f"size must be an integer number of pixels >= 8 (the grid is size x size), "
               f"got {size!r}.")
        raise ValueError(msg)
    if not np.isfinite(pixel_spacing) or pixel_spacing <= 0:
        msg = f"pixel_spacing must be a positive number of metres, got {pixel_spacing!r}."
        raise ValueError(msg)


def _season_bounds(first: pd.Timestamp, last: pd.Timestamp,
                   season_start: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day of the freeze–thaw year holding ``first``; last day of the one holding ``last``."""
    month, day = (int(p) for p in season_start.split("-"))
    y0 = int(season_index(pd.DatetimeIndex([first]), season_start)[0])
    y1 = int(season_index(pd.DatetimeIndex([last]), season_start)[0])
    return (pd.Timestamp(year=y0, month=month, day=day),
            pd.Timestamp(year=y1 + 1, month=month, day=day) - pd.Timedelta(days=1))


def _class_parameters(cover: np.ndarray, fields: np.ndarray, region) -> dict[str, np.ndarray]:
    """Per-pixel velocity, thaw coefficient, beta and decorrelation rates from the land cover.

    Each parameter is uniform within its class range: a unit Gaussian field through the normal
    CDF, so it varies smoothly inside a class and stays in range.
    """
    uniform = special.ndtr(fields)
    out = {k: np.full(cover.shape, np.nan) for k in
           ("velocity", "thaw_coeff", "beta", "decorrelation", "decorrelation_summer")}
    scale = {"velocity": region.velocity_scale, "thaw_coeff": region.thaw_scale, "beta": 1.0}
    for code, name in LAND_COVER.items():
        if code == WATER:
            continue
        where = cover == code
        table = CLASS_PARAMETERS[name]
        for i, key in enumerate(("velocity", "thaw_coeff", "beta")):
            lo, hi = table[key]
            out[key][where] = scale[key] * (lo + (hi - lo) * uniform[i][where])
        out["decorrelation"][where] = table["decorrelation"]
        out["decorrelation_summer"][where] = table["decorrelation_summer"]
    return out


def _reference_pixel(cover: np.ndarray) -> tuple[int, int]:
    """The stable-ground pixel farthest from any other class (ties: the first in row order)."""
    candidates = cover == 1 if (cover == 1).any() else cover != WATER
    # A False border makes the grid edge count as "other", keeping the reference inside.
    distance = ndimage.distance_transform_edt(np.pad(candidates, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), cover.shape)
    return int(row), int(col)


def _wetness_anomaly(precipitation: np.ndarray, days: pd.DatetimeIndex, labels: np.ndarray,
                     seasons: np.ndarray, climatology: float) -> np.ndarray:
    """Standardised May–September precipitation anomaly of each freeze–thaw year ``[S]``."""
    summer = (days.month >= 5) & (days.month <= 9)
    totals = np.array([precipitation[(labels == s) & summer].sum() for s in seasons])
    return np.clip((totals / climatology - 1) / WETNESS_UNIT, -WETNESS_CLIP, WETNESS_CLIP)


def _latlon(x: np.ndarray, y: np.ndarray, lon0: float, lat0: float) -> tuple[np.ndarray, ...]:
    """Equidistant cylindrical projection true at ``lat0`` (exact at the grid's few km)."""
    lat = lat0 + np.rad2deg(y / EARTH_RADIUS_M)
    lon = lon0 + np.rad2deg(x / (EARTH_RADIUS_M * np.cos(np.deg2rad(lat0))))
    return lat, lon


def simulate_region(
    region: str,
    *,
    size: int = 128,
    seed: int = 0,
    noise: str = "default",
    noise_scale: float = 1.0,
    start: str = "2017-01-01",
    end: str = "2022-12-31",
    pixel_spacing: float = 30.0,
    gap_probability: float = 0.04,
    season_start: str = DEFAULT_SEASON_START,
) -> xr.Dataset:
    """Simulate one QTR-sim region: InSAR displacement, its noise-free truth and the factors.

    Parameters
    ----------
    region
        One of :data:`REGIONS` (``xidatan``, ``wudaoliang``, ``beiluhe``, ``tuotuohe``).
    size
        Grid size in pixels (``size × size``), at least 8.
    seed
        Seed of every random component (each gets its own child seed).
    noise
        Noise preset, a key of :data:`NOISE_PRESETS` (``none``, ``smooth``, ``default``,
        ``high``).
    noise_scale
        Factor (>= 0) on both noise components of the preset.
    start, end
        Date range of the 12-day acquisitions (the first acquisition is on ``start``).
    pixel_spacing
        Pixel size in metres.
    gap_probability
        Probability that an acquisition is missing (never two in a row).
    season_start
        ``"MM-DD"`` start of the freeze–thaw year (see :mod:`gler.data.degree_days`).

    Returns
    -------
    xarray.Dataset
        A stack (dims ``time``, ``y``, ``x``, ``day``, ``season``, ``railway_vertex``) as
        described in :mod:`gler.data.qtrsim`.

    Raises
    ------
    ValueError
        For an unknown region or noise preset, ``size < 8``, a non-positive spacing, a negative
        noise scale, or a date range with fewer than two acquisitions.

    Example
    -------
    >>> ds = simulate_region("beiluhe", size=16, end="2018-12-31")
    >>> ds["displacement"].dims, ds.attrs["region"]
    (('time', 'y', 'x'), 'beiluhe')
    """
    info = check_region(region)
    key = str(region).strip().lower()
    _check_inputs(size, pixel_spacing)
    levels = noise_levels(noise, noise_scale)
    if not 0 <= gap_probability < 1:
        msg = f"gap_probability must be in [0, 1), got {gap_probability!r}."
        raise ValueError(msg)
    root = np.random.SeedSequence([int(seed), zlib.crc32(key.encode())])
    rngs = dict(zip(COMPONENTS, (np.random.default_rng(s) for s in root.spawn(len(COMPONENTS))),
                    strict=True))

    times = acquisition_dates(start, end, rngs["calendar"], gap_probability)
    end_day = pd.Timestamp(end).normalize()
    # Daily series from the freeze–thaw year before the first interval to the end of the last
    # year (needed for the closure); the stored daily factors stop at `end`.
    first_interval = times[1] - times[0]
    day0, day1 = _season_bounds(times[0] - first_interval, end_day, season_start)
    days = pd.date_range(day0, day1, freq="D").as_unit("ns")
    weather = daily_climate(info, days, rngs["climate"])

    x, y = grid_xy(size, pixel_spacing)
    dem_z = power_law_fields(rngs["terrain"], 1, size, DEM_EXPONENT)[0]
    elevation = info.elevation_m + info.relief_m * dem_z
    rail_distance, rail_x, rail_y = railway_geometry(size, pixel_spacing, info, rngs["cover"])
    cover = land_cover(size=size, spacing=pixel_spacing, region=info, dem_z=dem_z,
                       rail_distance=rail_distance, rng=rngs["cover"])
    fields = gaussian_fields(rngs["parameters"], 4, size,
                             info.correlation_length_m / pixel_spacing)
    params = _class_parameters(cover, fields[:3], info)
    ref_row, ref_col = _reference_pixel(cover)
    for name in ("velocity", "thaw_coeff", "beta"):
        # The reference is a benchmark assumed motionless, so relative = absolute motion.
        params[name][ref_row, ref_col] = 0.0
    water = (cover == WATER).ravel()
    land_value = {k: np.where(water, 0.0, v.ravel()) for k, v in params.items()}

    offsets = CLIMATE["lapse_rate_degc_per_km"] / 1000.0 * (elevation - info.elevation_m)
    sample = days.get_indexer(times)
    clock = stefan_clock(weather["ground_surface_temperature"], days, offsets.ravel(), sample,
                         season_start)
    labels = season_index(days, season_start)
    anomaly = _wetness_anomaly(weather["precipitation"], days, labels, clock["seasons"],
                               weather["summer_precipitation_climatology"])
    e_year, f_year, ratio = seasonal_coefficients(
        land_value["thaw_coeff"], land_value["beta"], anomaly, clock["ddt_end"],
        clock["ddf_end"])
    years = (times - times[0]).days.to_numpy() / 365.25
    clean = displacement_signal(velocity=land_value["velocity"], e_year=e_year, f_year=f_year,
                                clock=clock, years=years)

    reference = ref_row * size + ref_col
    summer = summer_weight(times)
    noise_values = insar_noise(rng=rngs["noise"], n_times=len(times), size=size, valid=~water,
                               reference=reference, summer=summer, aps_mm=levels["aps_mm"],
                               pixel_mm=levels["pixel_mm"])
    coherence = np.exp(0.6 * fields[3].ravel() - 0.18)
    lost = decorrelation_mask(rng=rngs["decorrelation"], base=land_value["decorrelation"],
                              extra_summer=land_value["decorrelation_summer"],
                              coherence=coherence, summer=summer, reference=reference)
    clean[:, water] = np.nan
    observed = np.where(lost, np.nan, clean + noise_values)
    logger.info("%s: %d acquisitions, %.2f %% of land pixel-dates decorrelated", key,
                len(times), 100 * lost[:, ~water].mean())

    stored = days <= end_day
    daily = xr.Dataset(
        {name: ("time", weather[name][stored].astype(np.float32), attrs)
         for name, attrs in DAILY_ATTRS.items()},
        coords={"time": days[stored]},
    )

    grid = (size, size)
    mean_ratio = ratio.mean(axis=1)
    derived = {
        "velocity": land_value["velocity"],
        "thaw_coeff": land_value["thaw_coeff"],
        "freeze_coeff": land_value["thaw_coeff"] * mean_ratio,
        "beta": land_value["beta"],
        "seasonal_amplitude": (e_year * np.sqrt(clock["ddt_end"])).mean(axis=1),
    }
    lat, lon = _latlon(*np.meshgrid(x, y), info.lon, info.lat)
    rail_lat, rail_lon = _latlon(rail_x, rail_y, info.lon, info.lat)
    data = {
        DISPLACEMENT: (("time", "y", "x"), observed.reshape(-1, *grid).astype(np.float32),
                       DISPLACEMENT_ATTRS),
        "displacement_clean": (("time", "y", "x"), clean.reshape(-1, *grid).astype(np.float32),
                               {**DISPLACEMENT_ATTRS,
                                "long_name": "noise-free cumulative surface displacement"}),
    }
    for name, values in derived.items():
        data[name] = (("y", "x"), np.where(water, np.nan, values).reshape(grid)
                      .astype(np.float32), PIXEL_ATTRS[name])
    data["temperature_offset"] = (("y", "x"), offsets.astype(np.float32),
                                  PIXEL_ATTRS["temperature_offset"])
    data["elevation"] = (("y", "x"), elevation.astype(np.float32), PIXEL_ATTRS["elevation"])
    data["land_cover"] = (("y", "x"), cover, {
        "long_name": "land-cover class", "flag_values": np.array(list(LAND_COVER), np.int8),
        "flag_meanings": " ".join(LAND_COVER.values())})
    data["mask"] = (("y", "x"), (~water).reshape(grid).astype(np.int8), {
        "long_name": "valid (land) pixel", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "masked_water valid"})
    data["wetness_anomaly"] = ("season", anomaly.astype(np.float32), {
        "units": "1", "long_name": "standardised May-September precipitation anomaly a_y "
        f"(relative anomaly / {WETNESS_UNIT}, clipped to +-{WETNESS_CLIP})"})
    for name, values, attrs in (
        ("railway_x", rail_x, {"units": "m", "long_name": "railway centreline easting"}),
        ("railway_y", rail_y, {"units": "m", "long_name": "railway centreline northing"}),
        ("railway_lon", rail_lon, {"units": "degrees_east",
                                   "long_name": "railway centreline longitude"}),
        ("railway_lat", rail_lat, {"units": "degrees_north",
                                   "long_name": "railway centreline latitude"}),
    ):
        data[name] = ("railway_vertex", values.astype(np.float64), attrs)

    ds = xr.Dataset(
        data,
        coords={
            "time": ("time", times.values, {"long_name": "acquisition date"}),
            "y": ("y", y, {"units": "m", "long_name": "northing from the region centre",
                           "standard_name": "projection_y_coordinate"}),
            "x": ("x", x, {"units": "m", "long_name": "easting from the region centre",
                           "standard_name": "projection_x_coordinate"}),
            "lat": (("y", "x"), lat, {"units": "degrees_north", "long_name": "latitude",
                                      "standard_name": "latitude"}),
            "lon": (("y", "x"), lon, {"units": "degrees_east", "long_name": "longitude",
                                      "standard_name": "longitude"}),
            "season": ("season", clock["seasons"].astype(np.int32),
                       {"long_name": f"freeze-thaw year starting {season_start} of this year"}),
        },
    )
    ds = attach_factors(ds, daily, keep_daily=True, season_start=season_start)
    ds[DAILY_DIM].attrs["long_name"] = "day of the daily factors"
    ds.attrs = {
        "title": f"QTR-sim {info.name}: simulated Sentinel-1 InSAR over permafrost",
        "Conventions": "CF-1.8",
        "source": f"gler.data.qtrsim simulator version {SIMULATOR_VERSION}",
        "simulator_version": SIMULATOR_VERSION,
        "region": key,
        "region_name": info.name,
        "character": info.character,
        "seed": int(seed),
        "noise": noise,
        "noise_scale": float(noise_scale),
        "noise_sigma_mm": levels["total_mm"],
        "aps_sigma_mm": levels["aps_mm"],
        "pixel_sigma_mm": levels["pixel_mm"],
        "reference_pixel_row": ref_row,
        "reference_pixel_col": ref_col,
        "reference_x_m": float(x[ref_col]),
        "reference_y_m": float(y[ref_row]),
        "pixel_spacing_m": float(pixel_spacing),
        "season_start": season_start,
        "crs": (f"+proj=eqc +lat_ts={info.lat} +lat_0={info.lat} +lon_0={info.lon} "
                f"+R={EARTH_RADIUS_M} +units=m"),
        "parameters": json.dumps({
            "region": asdict(info), "classes": CLASS_PARAMETERS, "climate": CLIMATE,
            "noise": levels, "wetness_unit": WETNESS_UNIT, "wetness_clip": WETNESS_CLIP,
            "dem_exponent": DEM_EXPONENT}, sort_keys=True),
    }
    return ds


def _region_list(regions: str | Iterable[str]) -> list[str]:
    if isinstance(regions, str):
        if regions.strip().lower() == "all":
            return list(REGIONS)
        regions = [regions]
    names = [str(r).strip().lower() for r in regions]
    for name in names:
        check_region(name)
    if not names:
        msg = f"No region given; pass 'all' or some of {', '.join(REGIONS)}."
        raise ValueError(msg)
    return names


def simulate(regions: str | Iterable[str] = "all", **kwargs) -> dict[str, xr.Dataset]:
    """Simulate several regions with the same settings (keyword arguments of
    :func:`simulate_region`); each region gets independent random draws from ``seed``.

    Returns
    -------
    dict
        ``{region id: Dataset}`` in the order of :data:`REGIONS` (or as given).

    Example
    -------
    >>> stacks = simulate(["xidatan", "tuotuohe"], size=8, end="2017-06-30")
    >>> list(stacks)
    ['xidatan', 'tuotuohe']
    """
    return {name: simulate_region(name, **kwargs) for name in _region_list(regions)}


def write_simulation(ds: xr.Dataset, path: str | Path, *, format: str = "netcdf") -> Path:
    """Write a simulated stack as NetCDF-4 (compressed) or Zarr; the bytes depend only on
    the data (no timestamps are written).

    Raises
    ------
    ValueError
        If ``format`` is neither ``"netcdf"`` nor ``"zarr"``.
    """
    path = Path(path)
    if format == "netcdf":
        encoding = {name: {"zlib": True, "complevel": 4} for name, var in ds.data_vars.items()
                    if var.dtype.kind == "f"}
        ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)
    elif format == "zarr":
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        msg = f"Unknown output format {format!r}; use 'netcdf' or 'zarr'."
        raise ValueError(msg)
    return path
