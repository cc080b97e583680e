"""The real Menyuan frozen-ground site: 12-day InSAR displacement and daily ERA5-Land factors.

One point (101.9 °E, 37.6 °N) in Menyuan, Qinghai, on the north-eastern Tibetan Plateau, from the
public repository TTTTTAYLOR/PIML_FrozenSoil_Prediction (MIT), fetched and verified through
``data_manifest.yaml`` (dataset ``menyuan``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.factors import attach_factors, open_factors
from gler.data.model import DAILY_DIM, DISPLACEMENT, DISPLACEMENT_ATTRS
from gler.data.registry import dataset_info, fetch

logger = logging.getLogger(__name__)

LON, LAT = 101.9, 37.6
LABELLINGS = ("alldata2", "alldata")
#: Days between the date labels of the two files for the same factor values.
LABEL_SHIFT_DAYS = 730
#: Slope changes smaller than this (mm/day per day) are rounding of the interpolated series.
NODE_TOLERANCE = 1e-6

#: Column of the published files -> (gler name, units in the file).
COLUMNS = {
    "T2mMean": ("air_temperature", "degC"),
    "SKTMean": ("ground_surface_temperature", "degC"),
    "TPMean": ("precipitation", "m/day"),
    "swl1Mean": ("soil_moisture", "m3 m-3"),
    **{f"stl{i}Mean": (f"soil_temperature_layer{i}", "degC") for i in range(1, 5)},
    **{f"swl{i}Mean": (f"soil_moisture_layer{i}", "m3 m-3") for i in range(2, 5)},
    "srcMean": ("skin_reservoir_content", "m"),
    "e": ("evaporation", "m"),
}


def slope_change_nodes(values: np.ndarray, tolerance: float = NODE_TOLERANCE) -> np.ndarray:
    """Indices of the nodes of a piecewise-linear daily series: both ends and every kink.

    A series interpolated linearly between acquisitions has a constant slope between them, so
    its second difference is zero (up to rounding) except at the acquisitions. Where an
    acquisition is missing the interpolation spans two intervals and no node is reported: only
    observed dates are returned.

    Example
    -------
    >>> slope_change_nodes(np.array([0.0, 1, 2, 3, 2, 1, 0, 2, 4])).tolist()
    [0, 3, 6, 8]
    """
    kinks = np.flatnonzero(np.abs(np.diff(values, 2)) > tolerance) + 1
    return np.r_[0, kinks, len(values) - 1]


def _daily_factors(path: Path, columns: Sequence[str]) -> xr.Dataset:
    wanted = [c for c in COLUMNS if c in columns]
    return open_factors(path, format="csv", columns=wanted,
                        rename={c: COLUMNS[c][0] for c in wanted},
                        units={COLUMNS[c][0]: COLUMNS[c][1] for c in wanted})


def load_menyuan(
    *,
    factor_labels: str = "alldata2",
    paths: Sequence[str | Path] | None = None,
    season_start: str = "04-01",
) -> xr.Dataset:
    """Menyuan displacement at its 12-day nodes, with daily and per-acquisition factors.

    Parameters
    ----------
    factor_labels
        Which file's date labels to trust for the environmental factors (see Notes):
        ``"alldata2"`` (default; the file published with the displacement) or ``"alldata"``
        (the factors occurred two years later than alldata2 says).
    paths
        The two files ``[alldata2, alldata]`` (default: :func:`gler.data.registry.fetch`).
    season_start
        Start of the freeze–thaw year for the degree-days.

    Returns
    -------
    xarray.Dataset
        ``displacement`` (time, point) float32 mm with one point ``"menyuan"`` and ``lat``/``lon``;
        ``time`` = the acquisition nodes; factors aggregated per acquisition interval (see
        :func:`gler.data.align.align_factors`) with degree-days from the skin temperature; the
        daily factors on dim ``day`` named ``<factor>_daily``.

    Raises
    ------
    ValueError
        If ``factor_labels`` is not one of :data:`LABELLINGS`.

    Notes
    -----
    *Nodes.* ``Mean_Value`` is daily but piecewise linear: a Sentinel-1 12-day series
    interpolated to days. The observations are kept: the first and last day and every day where
    the slope changes (:func:`slope_change_nodes`; 143 dates from 2017-03-25 to 2021-12-29, all
    on one 12-day grid, three acquisitions missing).

    *Factors.* ERA5-Land columns become data-model factors: ``T2mMean`` air_temperature (°C),
    ``SKTMean`` ground_surface_temperature (°C; the skin temperature is our proxy for the
    ground-surface temperature, which ERA5-Land does not provide), ``TPMean`` precipitation
    (m/day -> mm per day), ``swl1Mean`` soil_moisture (m³ m⁻³), and as extra factors
    ``stlNMean`` soil_temperature_layerN (°C), ``swlNMean`` soil_moisture_layerN, ``srcMean``
    skin_reservoir_content (m) and ``e`` evaporation (m, alldata2 only). The constant columns
    ``depth1..4`` (layer thicknesses, cm) and ``time`` are left out.

    *Date caveat.* The factor values of ``alldata2`` equal those of ``alldata`` row for row,
    shifted by 730 days (alldata2's 2017-03-25 is alldata's 2019-03-25), so one file carries
    wrong labels. Over the overlap (nodes 2019-04-01 to 2021-12-29) we compared the two
    labellings, with a one-year shift as a placebo: the Stefan fit
    ``c + v t + E sqrt(DDT) + F sqrt(DDF)`` of the displacement on 2 m air temperature has
    R² = 0.50 with alldata2's labels, 0.46 with alldata's and 0.49 with the placebo; the lagged
    correlation of detrended displacement with 12-day mean air temperature peaks at -0.73
    (lag 8 d), -0.69 (20 d) and -0.75 (16 d) respectively. A seasonal signal shifted by whole
    years stays in phase, so neither test can tell the labellings apart (the placebo does as
    well as either). The default trusts ``alldata2``: it is the file the source repository
    uses for its deformation model, it is the only one covering the whole displacement period,
    and the physical fit is marginally better with it. ``factor_labels="alldata"`` takes the
    other view and keeps only the nodes from 2019-01-01 on (a warning gives the count).

    Example
    -------
    >>> ds = load_menyuan()  # doctest: +SKIP
    >>> ds.sizes["time"], ds.sizes["day"]  # doctest: +SKIP
    (143, 1741)
    """
    if factor_labels not in LABELLINGS:
        msg = (f"factor_labels must be one of {', '.join(LABELLINGS)} (which file's dates to "
               f"trust for the factors), got {factor_labels!r}.")
        raise ValueError(msg)
    alldata2, alldata = (Path(p) for p in (paths if paths is not None else fetch("menyuan")))
    table = pd.read_csv(alldata2).dropna(how="all")  # the file ends with an empty line
    days = pd.DatetimeIndex(pd.to_datetime(table["Date"], format="%Y/%m/%d")).as_unit("ns")
    values = table["Mean_Value"].to_numpy(dtype=np.float64)
    nodes = slope_change_nodes(values)
    times = days[nodes]

    source = alldata2 if factor_labels == "alldata2" else alldata
    daily = _daily_factors(source, pd.read_csv(source, nrows=0, encoding="utf-8-sig").columns)
    first_day = pd.Timestamp(daily["time"].values[0])
    covered = times >= first_day
    if not covered.all():
        warnings.warn(f"factor_labels={factor_labels!r}: the factors start on {first_day.date()}, "
                      f"so {int((~covered).sum())} of {len(times)} displacement nodes before it "
                      "were left out.", stacklevel=2)
        nodes, times = nodes[covered], times[covered]
    daily = daily.sel(time=slice(None, times[-1]))

    ds = xr.Dataset(
        {DISPLACEMENT: xr.DataArray(values[nodes, None].astype(np.float32), dims=("time", "point"),
                                    attrs=dict(DISPLACEMENT_ATTRS))},
        coords={"time": times.values, "point": ["menyuan"], "lat": ("point", [LAT]),
                "lon": ("point", [LON])},
    )
    ds = attach_factors(ds, daily, what=str(source), keep_daily=True, season_start=season_start)
    info = dataset_info("menyuan")
    ds.attrs.update(
        title=info.get("title", "Menyuan"), source=info["source"], commit=info["commit"],
        licence=info["licence"], citation=" ".join(info["citation"].split()),
        factor_labels=factor_labels,
        comment=("Displacement kept at the 12-day nodes of the interpolated daily series; "
                 "factor date labels per factor_labels (see gler.data.menyuan.load_menyuan)."),
    )
    logger.info("Menyuan: %d nodes, %d daily factor days", ds.sizes["time"], ds.sizes[DAILY_DIM])
    return ds
