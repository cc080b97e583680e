"""Plausibility checks at the door: what no ground motion or climate can produce is refused.

:func:`gler.data.readers.open_stack` runs :func:`check_displacement` on every stack it returns
and :func:`check_factor_values` on its factors (the factor readers run the latter too), so the
command line and the Python API refuse the same inputs with the same message. The limits are
far outside what InSAR measures and far inside what a wrong unit or a corrupt cell produces:

- a cumulative displacement beyond :data:`MAX_ABS_MM` (10 m), or a change between two
  consecutive observations of a pixel beyond :data:`MAX_STEP_MM` (1 m; phase unwrapping cannot
  follow more), is an outlier: an error by default, or masked (NaN) with ``outliers="mask"``
  when it is a single-date spike;
- a stack whose displacements are nearly all below :data:`MIN_TYPICAL_MM` (0.5 mm; InSAR noise
  alone is larger) is in metres or centimetres labelled millimetres, unless the caller states
  the units;
- a temperature above 100 °C is in kelvin; precipitation is never negative.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from gler.data.model import DISPLACEMENT, factor_names

logger = logging.getLogger(__name__)

#: Largest plausible cumulative displacement (mm).
MAX_ABS_MM = 10_000.0
#: Largest plausible change between consecutive observations of a pixel (mm).
MAX_STEP_MM = 1_000.0
#: The 99th percentile of |displacement| of a stack in mm is above this (InSAR noise alone is).
MIN_TYPICAL_MM = 0.5
#: Ways to handle outliers.
OUTLIER_MODES = ("error", "mask")
#: Plausible range of a temperature in °C.
TEMPERATURE_RANGE_C = (-100.0, 100.0)


def check_displacement(ds: xr.Dataset, *, outliers: str = "error", units_stated: bool = False,
                       source: str | None = None) -> xr.Dataset:
    """Refuse (or mask) implausible displacements; return the stack, masked where asked.

    Parameters
    ----------
    ds
        A stack in the data model (mm).
    outliers
        ``"error"`` (default): any cell beyond :data:`MAX_ABS_MM` or jump beyond
        :data:`MAX_STEP_MM` is an error naming dates and points. ``"mask"``: such cells become
        NaN (with a warning giving the count); a lasting jump (a step, not a spike) is still an
        error, since no single cell explains it.
    units_stated
        The caller gave the units explicitly; the "looks like metres" check is then skipped.
    source
        Where the stack comes from, for messages (default: its ``source`` attribute).

    Raises
    ------
    ValueError
        No finite displacement at all, outliers (with ``outliers="error"``), a step, or
        magnitudes typical of metres labelled mm.
    """
    if outliers not in OUTLIER_MODES:
        msg = f"outliers={outliers!r} (--outliers): use one of {', '.join(OUTLIER_MODES)}."
        raise ValueError(msg)
    source = source or ds.attrs.get("source", "the stack")
    da = ds[DISPLACEMENT]
    flagged, stepped, sample, any_finite = [], [], [], False
    for offset, values in _chunks(da):
        finite = np.isfinite(values)
        any_finite = any_finite or bool(finite.any())
        bad = (~finite & ~np.isnan(values)) | (finite & (np.abs(values) > MAX_ABS_MM))
        spikes, _ = _jumps(np.where(bad, np.nan, values))
        # What is left without the outliers and spikes: a step that masking cannot remove
        # (the neighbours of a spike jump too, but only to the spike).
        new_spikes, steps = _jumps(np.where(bad | spikes, np.nan, values))
        steps |= new_spikes
        t, p = np.nonzero(bad | spikes)
        flagged.append((t, p + offset))
        t, p = np.nonzero(steps)
        stepped.append((t, p + offset))
        kept = values[finite & ~bad & ~spikes]
        sample.append(np.abs(kept[::max(1, kept.size // 100_000)]))
    if not any_finite:
        msg = (f"{source}: the displacement has no finite value at all (every cell is NaN); "
               "nothing can be trained or forecast. Check the file and its units/format.")
        raise ValueError(msg)
    flagged_t, flagged_p = (np.concatenate(x) for x in zip(*flagged, strict=True))
    stepped_t, stepped_p = (np.concatenate(x) for x in zip(*stepped, strict=True))
    if outliers == "error" and (len(flagged_t) or len(stepped_t)):
        _raise_outliers(ds, np.concatenate([flagged_t, stepped_t]),
                        np.concatenate([flagged_p, stepped_p]), source)
    if outliers == "mask":
        if len(stepped_t):
            _raise_outliers(ds, stepped_t, stepped_p, source, masking=True)
        if len(flagged_t):
            mask = np.zeros((da.shape[0], int(np.prod(da.shape[1:]))), dtype=bool)
            mask[flagged_t, flagged_p] = True
            logger.warning("%s: masked %d implausible displacement cells (beyond %g mm, or "
                           "single-date jumps beyond %g mm) as NaN (--outliers mask)", source,
                           len(flagged_t), MAX_ABS_MM, MAX_STEP_MM)
            ds = ds.copy()
            ds[DISPLACEMENT] = da.where(~mask.reshape(da.shape))
            ds[DISPLACEMENT].attrs.update(da.attrs)
    if not units_stated:
        kept = np.concatenate(sample)
        typical = float(np.percentile(kept, 99)) if kept.size else 0.0
        if typical < MIN_TYPICAL_MM:
            msg = (f"{source}: 99% of the displacements are below {typical:.3g} mm in "
                   f"magnitude, less than InSAR noise ({MIN_TYPICAL_MM} mm): they look like "
                   "metres (or cm) labelled mm. Fix the file's units, or pass --units mm "
                   "(units='mm') if they really are millimetres.")
            raise ValueError(msg)
    return ds


def _chunks(da: xr.DataArray, cells: int = 1 << 22):
    """``(first flat pixel, values [time, pixels])`` over blocks of the first spatial dim, so a
    large (or lazily read) stack is checked a block at a time."""
    dim = da.dims[1]
    per_row = int(np.prod(da.shape[2:]))
    rows = max(1, cells // max(1, da.shape[0] * per_row))
    for start in range(0, da.shape[1], rows):
        block = np.asarray(da.isel({dim: slice(start, start + rows)}).values)
        if not np.issubdtype(block.dtype, np.floating):
            block = block.astype(np.float64)
        yield start * per_row, block.reshape(da.shape[0], -1)


def _jumps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells that jump beyond :data:`MAX_STEP_MM` from the previous *and* to the next valid
    observation of their pixel (spikes), and cells of other such jumps (steps)."""
    finite = np.isfinite(values)
    steps_n = np.arange(values.shape[0])[:, None]
    cols = np.arange(values.shape[1])[None, :]
    prev_i = np.maximum.accumulate(np.where(finite, steps_n, -1), axis=0)
    prev_i = np.vstack([np.full((1, values.shape[1]), -1), prev_i[:-1]])
    next_i = np.minimum.accumulate(np.where(finite, steps_n, values.shape[0])[::-1], axis=0)[::-1]
    next_i = np.vstack([next_i[1:], np.full((1, values.shape[1]), values.shape[0])])
    padded = np.vstack([values, np.full((1, values.shape[1]), np.nan)])
    with np.errstate(invalid="ignore"):
        jump_in = np.abs(values - padded[prev_i, cols]) > MAX_STEP_MM
        jump_out = np.abs(padded[next_i, cols] - values) > MAX_STEP_MM
    jump_in &= finite & (prev_i >= 0)
    jump_out &= finite & (next_i < values.shape[0])
    spikes = jump_in & jump_out
    # A first or last observation that jumps away from all the others is a spike too.
    spikes |= jump_in & (next_i >= values.shape[0])
    spikes |= jump_out & (prev_i < 0)
    return spikes, (jump_in | jump_out) & ~spikes


def _raise_outliers(ds: xr.Dataset, t_idx: np.ndarray, p_idx: np.ndarray, source: str, *,
                    masking: bool = False) -> None:
    times = pd.DatetimeIndex(ds["time"].values)
    spatial = [d for d in ds[DISPLACEMENT].dims if d != "time"]
    labels = [ds[d].values for d in spatial]
    shape = tuple(len(v) for v in labels)
    order = np.lexsort((p_idx, t_idx))
    t_idx, p_idx = t_idx[order], p_idx[order]
    shown = []
    for t, p in zip(t_idx[:5], p_idx[:5], strict=True):
        pos = np.unravel_index(p, shape)
        at = ", ".join(f"{d}={lab[i]}" for d, lab, i in zip(spatial, labels, pos, strict=True))
        value = float(ds[DISPLACEMENT].isel(time=t, **dict(zip(spatial, pos, strict=True))))
        shown.append(f"{times[t].date()} at {at}: {value:.4g} mm")
    n_dates = len(np.unique(t_idx))
    n_pixels = len(np.unique(p_idx))
    if masking:
        msg = (f"{source}: {n_pixels} pixels jump by more than {MAX_STEP_MM:g} mm between "
               f"consecutive observations and stay there (a step, not a spike, so --outliers "
               f"mask cannot remove it), e.g. {'; '.join(shown)}. Check the units (--units) or "
               "the unwrapping of those dates.")
    else:
        msg = (f"{source}: {len(t_idx)} implausible displacement values on {n_dates} "
               f"dates and {n_pixels} pixels (beyond {MAX_ABS_MM:g} mm, or jumps beyond "
               f"{MAX_STEP_MM:g} mm between consecutive observations), e.g. {'; '.join(shown)}. "
               "Check the units (--units), or pass --outliers mask to set single-date outliers "
               "to NaN.")
    raise ValueError(msg)


def check_factor_values(name: str, values: np.ndarray, source: str = "factors") -> None:
    """Refuse factor values no climate produces: temperatures beyond ±100 °C (above: kelvin),
    negative precipitation.

    Raises
    ------
    ValueError
        Naming the factor, the extreme value and the fix.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return
    low, high = float(finite.min()), float(finite.max())
    if "temperature" in name:
        if high > TEMPERATURE_RANGE_C[1]:
            msg = (f"{source}: {name} reaches {high:.2f}, above {TEMPERATURE_RANGE_C[1]:g} °C: "
                   "the values are in kelvin, but gler's temperatures are in °C. Subtract "
                   "273.15, or declare the units as K (the units attribute, or units= of "
                   "open_factors), which gler converts.")
            raise ValueError(msg)
        if low < TEMPERATURE_RANGE_C[0]:
            msg = (f"{source}: {name} reaches {low:.2f}, below {TEMPERATURE_RANGE_C[0]:g} °C, "
                   "which no surface temperature does. Check the values and their units.")
            raise ValueError(msg)
    if name.startswith("precipitation") and low < -1e-6:
        msg = (f"{source}: {name} has negative values (down to {low:.3g}); precipitation is "
               "never negative. Check the column and its units.")
        raise ValueError(msg)


def check_factors(ds: xr.Dataset, names: Iterable[str] | None = None,
                  source: str | None = None) -> None:
    """:func:`check_factor_values` on each factor of a stack (or on ``names``)."""
    source = source or ds.attrs.get("source", "the stack")
    for name in factor_names(ds) if names is None else names:
        check_factor_values(name, ds[name].values, source)
