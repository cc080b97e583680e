"""Tests for the railway geography of the overview map (gler/data/geography.py)."""

from __future__ import annotations

import gler.data.qtrsim
from gler.data.geography import railway_line, railway_stations, study_sites


def test_railway_runs_from_golmud_to_lhasa_through_its_stations():
    line = railway_line()
    stations = railway_stations()
    assert line.iloc[0].tolist() == [94.9, 36.4] and line.iloc[-1].tolist() == [91.1, 29.65]
    assert stations["name"].iloc[0] == "Golmud" and stations["name"].iloc[-1] == "Lhasa"
    assert stations[["lon", "lat"]].values.tolist() == line.values.tolist()


def test_study_sites_are_stations_with_an_elevation():
    sites = study_sites()
    assert list(sites.index) == ["xidatan", "wudaoliang", "beiluhe", "tuotuohe"]
    assert list(sites.columns) == ["name", "lon", "lat", "elevation_m"]
    stations = railway_stations().set_index("name")
    for site in sites.itertuples():
        assert (site.lon, site.lat) == tuple(stations.loc[site.name, ["lon", "lat"]])
    assert sites["elevation_m"].between(4000, 5000).all()


def test_qtrsim_keeps_the_railway_names():
    assert gler.data.qtrsim.railway_line is railway_line
    assert gler.data.qtrsim.railway_stations is railway_stations
