"""Tests for the QTR-sim simulator (gler/data/qtrsim)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gler.cli import main
from gler.data.degree_days import degree_days, season_index
from gler.data.geography import study_sites
from gler.data.model import factor_names, validate_stack
from gler.data.qtrsim import (
    LAND_COVER,
    NOISE_PRESETS,
    REGIONS,
    railway_line,
    region_table,
    simulate,
    simulate_region,
    write_simulation,
)
from gler.data.qtrsim.noise import noise_coverage

SHORT = {"size": 16, "start": "2017-01-01", "end": "2019-12-31"}


@pytest.fixture(scope="module")
def beiluhe():
    return simulate_region("beiluhe", **SHORT)


def _freezing_after_thaw(temperature, ddf, season):
    """DDF counted after the last thawing day of each freeze–thaw year (the spec's DDF*)."""
    out = np.zeros_like(ddf)
    for label in np.unique(season):
        idx = np.flatnonzero(season == label)
        thawing = temperature[:, idx] > 0
        last = np.where(thawing.any(axis=1),
                        len(idx) - 1 - np.argmax(thawing[:, ::-1], axis=1), -1)
        base = np.where(last >= 0, ddf[np.arange(len(last)), idx[np.maximum(last, 0)]], 0.0)
        after = np.arange(len(idx))[None, :] > last[:, None]
        out[:, idx] = np.where(after, ddf[:, idx] - base[:, None], 0.0)
    return out


def test_stefan_fit_recovers_planted_velocity_and_thaw_coefficient(beiluhe):
    """A per-pixel least-squares Stefan fit on the clean signal returns the planted v and E."""
    ds = beiluhe
    land = ds["mask"].values.ravel() == 1
    days = pd.DatetimeIndex(ds["day"].values)
    gst = ds["ground_surface_temperature_daily"].values.astype(np.float64)
    temperature = gst[None, :] + ds["temperature_offset"].values.ravel()[land, None]
    ddt, ddf = degree_days(temperature, days)
    season = season_index(days)
    ddf_star = _freezing_after_thaw(temperature, ddf, season)
    at = days.get_indexer(pd.DatetimeIndex(ds["time"].values))
    t_season = season[at]
    labels = ds["season"].values
    anomaly = ds["wetness_anomaly"].values.astype(np.float64)[np.searchsorted(labels, t_season)]
    beta = ds["beta"].values.ravel()[land].astype(np.float64)
    years = (ds["time"].values - ds["time"].values[0]) / np.timedelta64(1, "D") / 365.25

    p, n = int(land.sum()), len(at)
    present = np.unique(t_season)
    design = np.empty((p, n, 3 + len(present)))
    design[:, :, 0] = 1.0
    design[:, :, 1] = years
    design[:, :, 2] = -(1 + beta[:, None] * anomaly[None, :]) * np.sqrt(ddt[:, at])
    for k, label in enumerate(present):
        design[:, :, 3 + k] = np.sqrt(ddf_star[:, at]) * (t_season == label)
    target = ds["displacement_clean"].values.reshape(n, -1)[:, land].T.astype(np.float64)
    coef = np.einsum("pkn,pn->pk", np.linalg.pinv(design), target)

    velocity = ds["velocity"].values.ravel()[land]
    thaw = ds["thaw_coeff"].values.ravel()[land]
    assert np.ptp(velocity) > 5 and np.ptp(thaw) > 0.3  # the fit has something to recover
    np.testing.assert_allclose(coef[:, 1], velocity, atol=0.05)
    np.testing.assert_allclose(coef[:, 2], thaw, atol=0.01)
    residual = np.abs(np.einsum("pnk,pk->pn", design, coef) - target)
    # The simulator interpolates degree-days between temperature levels; where a pixel's thaw
    # ends within a hair of 0 °C its freeze onset can move by a day (a few tenths of a mm).
    assert np.quantile(residual, 0.999) < 0.05 and residual.max() < 0.5


def test_freeze_thaw_is_continuous_at_the_season_start(beiluhe):
    """Each year closes near its start: no jump where the degree-day sums restart."""
    ds = beiluhe
    season = season_index(pd.DatetimeIndex(ds["time"].values))
    boundary = np.flatnonzero(np.diff(season) != 0)
    assert len(boundary) >= 2
    clean = ds["displacement_clean"].values
    dt = np.diff(ds["time"].values).astype("timedelta64[D]").astype(float) / 365.25
    step = np.diff(clean, axis=0) - dt[:, None, None] * ds["velocity"].values[None]
    jump = np.nanmax(np.abs(step[boundary]))
    assert jump < 0.1 * float(np.nanmax(ds["seasonal_amplitude"]))
    # while the thaw itself moves the ground by several millimetres per interval
    assert np.nanmax(np.abs(step)) > 5 * jump


@pytest.mark.parametrize(("noise", "scale"), [("default", 1.0), ("smooth", 1.0), ("high", 0.5)])
def test_noise_matches_requested_level(noise, scale):
    ds = simulate_region("wudaoliang", size=24, end="2018-12-31", noise=noise, noise_scale=scale)
    expected = np.hypot(*NOISE_PRESETS[noise].values()) * scale
    assert ds.attrs["noise_sigma_mm"] == pytest.approx(expected)
    residual = (ds["displacement"] - ds["displacement_clean"]).values[1:]
    assert np.sqrt(np.nanmean(residual**2)) == pytest.approx(expected, rel=0.05)


def test_noise_none_leaves_the_clean_signal_and_gaps():
    ds = simulate_region("tuotuohe", size=16, end="2018-06-30", noise="none")
    observed, clean = ds["displacement"].values, ds["displacement_clean"].values
    both = np.isfinite(observed)
    np.testing.assert_array_equal(observed[both], clean[both])
    land = ds["mask"].values == 1
    lost = np.isnan(observed) & land[None]
    assert 0.002 < lost.mean() / land.mean() < 0.1  # a few percent decorrelated
    assert not lost[0].any()


def test_noise_coverage_is_nominal_on_average_and_varies_with_the_atmosphere(beiluhe):
    """A perfectly calibrated interval covers the noise at the nominal rate over many periods;
    one period's coverage varies far more than a binomial over its pixels, and the spread
    comes from the atmospheric screens shared by a date's pixels (without them it shrinks)."""
    dates = beiluhe["time"].values[-30:]
    table = noise_coverage(beiluhe, dates, (0.8, 0.9), draws=60)
    assert list(table.columns) == [80, 90] and len(table) == 60
    assert table.mean().sub([80, 90]).abs().max() < 1.5  # MC error of 60 draws: ~0.3 pp
    pixels = int(beiluhe["mask"].sum()) * len(dates)
    binomial_sd = 100 * np.sqrt(0.8 * 0.2 / pixels)
    assert table[80].std() > 3 * binomial_sd
    pixel_only = beiluhe.assign_attrs(aps_sigma_mm=0.0)
    assert noise_coverage(pixel_only, dates, (0.8,), draws=60)[80].std() < 2 * binomial_sd


def test_noise_coverage_refuses_other_data(beiluhe):
    with pytest.raises(ValueError, match="needs a QTR-sim region"):
        noise_coverage(beiluhe.drop_vars("mask"), beiluhe["time"].values[-3:])
    with pytest.raises(ValueError, match="1 of the dates are not acquisitions"):
        noise_coverage(beiluhe, [pd.Timestamp("2030-01-01")])


@pytest.mark.parametrize("region", list(REGIONS))
def test_climatology_in_the_stated_ranges(region):
    """MAAT -3..-6 °C, annual amplitude 11..13 °C, 300..450 mm/yr, 80..90 % in May–September."""
    ds = simulate_region(region, size=8)
    days = pd.DatetimeIndex(ds["day"].values)
    full = (days >= "2017-01-01") & (days <= "2022-12-31")
    days = days[full]
    air = ds["air_temperature_daily"].values[full]
    phase = 2 * np.pi * days.day_of_year.to_numpy() / 365.25
    harmonic = np.linalg.lstsq(np.c_[np.ones(len(days)), np.cos(phase), np.sin(phase)], air,
                               rcond=None)[0]
    rain = pd.Series(ds["precipitation_daily"].values[full], index=days)
    assert -6.0 <= air.mean() <= -3.0
    assert 11.0 <= np.hypot(*harmonic[1:]) <= 13.0
    assert 300.0 <= rain.groupby(days.year).sum().mean() <= 450.0
    assert 0.8 <= rain[(days.month >= 5) & (days.month <= 9)].sum() / rain.sum() <= 0.9
    # the ground surface lags the air (damped, shifted) and soil moisture stays physical
    gst = ds["ground_surface_temperature_daily"].values[full]
    assert np.argmax(np.correlate(gst - gst.mean(), air - air.mean(), "full")) > len(air) - 1
    assert 0.0 < ds["soil_moisture_daily"].min() and ds["soil_moisture_daily"].max() <= 0.45


def test_same_seed_same_bytes_other_seed_other_noise(tmp_path):
    kwargs = {"size": 12, "end": "2017-12-31"}
    paths = [write_simulation(simulate_region("xidatan", seed=seed, **kwargs),
                              tmp_path / f"{i}.nc")
             for i, seed in enumerate((3, 3, 4))]
    first, again, other = (p.read_bytes() for p in paths)
    assert first == again
    assert first != other
    a, b = (simulate_region("xidatan", seed=seed, **kwargs) for seed in (3, 4))
    common = np.intersect1d(a["time"].values, b["time"].values)[1:]
    noise_a, noise_b = ((s["displacement"] - s["displacement_clean"]).sel(time=common).values
                        for s in (a, b))
    both = np.isfinite(noise_a) & np.isfinite(noise_b) & (noise_a != 0)
    assert both.sum() > 100
    assert abs(np.corrcoef(noise_a[both], noise_b[both])[0, 1]) < 0.2


def test_output_follows_the_data_model(beiluhe):
    ds = validate_stack(beiluhe)
    assert ds["displacement"].dtype == np.float32
    assert {"air_temperature", "ground_surface_temperature", "precipitation", "soil_moisture",
            "snow_depth", "thawing_degree_days", "sqrt_freezing_degree_days"} <= set(
        factor_names(ds))
    assert ds["precipitation"].attrs["aggregation"] == "sum"
    for name, var in ds.variables.items():
        if name in ("land_cover", "mask", "time", "day", "season") or name.startswith("lat"):
            continue
        assert "units" in var.attrs, name
    for name in ("velocity", "thaw_coeff", "freeze_coeff", "beta", "seasonal_amplitude"):
        assert ds[name].dims == ("y", "x") and "long_name" in ds[name].attrs
    steps = set(np.diff(ds["time"].values).astype("timedelta64[D]").astype(int))
    assert steps <= {12, 24}
    assert ds["air_temperature_daily"].dims == ("day",)
    assert ds["lat"].dims == ("y", "x") and float(ds["lat"].mean()) == pytest.approx(34.82, 0.01)
    meanings = ds["land_cover"].attrs["flag_meanings"].split()
    assert meanings == list(LAND_COVER.values())
    water = ds["land_cover"].values == 0
    assert np.array_equal(water, ds["mask"].values == 0)
    assert np.isnan(ds["displacement"].values[:, water]).all()
    row, col = ds.attrs["reference_pixel_row"], ds.attrs["reference_pixel_col"]
    assert ds["land_cover"].values[row, col] == 1
    np.testing.assert_array_equal(ds["displacement"].values[:, row, col], 0.0)
    np.testing.assert_array_equal(np.nan_to_num(ds["displacement"].values[0]), 0.0)
    table = json.loads(ds.attrs["parameters"])
    assert table["region"]["name"] == "Beiluhe"
    half = ds["x"].values.max() + 30.0
    assert len(ds["railway_x"]) >= 2 and np.abs(ds["railway_x"]).max() <= half


def test_land_cover_follows_region_character():
    stacks = simulate(["beiluhe", "tuotuohe", "wudaoliang"], size=48, end="2017-06-30")
    share = {r: np.bincount(ds["land_cover"].values.ravel(), minlength=5) / 48**2
             for r, ds in stacks.items()}
    assert share["beiluhe"][0] > 0.03 and share["beiluhe"][4] > 0.03  # lakes with rims
    assert share["wudaoliang"][2] > share["tuotuohe"][2]  # wet meadow vs gravel
    assert share["tuotuohe"][1] > 0.5
    assert all(s[3] > 0 for s in share.values())  # every grid has the embankment
    velocity = {r: float(np.nanmean(ds["velocity"])) for r, ds in stacks.items()}
    assert velocity["tuotuohe"] > velocity["beiluhe"]  # mostly stable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"region": "lhasa"}, "Valid regions: xidatan, wudaoliang"),
        ({"size": 0}, "size must be an integer"),
        ({"size": -5}, "size must be an integer"),
        ({"noise_scale": -0.1}, "noise_scale must be"),
        ({"noise": "loud"}, "Unknown noise preset"),
        ({"start": "2020-01-01", "end": "2020-01-05"}, "holds 1 acquisition"),
        ({"start": "2020-01-01", "end": "2019-01-01"}, "holds 0 acquisition"),
        ({"pixel_spacing": 0.0}, "pixel_spacing must be a positive"),
    ],
)
def test_bad_inputs_are_refused(kwargs, match):
    kwargs = {"region": "beiluhe", "size": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        simulate_region(kwargs.pop("region"), **kwargs)


def test_simulate_all_and_unknown_names():
    assert list(simulate("all", size=8, end="2017-02-28")) == list(REGIONS)
    with pytest.raises(ValueError, match="Unknown QTR-sim region 'kunlun'"):
        simulate(["beiluhe", "kunlun"], size=8)


def test_railway_geodata_matches_the_region_table():
    line = railway_line()
    assert line.iloc[0].tolist() == [94.9, 36.4] and line.iloc[-1].tolist() == [91.1, 29.65]
    table = region_table()
    assert list(table.index) == list(REGIONS)
    sites = study_sites()
    assert list(sites.index) == list(REGIONS)
    columns = ["name", "lon", "lat", "elevation_m"]
    pd.testing.assert_frame_equal(sites[columns], table[columns], check_names=False)


def test_cli_writes_one_file_per_region(tmp_path, capsys):
    out = tmp_path / "qtr-sim"
    code = main(["simulate", "--region", "all", "--out", str(out), "--size", "8",
                 "--end", "2017-03-31"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r}.nc" for r in REGIONS)
    assert "beiluhe.nc" in capsys.readouterr().out
    assert main(["simulate", "--region", "beiluhe", "--out", str(tmp_path / "b.zarr"),
                 "--size", "8", "--end", "2017-03-31", "--format", "zarr"]) == 0
    assert (tmp_path / "b.zarr").is_dir()
    assert main(["simulate", "--region", "nowhere", "--out", str(tmp_path / "x.nc")]) == 2
    assert "Valid regions" in capsys.readouterr().err
