"""Daily environmental factors aggregated onto the InSAR acquisition dates.

An acquisition ``t[i]`` sees the weather of the days since the previous one: its interval is
``(t[i-1], t[i]]`` (whole days). The first acquisition has no predecessor; its interval is taken
as long as the second one. Temperatures, soil moisture and snow are averaged over the interval,
precipitation is summed, and the thawing/freezing degree-days (the Stefan clock, see
:mod:`gler.data.degree_days`) are sampled on the acquisition date itself.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.degree_days import DEFAULT_SEASON_START, degree_days
from gler.data.model import DAILY_DIM, DAILY_SUFFIX, check_times

logger = logging.getLogger(__name__)

AGGREGATIONS = ("mean", "sum")

#: Default aggregation of the factors named in the data model; anything else is averaged.
DEFAULT_AGGREGATION = {"precipitation": "sum"}

DEGREE_DAY_FALLBACK = "air_temperature"
#: Temperatures tried, in order, with ``degree_day_source="auto"``.
AUTO_DEGREE_DAY_SOURCES = ("ground_surface_temperature", "air_temperature")

DEGREE_DAY_ATTRS = {
    "thawing_degree_days": {
        "units": "degC day",
        "long_name": "thawing degree-days since the start of the freeze-thaw year",
    },
    "freezing_degree_days": {
        "units": "degC day",
        "long_name": "freezing degree-days since the start of the freeze-thaw year",
    },
    "sqrt_thawing_degree_days": {
        "units": "degC^0.5 day^0.5",
        "long_name": "square root of the thawing degree-days",
    },
    "sqrt_freezing_degree_days": {
        "units": "degC^0.5 day^0.5",
        "long_name": "square root of the freezing degree-days",
    },
}


def _daily_axis(daily: xr.Dataset) -> tuple[str, pd.DatetimeIndex]:
    """The name and the (normalised) dates of the daily dim of a factor dataset."""
    dims = [d for d in (DAILY_DIM, "time") if d in daily.dims]
    if len(dims) != 1:
        msg = (f"The daily factors must have exactly one of the dims 'time' or '{DAILY_DIM}' "
               f"(got dims {tuple(daily.dims)}). Rename the date dim to 'time'.")
        raise ValueError(msg)
    dim = dims[0]
    dates = check_times(daily[dim].values, what="daily factor dates")
    days = dates.normalize()
    if days.has_duplicates:
        msg = ("The factors have more than one value per day (sub-daily sampling). Aggregate them "
               "to daily values first, e.g. with gler.data.factors.open_factors or "
               "ds.resample(time='1D').mean().")
        raise ValueError(msg)
    return dim, days


def _day_numbers(dates: pd.DatetimeIndex) -> np.ndarray:
    """Whole days since 1970-01-01, whatever the datetime unit (pandas 3 defaults to us)."""
    return dates.values.astype("datetime64[D]").astype(np.int64)


def _intervals(days: pd.DatetimeIndex, times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Interval index of each daily value (-1 outside every interval) and interval lengths."""
    edges = _day_numbers(times)
    first_length = edges[1] - edges[0] if len(edges) > 1 else 1
    lengths = np.diff(np.r_[edges[0] - first_length, edges])
    d = _day_numbers(days)
    index = np.searchsorted(edges, d, side="left")
    outside = (index == len(edges)) | (d <= edges[0] - first_length)
    return np.where(outside, -1, index), lengths


def _aggregation_for(name: str, var: xr.DataArray, aggregation: Mapping[str, str]) -> str:
    how = aggregation.get(name, var.attrs.get("aggregation", DEFAULT_AGGREGATION.get(name, "mean")))
    if how not in AGGREGATIONS:
        msg = (f"Unknown aggregation {how!r} for factor {name!r}; expected one of "
               f"{', '.join(AGGREGATIONS)} (in aggregation= or the variable's 'aggregation' "
               "attribute).")
        raise ValueError(msg)
    return how


def _degree_day_source(names: list[str], source: str | None) -> str | None:
    if source is None:
        return None
    if source == "auto":
        found = next((n for n in AUTO_DEGREE_DAY_SOURCES if n in names), None)
        if found is None:
            logger.warning("No daily temperature among the factors (%s): no degree-days; the "
                           "models that need them (the Stefan baseline) are left out. A "
                           "temperature in degC (%s) enables them, or --degree-days-from NAME",
                           ", ".join(names) or "none", " or ".join(AUTO_DEGREE_DAY_SOURCES))
        return found
    for candidate in (source, DEGREE_DAY_FALLBACK):
        if candidate in names:
            return candidate
    msg = (f"No temperature to compute degree-days from: neither {source!r} nor "
           f"{DEGREE_DAY_FALLBACK!r} is among the daily factors ({', '.join(names) or 'none'}). "
           "Pass degree_day_source=<a temperature factor in degC>, or degree_day_source=None to "
           "skip the degree-days.")
    raise ValueError(msg)


def _degree_days_on(series: xr.DataArray, dim: str, days: pd.DatetimeIndex,
                    times: pd.DatetimeIndex, season_start: str) -> dict[str, np.ndarray]:
    """DDT, DDF and their square roots of a daily temperature sampled on the acquisition days."""
    # degree_days() measures day steps in nanoseconds, so hand it a ns-unit index.
    full = pd.date_range(days[0], days[-1], freq="D").as_unit("ns")
    values = series.transpose(dim, ...).values.astype(np.float64)
    filled = pd.DataFrame(values.reshape(len(days), -1), index=days).reindex(full)
    n_missing = int(filled.isna().any(axis=1).sum())
    if n_missing:
        # Degree-days are a running sum: one missing day would shift every later value, so
        # short gaps are bridged linearly (and said so) rather than refused.
        warnings.warn(
            f"The degree-day temperature {series.name!r} misses {n_missing} of {len(full)} days; "
            "they were filled by linear interpolation in time before accumulating degree-days.",
            stacklevel=3,
        )
        filled = filled.interpolate(method="time", limit_direction="both")
    ddt, ddf = degree_days(filled.to_numpy().T, full, season_start=season_start)
    at = full.get_indexer(times.normalize())
    shape = (len(times), *values.shape[1:])
    ddt = ddt[:, at].T.reshape(shape)
    ddf = ddf[:, at].T.reshape(shape)
    return {
        "thawing_degree_days": ddt,
        "freezing_degree_days": ddf,
        "sqrt_thawing_degree_days": np.sqrt(ddt),
        "sqrt_freezing_degree_days": np.sqrt(ddf),
    }


def align_factors(
    daily: xr.Dataset,
    times: Iterable,
    *,
    aggregation: Mapping[str, str] | None = None,
    degree_day_source: str | None = "ground_surface_temperature",
    season_start: str = DEFAULT_SEASON_START,
) -> xr.Dataset:
    """Aggregate daily factors over each acquisition interval and add degree-days.

    Parameters
    ----------
    daily
        Daily factors on a dim ``time`` (as the factor readers return them) or ``day`` (as stored
        in a stack, names ending in ``_daily``; the suffix is dropped). Missing days and NaN are
        allowed (see Notes).
    times
        The acquisition dates, strictly increasing.
    aggregation
        ``{factor: "mean" | "sum"}`` overriding the defaults. The default of a factor is its
        ``aggregation`` attribute, else ``"sum"`` for ``precipitation`` and ``"mean"`` otherwise.
    degree_day_source
        Daily temperature (°C) for the degree-days; when absent, ``air_temperature`` is used.
        ``None`` skips the degree-days; ``"auto"`` uses ground-surface, else air temperature,
        and skips them (with one log line) when the factors have neither.
    season_start
        ``"MM-DD"`` on which each freeze–thaw year (and the degree-day sums) restarts.

    Returns
    -------
    xarray.Dataset
        One variable per factor with dims ``("time", ...)`` on the acquisition dates (attributes
        kept, ``aggregation`` set), plus ``thawing_degree_days``, ``freezing_degree_days``
        (°C·day) and their square roots when degree-days are computed.

    Raises
    ------
    ValueError
        If the factors do not cover some acquisition dates (they are listed), the dates are
        unsorted, duplicated or sub-daily, an aggregation is unknown or names no factor, or no
        temperature is available for the degree-days, or the daily factors are in fact
        monthly (or otherwise sampled more than two days apart).

    Notes
    -----
    The interval of acquisition ``i`` is ``(t[i-1], t[i]]`` in whole days, the first one as long
    as the second. An acquisition is covered when its own date lies within the daily series and
    each factor has at least one valid day in its interval. Missing days inside an interval are
    skipped: a mean uses the valid days, a sum is the mean of the valid days times the interval
    length, and a warning gives the counts (days missing only before the start of the series,
    in the first interval, are logged instead: that interval is a convention). The degree-days
    run over the whole daily series, which starts the first freeze–thaw year part-way when the
    series does; gaps in the temperature are bridged by linear interpolation with a warning.

    Example
    -------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> days = pd.date_range("2020-04-01", periods=24, freq="D")
    >>> daily = xr.Dataset({"air_temperature": ("time", np.full(24, 2.0)),
    ...                     "precipitation": ("time", np.ones(24))}, coords={"time": days})
    >>> ef = align_factors(daily, days[[11, 23]])
    >>> ef["precipitation"].values.tolist(), ef["thawing_degree_days"].values.tolist()
    ([12.0, 12.0], [24.0, 48.0])
    """
    aggregation = dict(aggregation or {})
    times = check_times(times)
    if len(times) == 0:
        msg = "No acquisition dates given; align_factors needs at least one."
        raise ValueError(msg)
    dim, days = _daily_axis(daily)
    if len(days) > 2:
        spacing = float(np.median((days[1:] - days[:-1]).days))
        if spacing > 2:
            where = daily.attrs.get("source", "the factors")
            msg = (f"{where}: the factor dates are {spacing:.0f} days apart (median): they "
                   f"look {'monthly' if spacing >= 27 else 'coarser than daily'}, but gler "
                   "aggregates daily factors over each acquisition interval. Give daily "
                   "values (e.g. ERA5-Land daily), or put per-acquisition factors in --data.")
            raise ValueError(msg)
    variables = {
        str(name).removesuffix(DAILY_SUFFIX): var
        for name, var in daily.data_vars.items()
        if var.dims and var.dims[0] == dim
    }
    unknown = sorted(set(aggregation) - set(variables))
    if unknown:
        msg = (f"aggregation= names factors that are not in the daily data: {', '.join(unknown)}. "
               f"Available: {', '.join(variables) or 'none'}.")
        raise ValueError(msg)

    index, lengths = _intervals(days, times)
    t_days = times.normalize()
    uncovered: dict[pd.Timestamp, list[str]] = {
        t: ["all factors"] for t in t_days if t < days[0] or t > days[-1]
    }
    out: dict[str, xr.DataArray] = {}
    partial: list[str] = []
    inside = index >= 0
    for name, var in variables.items():
        how = _aggregation_for(name, var, aggregation)
        values = var.values.astype(np.float64)[inside]
        valid = ~np.isnan(values)
        totals = np.zeros((len(times), *values.shape[1:]))
        counts = np.zeros_like(totals)
        np.add.at(totals, index[inside], np.where(valid, values, 0.0))
        np.add.at(counts, index[inside], valid)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = totals / counts
        empty = np.all(counts == 0, axis=tuple(range(1, counts.ndim)))
        for t in t_days[empty]:
            uncovered.setdefault(t, []).append(name)
        shape = (-1,) + (1,) * (counts.ndim - 1)
        missing = lengths.reshape(shape) - counts
        # Days before the series start only matter in the first, conventional interval.
        before_start = np.zeros(len(times))
        before_start[0] = max(0, (days[0] - (t_days[0] - pd.Timedelta(days=int(lengths[0]) - 1)))
                              .days)
        interior = missing - before_start.reshape(shape)
        if np.any(interior[~empty] > 0):
            partial.append(f"{name}: {int((interior[~empty] > 0).sum())} intervals, "
                           f"{int(interior[~empty].sum())} missing values")
        elif before_start[0] > 0:
            logger.info("%s: the first interval starts %d days before the daily series",
                        name, int(before_start[0]))
        result = mean * lengths.reshape(shape) if how == "sum" else mean
        attrs = {**var.attrs, "aggregation": how}
        if var.ndim > 1:
            attrs["role"] = "factor"
        out[name] = xr.DataArray(result.astype(np.float32), dims=("time", *var.dims[1:]),
                                 attrs=attrs)

    if uncovered:
        shown = ", ".join(f"{t.date()} ({'/'.join(names)})"
                          for t, names in sorted(uncovered.items()))
        msg = (f"The daily factors (dates {days[0].date()} to {days[-1].date()}) do not cover "
               f"{len(uncovered)} of the {len(times)} acquisition dates: {shown}. Provide factors "
               "that span the acquisitions (and the interval before the first one), or drop those "
               "acquisitions.")
        raise ValueError(msg)
    if partial:
        warnings.warn(
            "Some acquisition intervals have missing daily factor values; means use the valid "
            "days and sums are scaled to the interval length (" + "; ".join(partial) + ").",
            stacklevel=2,
        )

    source = _degree_day_source(list(variables), degree_day_source)
    if source is not None:
        extra_dims = variables[source].dims[1:]
        sampled = _degree_days_on(variables[source], dim, days, times, season_start)
        for name, values in sampled.items():
            attrs = {**DEGREE_DAY_ATTRS[name], "source": source, "season_start": season_start,
                     "aggregation": "point", "cell_methods": "time: point"}
            if extra_dims:
                attrs["role"] = "factor"
            out[name] = xr.DataArray(values.astype(np.float32), dims=("time", *extra_dims),
                                     attrs=attrs)

    coords = {"time": times.as_unit("ns").values}
    for dim_name in {d for v in out.values() for d in v.dims[1:]}:
        if dim_name in daily.coords:
            coords[dim_name] = daily[dim_name].values
    return xr.Dataset(out, coords=coords)
