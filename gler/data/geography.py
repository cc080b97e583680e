"""Geography of the Qinghai–Tibet Railway for overview maps: the railway, its stations and the
four study sites, read from the package's own ``gler/data/geo/qtr.geojson``.

The coordinates are approximate (about 0.05–0.1°), read from published maps and station
gazetteers; the railway polyline joins the stations and is meant for overview maps only.

Example
-------
>>> study_sites().loc["beiluhe", ["lon", "lat", "elevation_m"]].tolist()
[92.93, 34.82, 4620.0]
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

#: The project's own overview geodata (installed as package data).
GEOJSON = Path(__file__).resolve().parent / "geo" / "qtr.geojson"


def _features(kind: str) -> list[dict]:
    """The GeoJSON features whose ``kind`` property is ``kind``, in file order."""
    collection = json.loads(GEOJSON.read_text(encoding="utf-8"))
    return [f for f in collection["features"] if f["properties"]["kind"] == kind]


def railway_line() -> pd.DataFrame:
    """The Qinghai–Tibet Railway (Golmud–Lhasa) as an approximate polyline.

    Returns
    -------
    pandas.DataFrame
        Columns ``lon``, ``lat`` (degrees) in order from Golmud to Lhasa; the vertices are the
        approximate station coordinates (also listed by :func:`railway_stations`).

    Example
    -------
    >>> line = railway_line()
    >>> line.iloc[0].tolist(), line.iloc[-1].tolist()
    ([94.9, 36.4], [91.1, 29.65])
    """
    feature = _features("railway")[0]
    return pd.DataFrame(feature["geometry"]["coordinates"], columns=["lon", "lat"])


def railway_stations() -> pd.DataFrame:
    """Approximate coordinates of the railway stations: columns ``name``, ``lon``, ``lat``."""
    rows = [{"name": f["properties"]["name"], "lon": f["geometry"]["coordinates"][0],
             "lat": f["geometry"]["coordinates"][1]} for f in _features("station")]
    return pd.DataFrame(rows)


def study_sites() -> pd.DataFrame:
    """The four study sites along the railway (the QTR-sim regions).

    Returns
    -------
    pandas.DataFrame
        Indexed by site id (``xidatan``, ``wudaoliang``, ``beiluhe``, ``tuotuohe``, north to
        south) with columns ``name``, ``lon``, ``lat`` (degrees) and ``elevation_m``.
    """
    rows = [{"site": f["properties"]["id"], "name": f["properties"]["name"],
             "lon": f["geometry"]["coordinates"][0], "lat": f["geometry"]["coordinates"][1],
             "elevation_m": float(f["properties"]["elevation_m"])} for f in _features("region")]
    return pd.DataFrame(rows).set_index("site")
