"""QTR-sim: a simulated Sentinel-1 InSAR permafrost benchmark along the Qinghai–Tibet Railway.

The paper's InSAR data are not public; QTR-sim is a physically based stand-in that keeps the
noise-free truth (``displacement_clean``), so every forecast can be set against the noise floor.
Spec: ``shared/design/qtr-sim.md``. Entry points: :func:`simulate_region`, :func:`simulate`,
:data:`REGIONS`, :data:`NOISE_PRESETS`, :func:`railway_line`, :func:`region_table` and the
command ``gler simulate --region NAME|all --out PATH``.

Model, in order of computation (modules of this package)
---------------------------------------------------------
1. Calendar (``climate``): 12-day acquisitions from ``start``; each interior one is missing with
   probability 0.04, never two in a row (24-day gaps).
2. Daily, region-wide factors (``climate``), like reanalysis, from the start of the freeze–thaw
   year (1 April) before the first acquisition interval: air temperature
   ``MAAT + A·cos(2π(doy − 205)/365.25) + AR(1) + w·(years since 2017)``; ground-surface
   temperature = air temperature times n-factors, lagged and damped by an exponential filter;
   precipitation from a wet/dry Markov chain with gamma amounts, seasonal shape fitted to the
   May–September fraction, a per-year factor for interannual variability; snow (degree-day melt,
   sublimation) and a soil bucket (liquid water only, so it drops when the ground freezes);
   satellite-like land-surface temperature and NDVI. Stored as ``<name>_daily`` on ``day`` and
   aggregated per acquisition by :func:`gler.data.align.align_factors` (dims ``("time",)``).
3. Terrain and land cover (``fields``): a fractal DEM (power spectrum ∝ k^-3.2), a gently curved
   railway embankment at the region's bearing, lakes (thresholded smooth field), a river at
   Tuotuohe, lake rims, wet meadow in the wettest/lowest ground, stable ground elsewhere.
4. Per-pixel parameters: uniform within each class range (table below) through smooth
   Gaussian random fields (FFT, correlation length 200–400 m), scaled per region; the reference
   pixel (the stable pixel farthest from any other class) is a motionless benchmark.
5. Deformation (``deformation``): ``d = v·(t − t0) − E_y·sqrt(DDT) + F_y·sqrt(DDF*)`` per
   freeze–thaw year with the pixel's ground-surface temperature (region value + lapse-rate
   offset, stored as ``temperature_offset``); ``E_y = E·(1 + β·a_y)`` with ``a_y`` the
   standardised May–September precipitation anomaly (``wetness_anomaly``); ``DDF*`` counts from
   the end of the thaw. Continuity: ``F_y`` is chosen **per year from the closure**
   ``s(year end) = 0`` (not by carrying the offset), so there is no jump at the season start and
   the net yearly change is the secular trend alone.
6. Noise (``noise``): atmospheric phase screen (power spectrum ∝ k^-8/3, referenced, stronger
   in summer) plus white pixel noise; zero at the first date and the reference pixel;
   ``noise_sigma_mm`` is the RMS of ``displacement − displacement_clean`` on later dates.
   Decorrelation: a few percent of pixel-dates set to NaN, more in summer on meadow/lake rims.

Parameters (physical meaning, range)
------------------------------------
=============================  ====================  =============================================
parameter                      range                 meaning
=============================  ====================  =============================================
``maat_degc``                  −3.9 … −5.2 °C        mean annual air temperature (spec −3 … −6)
``amplitude_degc``             11.6 … 12.5 °C        annual air-temperature amplitude (11 … 13)
warmest day                    day 205 (~24 July)    phase of the annual cycle
AR(1) anomaly                  σ 3 °C, lag-1 0.8     synoptic weather anomalies
``warming_degc_per_yr``        0.035 … 0.045 °C/yr   climate warming since 2017
lapse rate                     −6 °C/km              per-pixel correction from the DEM
``n_thaw`` / ``n_freeze``      1.15–1.3 / 0.65–0.75  surface n-factors (bare/vegetated; snow)
GST time constant              21 days               lag/damping of ground vs air (2–4 weeks)
``precipitation_mm_per_yr``    360 … 390 mm          annual total (spec 300 … 450)
``summer_fraction``            0.84 … 0.88           share in May–September (spec 0.8 … 0.9)
wet-day probability            0.06 winter, 0.55     Markov chain, persistence 0.3, gamma shape 1
                               summer
interannual precip. CV         0.08 (+ sampling)     per-year wetness factor
snow                           threshold 0.5 °C,     melt 3 mm/°C/day, sublimation 0.4 mm/day,
                               density 250 kg/m3
soil bucket                    0.1 m; θ 0.05–0.42    field capacity 0.30, PET 0.25 mm/°C/day,
                                                     liquid fraction 0.15 when frozen
``relief_m``                   20 … 50 m             std of the synthetic DEM
``correlation_length_m``       200 … 400 m           smoothness of the parameter fields
velocity ``v``                 stable −0.8…0.3;      mm/yr, before ``velocity_scale`` (0.45–1.0)
                               meadow −10…−3;
                               embankment and lake
                               rim −25…−10
thaw coefficient ``E``         stable 0.02–0.10;     mm/sqrt(°C·day), before ``thaw_scale``
                               meadow 0.35–0.80;     (0.6–1.25); seasonal amplitude 1–35 mm
                               embankment 0.25–0.50;
                               lake rim 0.50–0.90
``beta``                       0 … 0.5               sensitivity of E to summer wetness
wetness anomaly ``a_y``        −1.5 … 1.5            (summer precip / climatology − 1) / 0.25
APS / pixel noise              default 1.5 / 0.4 mm  presets: none 0/0, smooth 0.2/0.1 (total
                                                     0.22 mm, filtered SBAS), high 3.0/1.0;
                                                     times ``noise_scale``
decorrelation                  0.5 … 3 % + up to     NaN fraction per class, extra in summer
                               8 % in summer
=============================  ====================  =============================================

The full table of each run is in the dataset attribute ``parameters`` (JSON); the region table
is :func:`region_table`.

Performance
-----------
Measured on the project's 2-core CPU VM (AMD EPYC, shared), one core
(``OMP_NUM_THREADS=1 taskset -c 0``): one 128 × 128 region with 180 dates in 3–5 s, all four in
about 9 s; ``gler simulate --region all --out qtr-sim`` (including compressed NetCDF, ~21 MB per
region) in about 25 s wall time.

Example
-------
>>> from gler.data.qtrsim import simulate_region
>>> ds = simulate_region("beiluhe", size=16, end="2018-12-31", noise="smooth")
>>> float(ds.attrs["noise_sigma_mm"]) < 0.3
True
"""

from __future__ import annotations

from gler.data.geography import railway_line, railway_stations
from gler.data.qtrsim.core import simulate, simulate_region, write_simulation
from gler.data.qtrsim.noise import NOISE_PRESETS
from gler.data.qtrsim.regions import CLASS_PARAMETERS, LAND_COVER, REGIONS, Region, region_table

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
