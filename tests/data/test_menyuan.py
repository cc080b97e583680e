"""Tests for gler.data.menyuan against the verified Menyuan files (skipped without the mirror)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gler.data.menyuan import load_menyuan, slope_change_nodes
from gler.data.model import validate_stack

MIRROR = Path(os.environ.get("GLER_DATA_DIR") or
              Path(__file__).resolve().parents[2].parent / "shared" / "data") / "menyuan"
PATHS = [MIRROR / "W2017_2021_101.9_37.6_alldata2.csv",
         MIRROR / "W2017_2021_37.6_101.9_alldata.csv"]
needs_mirror = pytest.mark.skipif(not all(p.is_file() for p in PATHS),
                                  reason=f"no Menyuan files in {MIRROR} (set GLER_DATA_DIR)")


@pytest.fixture(scope="module")
def menyuan():
    return load_menyuan(paths=PATHS)


def test_slope_change_nodes_skip_interpolated_gaps():
    """Kinks are nodes; a straight run over a missing acquisition has none."""
    values = np.r_[np.linspace(0, 12, 13), np.linspace(12, 0, 25)[1:], np.linspace(0, 6, 13)[1:]]
    assert slope_change_nodes(values).tolist() == [0, 12, 36, 48]


@needs_mirror
def test_nodes_and_displacement_match_the_published_series(menyuan):
    """143 12-day nodes 2017-03-25..2021-12-29, values equal to the file's, range -24..+8 mm."""
    ds = validate_stack(menyuan)
    times = pd.DatetimeIndex(ds["time"].values)
    assert ds["displacement"].dims == ("time", "point")
    assert (times[0], times[-1]) == (pd.Timestamp("2017-03-25"), pd.Timestamp("2021-12-29"))
    assert len(times) == 143
    assert set(np.diff(times).astype("timedelta64[D]").astype(int)) == {12, 24}
    table = pd.read_csv(PATHS[0]).dropna(how="all")
    assert len(table) == 1741
    daily = pd.Series(table["Mean_Value"].to_numpy(),
                      index=pd.to_datetime(table["Date"], format="%Y/%m/%d"))
    np.testing.assert_allclose(ds["displacement"].sel(point="menyuan"), daily.loc[times],
                               rtol=1e-6)
    assert -25 < float(ds["displacement"].min()) < -23
    assert 8 < float(ds["displacement"].max()) < 8.5
    assert float(ds["lat"][0]) == 37.6 and float(ds["lon"][0]) == 101.9


@needs_mirror
def test_daily_factors_are_converted_and_aligned(menyuan):
    """Daily factors on 'day' (1,741 days), mm precipitation, 12-day sums and means per node."""
    assert menyuan.sizes["day"] == 1741
    table = pd.read_csv(PATHS[0]).dropna(how="all")
    np.testing.assert_allclose(menyuan["precipitation_daily"], table["TPMean"] * 1000)
    np.testing.assert_allclose(menyuan["air_temperature_daily"], table["T2mMean"])
    assert menyuan["precipitation_daily"].attrs["units"] == "mm"
    # Second node 2017-04-06: interval 2017-03-26..2017-04-06 (rows 1..12).
    np.testing.assert_allclose(menyuan["precipitation"][1], table["TPMean"][1:13].sum() * 1000,
                               rtol=1e-5)
    np.testing.assert_allclose(menyuan["ground_surface_temperature"][1],
                               table["SKTMean"][1:13].mean(), rtol=1e-5)
    assert menyuan["thawing_degree_days"].attrs["source"] == "ground_surface_temperature"
    assert menyuan.attrs["licence"] == "MIT"


@needs_mirror
def test_other_labelling_shifts_factors_by_730_days():
    """Trusting alldata's labels: same values 730 days later, earlier nodes left out (warned)."""
    with pytest.warns(UserWarning, match="52 of 143 displacement nodes"):
        ds = load_menyuan(paths=PATHS, factor_labels="alldata")
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2019-01-02")
    table = pd.read_csv(PATHS[0]).dropna(how="all")
    day = pd.Timestamp("2019-03-25")  # alldata2 labels these values 2017-03-25
    assert float(ds["air_temperature_daily"].sel(day=day)) == table["T2mMean"][0]
    with pytest.raises(ValueError, match="factor_labels must be one of alldata2, alldata"):
        load_menyuan(paths=PATHS, factor_labels="both")
