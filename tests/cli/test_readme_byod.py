"""The README's 'Bring your own data' examples run as written (the fenced blocks are read
from the README and run in a folder holding files in the shapes it shows)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _point_tables import point_table

from gler.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.slow


def readme_commands(name: str) -> list[list[str]]:
    """The gler commands of the bash block after ``<!-- readme-test: name -->``."""
    text = README.read_text()
    match = re.search(rf"<!-- readme-test: {name} -->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README has no block marked readme-test: {name}"
    lines = match.group(1).replace("\\\n", " ").splitlines()
    commands = [shlex.split(line) for line in lines if line.strip()]
    assert all(c[0] == "gler" for c in commands), commands
    return [c[1:] for c in commands]


def write_readme_files(folder: Path) -> None:
    """points.csv (pid, latitude, longitude, date columns, mm) and point-factors.csv (date,
    pid, factors), as the README shows them."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2018-01-06", "2022-12-20", freq="12D")
    n = 6
    point_table(dates, n, rng, spacing=0.01).to_csv(folder / "points.csv", index=False)
    days = pd.date_range("2017-12-01", dates[-1], freq="D")
    season = np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365.25)
    rows = [pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "pid": f"P{i}",
                          "air_temperature": (-4 + 12 * season + 0.5 * i).round(2),
                          "precipitation": rng.gamma(0.3, 3.0, len(days)).round(2)})
            for i in range(n)]
    pd.concat(rows).sort_values(["date", "pid"]).to_csv(folder / "point-factors.csv",
                                                         index=False)


@pytest.mark.parametrize("name", ["no-factors", "per-point"])
def test_readme_example_runs_as_written(name, tmp_path, monkeypatch):
    """Each command of the block exits 0 and writes what it names."""
    write_readme_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    commands = readme_commands(name)
    assert [c[0] for c in commands] == ["train", "predict", "evaluate"]
    for argv in commands:
        assert main(argv) == 0, argv
        out = Path(argv[argv.index("--out") + 1])
        assert out.exists(), argv
    run = Path(commands[0][commands[0].index("--out") + 1])
    factors = json.loads((run / "run.json").read_text())["sample"]["factors"]
    if name == "no-factors":
        assert factors == ["day_of_year_sin", "day_of_year_cos"]
    else:
        assert "air_temperature" in factors
