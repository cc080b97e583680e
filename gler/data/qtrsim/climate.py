"""Acquisition calendar and daily, region-wide environmental factors (like reanalysis).

All series are daily and one value per region; the per-pixel lapse-rate correction is applied in
the deformation (:mod:`gler.data.qtrsim.deformation`). Sequential recursions (weather Markov
chain, snow and soil buckets) loop over days, never over pixels; filters use ``lfilter``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, signal

from gler.data.qtrsim.regions import Region

REVISIT_DAYS = 12
#: Reference date of the warming trend and of MAAT (the trend is 0 there).
CLIMATE_EPOCH = pd.Timestamp("2017-01-01")
DAYS_PER_YEAR = 365.25

#: Fixed climate constants shared by the regions (physical meaning and ranges in the module doc
#: of :mod:`gler.data.qtrsim`).
CLIMATE = {
    "warmest_day_of_year": 205.0,  # ~24 July
    "anomaly_sigma_degc": 3.0,
    "anomaly_lag1": 0.8,
    "gst_time_constant_days": 21.0,
    "wettest_day_of_year": 200.0,
    "wet_probability_summer": 0.55,
    "wet_probability_winter": 0.06,
    "wet_persistence": 0.3,
    "gamma_shape": 1.0,
    "interannual_precip_cv": 0.08,
    "snow_threshold_degc": 0.5,
    "melt_factor_mm_per_degc_day": 3.0,
    "sublimation_mm_per_day": 0.4,
    "snow_density_kg_m3": 250.0,
    "soil_layer_mm": 100.0,
    "theta_residual": 0.05,
    "theta_saturation": 0.42,
    "theta_field_capacity": 0.30,
    "pet_mm_per_degc_day": 0.25,
    "drainage_per_day": 0.1,
    "frozen_liquid_fraction": 0.15,
    "lapse_rate_degc_per_km": -6.0,
}


def summer_weight(days: pd.DatetimeIndex) -> np.ndarray:
    """0..1 bump peaking in late July, 0 from October to April (vegetation, wet atmosphere)."""
    doy = days.day_of_year.to_numpy()
    phase = 2 * np.pi * (doy - CLIMATE["warmest_day_of_year"]) / DAYS_PER_YEAR
    return np.maximum(np.cos(phase), 0.0) ** 2


def acquisition_dates(start: str | pd.Timestamp, end: str | pd.Timestamp,
                      rng: np.random.Generator, gap_probability: float = 0.04) -> pd.DatetimeIndex:
    """Sentinel-1 12-day dates from ``start`` to ``end`` with occasional 24-day gaps.

    Each interior acquisition is missing with probability ``gap_probability``, but never two in
    a row (so gaps are 24 days at most) and never the first or last.

    Raises
    ------
    ValueError
        If the range holds fewer than two acquisitions.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    dates = pd.date_range(start, end, freq=f"{REVISIT_DAYS}D") if end >= start else []
    if len(dates) < 2:
        msg = (f"The date range {start.date()} to {end.date()} holds {len(dates)} acquisition(s) "
               f"at the {REVISIT_DAYS}-day revisit; at least 2 are needed. Choose end at least "
               f"{REVISIT_DAYS} days after start.")
        raise ValueError(msg)
    drop = rng.random(len(dates)) < gap_probability
    drop[[0, -1]] = False
    drop[1:] &= ~drop[:-1].copy()
    return pd.DatetimeIndex(dates[~drop]).as_unit("ns")


def _ar1(rng: np.random.Generator, n: int, sigma: float, lag1: float) -> np.ndarray:
    """Stationary AR(1) series of length ``n`` (std ``sigma``, lag-1 correlation ``lag1``)."""
    shocks = rng.standard_normal(n) * sigma * np.sqrt(1 - lag1**2)
    start = rng.standard_normal() * sigma
    return signal.lfilter([1.0], [1.0, -lag1], shocks, zi=[lag1 * start])[0]


def _precipitation_shape(region: Region) -> tuple[np.ndarray, float]:
    """Expected daily precipitation by day of year (1..366, mm) and the concentration used.

    The shape is a von Mises bump around the wettest day whose concentration gives the region's
    May–September fraction; it is scaled to the annual total.
    """
    doy = np.arange(1, 367)
    phase = 2 * np.pi * (doy - CLIMATE["wettest_day_of_year"]) / DAYS_PER_YEAR
    summer = (doy >= 121) & (doy <= 273)

    def fraction(kappa: float) -> float:
        g = np.exp(kappa * np.cos(phase[:365]))
        return g[summer[:365]].sum() / g.sum() - region.summer_fraction

    kappa = optimize.brentq(fraction, 0.0, 20.0)
    g = np.exp(kappa * np.cos(phase))
    return region.precipitation_mm_per_yr * g / g[:365].sum(), kappa


def daily_climate(region: Region, days: pd.DatetimeIndex, rng: np.random.Generator) -> dict:
    """Daily factors over ``days`` (consecutive) and the summer wetness anomaly per season.

    Returns
    -------
    dict
        ``air_temperature``, ``ground_surface_temperature``, ``land_surface_temperature`` (°C),
        ``precipitation`` (mm/day), ``soil_moisture`` (m3 m-3), ``snow_depth`` (m), ``ndvi`` (1)
        as float64 arrays ``[D]``, and ``summer_precipitation_climatology`` (mm, May–September
        expected total).
    """
    c = CLIMATE
    n = len(days)
    t_rng, p_rng, o_rng = rng.spawn(3)
    doy = days.day_of_year.to_numpy()
    years = (days - CLIMATE_EPOCH).days.to_numpy() / DAYS_PER_YEAR

    seasonal = region.amplitude_degc * np.cos(
        2 * np.pi * (doy - c["warmest_day_of_year"]) / DAYS_PER_YEAR)
    air = (region.maat_degc + seasonal + region.warming_degc_per_yr * years
           + _ar1(t_rng, n, c["anomaly_sigma_degc"], c["anomaly_lag1"]))

    # Ground surface: n-factors (vegetation/snow) then an exponential lag-and-damping filter.
    forcing = np.where(air > 0, region.n_thaw * air, region.n_freeze * air)
    alpha = 1.0 / c["gst_time_constant_days"]
    gst = signal.lfilter([alpha], [1.0, alpha - 1.0], forcing,
                         zi=[(1 - alpha) * forcing[:30].mean()])[0]

    # Precipitation: two-state Markov chain (stationary wet probability pi, lag-1 persistence)
    # and gamma amounts whose mean makes the expected daily total follow the seasonal shape.
    expected, _ = _precipitation_shape(region)
    expected_day = expected[doy - 1]
    weight = (expected_day - expected.min()) / (expected.max() - expected.min())
    pi = c["wet_probability_winter"] + (
        c["wet_probability_summer"] - c["wet_probability_winter"]) * weight
    p_wet_after_wet = pi + c["wet_persistence"] * (1 - pi)
    p_wet_after_dry = pi * (1 - c["wet_persistence"])
    u = p_rng.random(n)
    wet = np.zeros(n, dtype=bool)
    wet[0] = u[0] < pi[0]
    for d in range(1, n):
        wet[d] = u[d] < (p_wet_after_wet[d] if wet[d - 1] else p_wet_after_dry[d])
    shape = c["gamma_shape"]
    amounts = p_rng.gamma(shape, 1.0, n) * (expected_day / pi) / shape
    cv = c["interannual_precip_cv"]
    year_index = days.year.to_numpy() - days.year[0]
    year_factor = np.exp(p_rng.normal(-0.5 * cv**2, cv, year_index.max() + 1))[year_index]
    precipitation = np.where(wet, amounts, 0.0) * year_factor

    # Snow (SWE, mm) and soil water (mm in the top layer); liquid fraction drops when frozen.
    snowfall = np.where(air < c["snow_threshold_degc"], precipitation, 0.0)
    rain = precipitation - snowfall
    potential_melt = c["melt_factor_mm_per_degc_day"] * np.maximum(air, 0.0)
    pet = c["pet_mm_per_degc_day"] * np.maximum(air, 0.0)
    layer = c["soil_layer_mm"]
    w_res, w_sat, w_fc = (c[k] * layer for k in
                          ("theta_residual", "theta_saturation", "theta_field_capacity"))
    swe = np.zeros(n)
    water = np.zeros(n)
    s_prev, w_prev = 0.0, 0.5 * (w_res + w_fc)
    for d in range(n):
        s_now = s_prev + snowfall[d]
        melt = min(s_now, potential_melt[d])
        s_now = max(s_now - melt - c["sublimation_mm_per_day"], 0.0)
        thawed = gst[d] > 0
        infiltration = (rain[d] + melt) if thawed else 0.0
        et = pet[d] * (w_prev - w_res) / (w_sat - w_res) if thawed else 0.0
        drain = c["drainage_per_day"] * max(w_prev - w_fc, 0.0) if thawed else 0.0
        w_prev = min(max(w_prev + infiltration - et - drain, w_res), w_sat)
        s_prev = s_now
        swe[d], water[d] = s_now, w_prev
    liquid = np.clip(1 + gst / 2.0, c["frozen_liquid_fraction"], 1.0)
    soil_moisture = (w_res + (water - w_res) * liquid) / layer
    snow_depth = swe / c["snow_density_kg_m3"]  # mm water * 1000/rho mm snow -> m

    summer = summer_weight(days)
    lst = gst + 2.0 + 4.0 * summer + o_rng.normal(0.0, 2.0, n)
    ndvi = np.clip(0.08 + region.ndvi_amplitude * summer + o_rng.normal(0.0, 0.02, n), -0.1, 1.0)
    summer_days = (np.arange(1, 367) >= 121) & (np.arange(1, 367) <= 273)
    return {
        "air_temperature": air,
        "ground_surface_temperature": gst,
        "precipitation": precipitation,
        "soil_moisture": soil_moisture,
        "snow_depth": snow_depth,
        "land_surface_temperature": lst,
        "ndvi": ndvi,
        "summer_precipitation_climatology": float(expected[summer_days].sum()),
    }
