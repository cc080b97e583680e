"""Tests for gler.data.model: units, date checks, stack validation, decimal years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from gler.data.model import (
    check_times,
    decimal_years,
    factor_names,
    to_millimetres,
    validate_stack,
)


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
def test_decimal_years_independent_of_datetime_unit(unit):
    """One Julian year after the origin is 1.0 whatever the datetime resolution."""
    times = pd.DatetimeIndex(["2020-01-01", "2020-12-31T06:00"]).as_unit(unit)
    np.testing.assert_allclose(decimal_years(times), [0.0, 1.0])
    np.testing.assert_allclose(decimal_years(times, origin="2019-01-01")[0], 365 / 365.25)


def test_to_millimetres_and_unknown_units():
    """Metres and centimetres scale to mm; an unknown unit names itself."""
    np.testing.assert_allclose(to_millimetres([0.001, 1], "m"), [1, 1000])
    np.testing.assert_allclose(to_millimetres([1.5], "cm"), [15])
    with pytest.raises(ValueError, match="Unknown displacement units 'inch'"):
        to_millimetres([1], "inch")


def test_check_times_refuses_duplicates_and_disorder():
    """Duplicated and unsorted dates are named in the error."""
    with pytest.raises(ValueError, match="duplicates: 2020-01-13"):
        check_times(["2020-01-01", "2020-01-13", "2020-01-13"])
    with pytest.raises(ValueError, match=r"not sorted.*2020-01-13 -> 2020-01-01"):
        check_times(["2020-01-13", "2020-01-01"])


def _stack(units: str = "mm") -> xr.Dataset:
    times = pd.date_range("2020-01-01", periods=4, freq="12D")
    disp = xr.DataArray(np.zeros((4, 2), np.float32), dims=("time", "point"),
                        attrs={"units": units})
    temp = xr.DataArray(np.arange(4.0), dims=("time",), attrs={"units": "degC"})
    elev = xr.DataArray(np.ones(2), dims=("point",))
    return xr.Dataset({"displacement": disp, "air_temperature": temp, "elevation": elev},
                      coords={"time": times})


def test_validate_stack_and_factor_names():
    """A point stack validates; factors are the time-only variables."""
    ds = validate_stack(_stack())
    assert factor_names(ds) == ["air_temperature"]
    with pytest.raises(ValueError, match=r"units 'm'.*millimetres"):
        validate_stack(_stack("m"))
    with pytest.raises(ValueError, match="no 'displacement' variable"):
        validate_stack(_stack().drop_vars("displacement"))
