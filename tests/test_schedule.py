"""Tests for gler.schedule: many runs at once, each as it is alone (CPU, tiny profile)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

import pytest
from _tiny_profile import TINY

from gler import schedule
from gler.experiment import Experiment
from gler.schedule import RunJob, RunsFailedError, cap_jobs


def _weights(exp: Experiment, seeds) -> list[str]:
    return [hashlib.sha256((exp.run_dir("beiluhe", "gler", s) / "best.pt").read_bytes())
            .hexdigest() for s in seeds]


@pytest.mark.slow
def test_two_jobs_train_the_same_weights_as_one(tmp_path):
    """Each run in its own process ends with the same weights, bit for bit, as in one process;
    a second call reuses them all."""
    one = Experiment(TINY, root=tmp_path / "one")
    two = Experiment(TINY, root=tmp_path / "two")
    first = one.train_all(jobs=1)
    second = two.train_all(jobs=2)
    assert _weights(one, TINY.seeds) == _weights(two, TINY.seeds)
    assert list(second["seed"]) == list(first["seed"]) == [0, 1]
    assert list(second["best_val_loss"]) == list(first["best_val_loss"])
    again = two.train_all(jobs=2)
    assert again.equals(second)


@pytest.mark.parametrize("layout", [pytest.param({"jobs": 2}, marks=pytest.mark.slow),
                                    {"streams": 2}], ids=["processes", "turns"])
def test_a_failing_run_is_named_and_the_others_finish(tmp_path, layout):
    """A damaged checkpoint fails its run only, whether the runs train in processes of their
    own or take turns in one: the error names it, the other run is done, and running again
    (the damage removed) trains just the failed one."""
    exp = Experiment(TINY, root=tmp_path)
    broken = exp.run_dir("beiluhe", "gler", 1)
    broken.mkdir(parents=True)
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunsFailedError, match=r"1 of 2 runs failed") as caught:
        exp.train_all(**layout)
    assert list(caught.value.failures) == ["beiluhe/gler/seed1"]
    assert "checkpoint.pt" in caught.value.failures["beiluhe/gler/seed1"]
    assert "beiluhe/gler/seed1" in str(caught.value)
    assert exp.is_done("beiluhe", "gler", 0) and not exp.is_done("beiluhe", "gler", 1)
    assert [s["seed"] for s in caught.value.summaries] == [0]
    (broken / "checkpoint.pt").unlink()
    assert list(exp.train_all(**layout)["seed"]) == [0, 1]


def test_jobs_are_capped_to_the_cores_with_a_reason(tmp_path, monkeypatch, caplog):
    """More jobs than CPU cores are capped, and the warning says so and why."""
    assert cap_jobs(3, "cpu", cores=2) == (
        2, "capped --jobs 3 to 2 because this machine has 2 CPU cores")
    assert cap_jobs(2, "cpu", cores=2) == (2, None)
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        cap_jobs(0, "cpu")
    with pytest.raises(ValueError, match="--streams must be at least 1"):
        cap_jobs(2, "cpu", streams=0)
    monkeypatch.setattr(schedule.os, "cpu_count", lambda: 1)
    exp = Experiment(TINY, root=tmp_path)
    with caplog.at_level(logging.WARNING, logger="gler.schedule"):
        summary = exp.train_all(seeds=(0,), jobs=4)
    assert "capped --jobs 4 to 1 because this machine has 1 CPU cores" in caplog.text
    assert list(summary["seed"]) == [0]


def test_jobs_on_a_gpu_are_capped_to_its_free_memory_per_run(monkeypatch):
    """On a GPU each run of a process (--streams of them) counts against the free memory."""
    import torch

    import gler.run

    monkeypatch.setattr(gler.run, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (10 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "a test GPU")
    assert cap_jobs(8, "cuda", streams=2, cores=16) == (
        2, "capped --jobs 8 to 2 because 10.0 GiB are free on a test GPU and 2 runs "
           "(--streams 2) need about 4.0 GiB (gler.schedule.RUN_MEMORY_CUDA per run)")
    assert cap_jobs(8, "cuda", cores=16)[0] == 5
    assert cap_jobs(1, "cuda", streams=8, cores=16) == (1, None)


def test_planned_runs_are_those_the_chapters_train():
    """In-region runs of GLER and the compared models × seeds, ablations with the first seed,
    GLER's transfers × seeds, GLER's quantile head and the previous fold's runs (seed 0)."""
    book = replace(TINY, compare=True, seeds=(0, 1))
    runs = Experiment(book, root="unused").planned_runs()
    names = {run.name for run in runs}
    assert "beiluhe/gler/seed1" in names and "beiluhe/lstm/seed1" in names
    assert "beiluhe/gler-gru/seed0" in names and "beiluhe/gler-gru/seed1" not in names
    assert {"transfer-to-beiluhe/gler/seed0", "transfer-to-beiluhe/gler/seed1"} <= names
    assert {"beiluhe/gler+quantiles/seed0", "beiluhe/fold1/gler/seed0",
            "beiluhe/fold1/gler+quantiles/seed0"} <= names
    assert not {"beiluhe/gler+quantiles/seed1", "beiluhe/fold1/lstm/seed0"} & names
    assert len(names) == len(runs)
    assert RunJob("beiluhe", transfer=True).sources(Experiment(book, root="unused")) == (
        "xidatan", "wudaoliang", "tuotuohe")


def test_reproduce_jobs_reaches_the_scheduler(monkeypatch):
    """gler reproduce --jobs N trains the planned runs N at a time before the chapters."""
    from gler import reproduce
    from gler.cli import build_parser, main

    assert build_parser().parse_args(["reproduce"]).jobs == "auto"
    seen = {}

    def fake_train_runs(self, runs, *, jobs=1, streams=1):
        seen.update(profile=self.profile.name, jobs=jobs, streams=streams, runs=len(runs))

    monkeypatch.setattr(Experiment, "train_runs", fake_train_runs)
    monkeypatch.setattr(reproduce, "reproduce", lambda **kw: seen.update(kw) or [])
    assert main(["reproduce", "--profile", "smoke", "--jobs", "3", "--no-build"]) == 0
    assert seen["jobs"] == 3 and seen["streams"] == 1
    assert main(["reproduce", "--profile", "smoke", "--jobs", "2", "--streams", "4",
                 "--no-build"]) == 0
    assert seen["jobs"] == 2 and seen["streams"] == 4
    reproduce.train_planned("smoke", jobs=3, streams=2, progress=False)
    assert seen["profile"] == "smoke" and seen["runs"] >= 1
    assert seen["jobs"] == 3 and seen["streams"] == 2


def test_reproduce_jobs_auto_is_one_per_core_for_the_whole_book(monkeypatch, capsys):
    """--jobs auto (the default) trains one run per core when the whole book runs and one at a
    time for selected chapters; a number that is not positive is refused, naming the flag."""
    from gler.cli import main
    from gler.cli import reproduce as cli

    seen = []
    monkeypatch.setattr("gler.reproduce.reproduce", lambda **kw: seen.append(kw["jobs"]) or [])
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 6)
    assert main(["reproduce", "--no-build"]) == 0
    assert main(["reproduce", "--chapters", "02", "--no-build"]) == 0
    assert main(["reproduce", "--chapters", "02", "--jobs", "2", "--no-build"]) == 0
    assert seen == [6, 1, 2]
    with pytest.raises(SystemExit):
        main(["reproduce", "--jobs", "0"])
    assert "--jobs takes a positive number or 'auto'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "--streams", "0"])
    assert "--streams takes a positive number, not '0'" in capsys.readouterr().err


def test_runs_in_turns_show_one_bar_over_the_runs(tmp_path, capsys):
    """With progress on, runs taking turns in this process show the bar over the runs, not
    their epoch bars, which would interleave in one terminal; a run alone shows its own."""
    Experiment(TINY, root=tmp_path / "turns", progress=True).train_all(streams=2)
    turns = capsys.readouterr().err
    assert "train (2 streams)" in turns
    assert "epoch 1/" not in turns
    Experiment(TINY, root=tmp_path / "alone", progress=True).train_all(seeds=(0,))
    assert "epoch 1/" in capsys.readouterr().err
