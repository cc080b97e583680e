"""``gler runs export`` and ``gler runs import`` through the command line."""

from __future__ import annotations

import pytest
from _tiny_profile import TINY

from gler import profiles
from gler.cli import build_parser, main
from gler.experiment import Experiment


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache root holding one finished run of the (registered) tiny profile and its stack;
    the files are placeholders: the archive copies bytes and reads none of them."""
    monkeypatch.setitem(profiles.PROFILES, "tiny", TINY)
    exp = Experiment("tiny", root=tmp_path / "a")
    run = exp.run_dir("beiluhe", "gler", 0)
    run.mkdir(parents=True)
    for name in ("run.json", "scaler.json", "best.pt", "train_log.jsonl", "done.json",
                 "checkpoint.pt"):
        (run / name).write_bytes(name.encode() * 10)
    (exp.base_path / "data").mkdir()
    (exp.base_path / "data" / "beiluhe.nc").write_bytes(b"stack")
    return tmp_path


def test_every_option_of_gler_runs_has_help():
    """gler runs export/import --help explain every option."""
    parser = build_parser()
    runs = next(action for action in parser._subparsers._group_actions
                if action.dest == "command").choices["runs"]
    actions = next(a for a in runs._actions if a.dest == "runs_command").choices
    for action in (*runs._actions, *actions["export"]._actions, *actions["import"]._actions):
        assert action.help, action.option_strings


def test_export_then_import_on_another_root(cache, capsys, monkeypatch):
    """Export prints the size and the counts; import into GLER_RUNS_DIR writes the run, a
    second import nothing; another --profile is refused in one line naming the flag."""
    archive = cache / "tiny-runs.tar.gz"
    assert main(["runs", "export", str(archive), "--profile", "tiny",
                 "--root", str(cache / "a")]) == 0
    out = capsys.readouterr().out
    assert "MiB" in out and "1 runs (1 finished, 0 unfinished" in out and "1 stacks" in out
    monkeypatch.setenv("GLER_RUNS_DIR", str(cache / "b"))
    assert main(["runs", "import", str(archive), "--profile", "tiny"]) == 0
    assert "5 files written, 0 already there" in capsys.readouterr().out
    run = Experiment("tiny", root=cache / "b").run_dir("beiluhe", "gler", 0)
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "done.json", "run.json",
                                                     "scaler.json", "train_log.jsonl"]
    assert main(["runs", "import", str(archive), "--root", str(cache / "b")]) == 0
    assert "0 files written, 5 already there" in capsys.readouterr().out
    assert main(["runs", "import", str(archive), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "--profile tiny" in err and len(err.splitlines()) == 1
