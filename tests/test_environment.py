"""environment.yml (Binder/conda) names the same dependencies and bounds as pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge package names that differ from the PyPI names.
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    """('name', 'specifier') of a requirement, extras dropped, names normalised."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return CONDA_TO_PYPI.get(name, name), match.group(3).replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"],
                    *(r for extra in ("book", "dask", "tune", "geotiff") for r in extras[extra])]
    return {name: spec for name, spec in map(_split, requirements) if name != "gler"}


def _environment() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    named = dict(_split(d) for d in conda)
    return {k: v for k, v in named.items() if k not in NOT_PACKAGES}, pip


def test_environment_names_the_same_dependencies_as_pyproject():
    """Runtime + book + dask + tune + geotiff extras of pyproject.toml == the conda packages of
    environment.yml."""
    conda, _ = _environment()
    pyproject = _pyproject()
    assert sorted(set(pyproject) - set(conda)) == [], "missing from environment.yml"
    assert sorted(set(conda) - set(pyproject)) == [], "missing from pyproject.toml"
    differing = {n: (pyproject[n], conda[n]) for n in pyproject if pyproject[n] != conda[n]}
    assert differing == {}, "version bounds differ (pyproject, environment.yml)"


def test_environment_installs_this_package_with_its_extras():
    """Binder installs the checkout itself, editable, with the book and dask extras."""
    _, pip = _environment()
    assert any(re.fullmatch(r"-e\s+\.\[(book,dask|dask,book)\]", line) for line in pip), pip


def test_environment_uses_cpu_pytorch():
    """No CUDA build is pulled on CPU machines (Binder)."""
    conda, _ = _environment()
    env = (ROOT / "environment.yml").read_text()
    assert "torch" in conda and "pytorch-cpu" in env and "cuda" not in env.lower()
