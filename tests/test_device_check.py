"""The GPU check script's parts that run anywhere: requirements, refusal without CUDA, the
deadline, and the archive split into parts small enough to come back from the device."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from gler.archive import import_runs
from gler.experiment import Experiment

from ._tiny_profile import TINY

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("gler_device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_missing_packages_are_named(check, monkeypatch):
    monkeypatch.setattr(check, "NEEDED", ("xarray", "no_such_package_for_gler"))
    assert check.missing_packages() == ["no_such_package_for_gler"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_without_cuda_the_check_stops_and_says_why(check, tmp_path, capsys):
    assert check.main([str(tmp_path)]) == 2
    assert "CUDA available: False" in capsys.readouterr().err
    results = json.loads((tmp_path / "device_check.json").read_text())
    assert results["machine"]["gpu"] is None
    assert "requirements" in results["stages"]


def test_training_is_stopped_at_the_deadline(check, tmp_path):
    target = check.Target("smoke", None, tmp_path / "runs", "cpu")
    stopped = check.train_stage(target, 1, 2, what="solo")
    assert stopped["stopped_at_deadline"] is True
    assert stopped["returncode"] != 0


def test_a_large_archive_comes_back_in_parts_that_join_to_it(check, tmp_path, monkeypatch):
    exp = Experiment(TINY, root=tmp_path / "runs")
    exp.train("beiluhe", "gler", 0)
    monkeypatch.setattr(check.Target, "experiment", lambda self: exp)
    monkeypatch.setattr(check, "PART_BYTES", 4096)
    out = tmp_path / "out"
    out.mkdir()
    written = check.write_archive(check.Target("tiny", None, exp.root, "cpu"), out)
    assert len(written["parts"]) == -(-written["bytes"] // 4096) > 1
    assert not (out / written["path"]).exists()
    joined = tmp_path / written["path"]
    joined.write_bytes(b"".join((out / part).read_bytes() for part in written["parts"]))
    summary = import_runs(joined, tmp_path / "elsewhere")
    assert summary.runs == written["runs"] == 1
    assert (tmp_path / "elsewhere" / exp.run_dir("beiluhe", "gler", 0).relative_to(exp.root)
            / "best.pt").read_bytes() == (exp.run_dir("beiluhe", "gler", 0)
                                          / "best.pt").read_bytes()


def test_evaluations_are_timed_as_the_chapters_ask_for_them(check, tmp_path, monkeypatch):
    """Chapter 8's comparison, the ablations and chapter 10's probabilistic evaluation (with
    GLER's quantile head), each timed per region."""
    profile = dataclasses.replace(TINY, seeds=(0,))
    exp = Experiment(profile, root=tmp_path / "runs")
    monkeypatch.setattr(check.Target, "experiment", lambda self: exp)
    timed = check.evaluate_all(check.Target("tiny", None, exp.root, "cpu"))["seconds"]
    assert set(timed) == {"comparison", "ablations", "probabilistic"}
    assert all(set(per_region) == {"beiluhe"} and per_region["beiluhe"] > 0
               for per_region in timed.values())
    report = exp.evaluate("beiluhe", ("gler",), (0,), probabilistic=True,
                          heads=("gler",)).report  # the cached one
    assert {"gler", "gler+quantiles", "persistence"} <= {
        label for label, entry in report["models"].items() if "probabilistic" in entry}


def test_the_cuda_test_files_import_only_what_the_check_requires(check):
    """The tests stage collects every file with a CUDA test on a bare GPU machine: each of them,
    the conftest files pytest loads for them and the tests' helpers import only the standard
    library, PyTorch, numpy, gler, those helpers and the packages the check asks for
    (:data:`NEEDED`)."""
    tests = SCRIPT.parents[1] / "tests"
    helpers = {p.stem for p in tests.rglob("*.py")} | {"tests"}
    allowed = {*sys.stdlib_module_names, "numpy", "torch", "gler", *check.NEEDED, *helpers}
    files = [p for p in sorted(tests.rglob("test_*.py")) if "mark.cuda" in p.read_text()]
    assert len(files) >= 5
    conftests = {folder / "conftest.py" for path in files
                 for folder in path.parents if folder.is_relative_to(tests)}
    files += sorted(p for p in conftests if p.is_file())
    files += sorted(tests.rglob("_*.py"))
    for path in files:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
        assert imported <= allowed, (path.name, sorted(imported - allowed))


def test_the_streams_stage_compares_layouts_on_runs_of_their_own(check, tmp_path):
    """Each (jobs, streams) layout trains its own short runs (two epochs each) in a child
    process; the summed second-epoch rate of each, and the fastest layout, are reported."""
    target = check.Target("smoke", None, tmp_path / "runs", "cpu")
    result = check.streams_stage(target, 300, layouts=((1, 1), (1, 2)), runs=2, windows=64)
    assert set(result["layouts"]) == {"1x1", "1x2"}
    for name, layout in result["layouts"].items():
        assert layout["finished"] == 2 and layout["returncode"] == 0, name
        assert layout["windows_per_s_sum"] > 0
    assert result["best"] in {"1x1", "1x2"}
    short = target.short_experiment(64)
    seeds = sorted(int(p.name[4:]) for p in (short.path / "beiluhe" / "gler").glob("seed*"))
    assert seeds == [0, 1, 2, 3]  # no layout reused another's runs
