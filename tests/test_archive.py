"""Tests for gler.archive: a profile's runs exported on one machine and imported on another."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import replace

import pandas as pd
import pytest
import torch
from _pipeline_stack import interrupt_after
from _tiny_profile import TINY

from gler import __version__
from gler.archive import (
    MANIFEST,
    _destination,
    export_runs,
    import_runs,
    profile_folders,
    read_manifest,
)
from gler.data.folds import Fold
from gler.data.multistack import shared_factors
from gler.data.sample import SplitDates
from gler.experiment import Experiment, profile_key
from gler.run import BEST_FILE, CHECKPOINT_FILE, RUN_FORMAT
from gler.train import train
from gler.tuned import TunedModel, TunedSettings

#: Three epochs, so that a run can stop after the first and resume.
PROFILE = replace(TINY, train=TINY.train.replace(epochs=3, patience=10))


def _interrupted(exp: Experiment, seed: int) -> None:
    """Train ``gler`` with ``seed`` into the experiment's run directory as the experiment
    would, stopping after the first epoch (a machine switched off)."""
    stacks = [exp.stack("beiluhe")]
    profile = exp.tuned_profile()

    with pytest.raises(KeyboardInterrupt):
        train(stacks, "gler", profile.train_config(seed, model="gler", device=exp.device),
              profile.model_overrides("gler"), exp.run_dir("beiluhe", "gler", seed),
              sample=profile.sample_spec(available=shared_factors(stacks)), progress=False,
              on_epoch_end=interrupt_after(1))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A cache with a finished run and its evaluation, an unfinished run and tuning files,
    exported to ``runs.tar.gz``."""
    root = tmp_path_factory.mktemp("machine-a")
    exp = Experiment(PROFILE, root=root / "runs")
    exp.evaluate("beiluhe", ("gler",), seeds=(0,))
    _interrupted(exp, 1)
    tuned = exp.base_path / "tuned"
    tuned.mkdir()
    (tuned / "tuned.json").write_text("{}\n")
    (tuned / "study.sqlite3").write_bytes(b"SQLite format 3\x00" + bytes(range(256)))
    summary = export_runs(exp, root / "runs.tar.gz")
    return exp, root / "runs.tar.gz", summary


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rewrite(archive, out, *, manifest=None, change=None, extra=()):
    """A copy of ``archive`` with manifest fields replaced, one member's bytes changed
    (``change``: name -> bytes) and ``extra`` members (TarInfo, bytes) added and listed."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]
    head = json.loads(members[0][1])
    head.update(manifest or {})
    for info, data in extra:
        head["files"].append({"path": info.name, "kind": "run", "size": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()})
    members[0] = (members[0][0], json.dumps(head).encode())
    with tarfile.open(out, "w:gz") as tar:
        for info, data in [*members, *extra]:
            data = (change or {}).get(info.name, data)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_the_archive_holds_what_resumes_and_leaves_out_what_is_recomputed(source):
    """Finished runs without their checkpoint, the unfinished one with it, tuning, the
    evaluation's report and maps; no stacks, no forecasts; a manifest saying where from."""
    exp, archive, summary = source
    assert (summary.runs, summary.unfinished, summary.evaluations, summary.tuned_files) == (
        2, 1, 1, 2)
    assert summary.left_out["stacks"] == 1 and summary.left_out["forecasts"] >= 2
    assert summary.left_out["finished runs' checkpoints"] == 1
    assert summary.size == archive.stat().st_size < 2**20
    assert "2 runs (1 finished, 1 unfinished" in summary.describe()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == MANIFEST
    seed0, seed1 = (exp.run_dir("beiluhe", "gler", s).relative_to(exp.root).as_posix()
                    for s in (0, 1))
    assert f"{seed1}/{CHECKPOINT_FILE}" in names and f"{seed0}/{CHECKPOINT_FILE}" not in names
    assert f"{seed0}/done.json" in names and f"{seed0}/{BEST_FILE}" in names
    assert not [n for n in names if "/data/" in n or "/forecasts/" in n]
    assert sum(n.endswith(("report.json", "maps.nc")) for n in names) == 2
    manifest = read_manifest(archive)
    assert manifest["gler_version"] == __version__ and manifest["run_format"] == RUN_FORMAT
    assert manifest["profile"] == "tiny" and manifest["keys"] == [exp.path.name]
    assert manifest["machine"]["device"] and pd.Timestamp(manifest["created"])
    assert len(manifest["files"]) == len(names) - 1 == summary.files


def test_import_round_trips_bit_identical_files_and_again_changes_nothing(source, tmp_path):
    """Every file arrives with the bytes it left with (evaluations in imported/, so they are
    recomputed); a second import writes nothing."""
    exp, archive, summary = source
    imported = import_runs(archive, tmp_path, profile=None)
    assert imported.written == summary.files and imported.unchanged == 0
    for entry in read_manifest(archive)["files"]:
        here = tmp_path / _destination(entry["path"])
        assert _sha(here) == _sha(exp.root / entry["path"]) == entry["sha256"]
    evaluation = next((tmp_path / exp.path.name / "beiluhe").glob("eval-*"))
    assert sorted(p.name for p in evaluation.iterdir()) == ["imported"]
    again = import_runs(archive, tmp_path)
    assert (again.written, again.unchanged) == (0, summary.files)
    assert not list(tmp_path.glob(".gler-import-*"))


def test_an_unfinished_run_resumes_after_import_to_the_uninterrupted_weights(source, tmp_path):
    """Machine B imports, finishes the interrupted run and evaluates from the imported runs:
    the weights are those of a run never interrupted (on CPU); the finished run is reused."""
    exp, archive, _ = source
    import_runs(archive, tmp_path / "b")
    other = Experiment(PROFILE, root=tmp_path / "b")
    whole = Experiment(PROFILE, root=tmp_path / "c")
    other._stacks = whole._stacks = exp._stacks  # the same simulation, not run again
    best = other.run_dir("beiluhe", "gler", 0) / BEST_FILE
    stamp = best.stat().st_mtime_ns
    assert other.train("beiluhe", "gler", 1)["epochs_run"] == 3
    whole.train("beiluhe", "gler", 1)
    for name in (BEST_FILE, CHECKPOINT_FILE):
        resumed = torch.load(other.run_dir("beiluhe", "gler", 1) / name, weights_only=True)
        uninterrupted = torch.load(whole.run_dir("beiluhe", "gler", 1) / name,
                                   weights_only=True)
        resumed, uninterrupted = (w.get("model", w) for w in (resumed, uninterrupted))
        assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    result = other.evaluate("beiluhe", ("gler",), seeds=(0,))
    assert best.stat().st_mtime_ns == stamp and "gler" in result.forecasts


def test_another_version_run_format_or_profile_is_refused(source, tmp_path):
    """Each refusal names the reason and the remedy, and writes nothing."""
    _, archive, _ = source
    old = _rewrite(archive, tmp_path / "old.tar.gz", manifest={"gler_version": "0.0.9"})
    with pytest.raises(ValueError, match=r"gler 0\.0\.9.*Install gler 0\.0\.9"):
        import_runs(old, tmp_path / "root")
    fmt = _rewrite(archive, tmp_path / "fmt.tar.gz", manifest={"run_format": 1})
    with pytest.raises(ValueError, match=f"run format 1; .* reads run format {RUN_FORMAT}"):
        import_runs(fmt, tmp_path / "root")
    with pytest.raises(ValueError, match=r"profile 'tiny', not 'book'.*--profile tiny"):
        import_runs(archive, tmp_path / "root", profile="book")
    with pytest.raises(ValueError, match="not a gler run archive"):
        import_runs(_plain_tar(tmp_path / "plain.tar"), tmp_path / "root")
    assert list((tmp_path / "root").iterdir()) == []


def _plain_tar(path):
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("notes.txt")
        tar.addfile(info, io.BytesIO(b""))
    return path


def test_a_damaged_file_is_refused_by_its_checksum(source, tmp_path):
    """A member whose bytes differ from the manifest's checksum stops the import whole."""
    exp, archive, _ = source
    name = (exp.run_dir("beiluhe", "gler", 0) / "run.json").relative_to(exp.root).as_posix()
    damaged = _rewrite(archive, tmp_path / "damaged.tar.gz", change={name: b'{"format": 2}'})
    with pytest.raises(ValueError, match=r"does not match the checksum.*Copy it again"):
        import_runs(damaged, tmp_path / "root")
    assert list((tmp_path / "root").iterdir()) == []


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/gler-evil.txt", "{key}/../../evil.txt",
                                  "{key}/link"], ids=["dotdot", "absolute", "inside", "link"])
def test_a_member_leaving_the_root_is_refused(source, tmp_path, name):
    """Absolute paths, '..' and links are refused before anything is written."""
    exp, archive, _ = source
    info = tarfile.TarInfo(name.format(key=exp.path.name))
    if name.endswith("link"):
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    bad = _rewrite(archive, tmp_path / "bad.tar.gz", extra=[(info, b"")])
    reason = "symbolic link" if name.endswith("link") else "absolute or leaves the cache root"
    with pytest.raises(ValueError, match=f"{reason}.*not written by gler runs export"):
        import_runs(bad, tmp_path / "root" / "runs")
    assert list((tmp_path / "root" / "runs").iterdir()) == []
    assert not (tmp_path / "root" / "evil.txt").exists()


def test_a_local_file_with_other_bytes_is_never_replaced(source, tmp_path):
    """A finished local run whose weights differ from the archive's refuses the import, and
    keeps its weights."""
    exp, archive, _ = source
    import_runs(archive, tmp_path)
    best = tmp_path / exp.run_dir("beiluhe", "gler", 0).relative_to(exp.root) / BEST_FILE
    best.write_bytes(b"trained here")
    with pytest.raises(ValueError, match=r"already exist .* other contents.*1 of them finished"
                                         r".*move or delete those folders"):
        import_runs(archive, tmp_path)
    assert best.read_bytes() == b"trained here"


def test_a_tuned_profile_exports_the_folder_of_its_tuned_runs(tmp_path):
    """A profile that tunes: its own folder (tuning) and the tuned profile's (runs), found
    from tuned.json without tuning or simulating anything."""
    tuning = replace(TINY, name="tiny-tuning", tuning="smoke")
    exp = Experiment(tuning, root=tmp_path)
    settings = TunedSettings(
        models={"gler": TunedModel(
            model="gler", family="gler", train_changes={"lr": 1e-3}, model_overrides={},
            epochs=2, value_mm=2.5, fold_values_mm=(2.4,), params={"lr": 1e-3}, study="gler",
            trials={"complete": 3, "pruned": 0, "fail": 0})},
        gler_version=__version__, profile="tiny-tuning", budget="smoke", seed=0, n_trials=3,
        sampler="TPESampler", pruner="MedianPruner",
        folds=(Fold(1, SplitDates(pd.Timestamp("2019-12-31"), pd.Timestamp("2020-12-31"))),),
        data=({"name": "beiluhe", "fingerprint": "0"},), through="2020-12-31", pooled=True,
        sample={}, study_file="study.sqlite3", date="2025-01-01T00:00:00+00:00")
    assert profile_folders(exp) == [exp.base_path]
    (exp.base_path / "tuned").mkdir(parents=True)
    settings.save(exp.base_path / "tuned" / "tuned.json")
    folders = profile_folders(exp)
    assert folders == [exp.base_path, tmp_path / profile_key(tuning.with_tuned(settings))]
    assert folders[1].name.startswith("tiny-tuning-tuned-") and not exp._stacks


def test_an_archive_name_chooses_the_compression(source, tmp_path):
    """.tar.xz is xz, .tar plain; another ending is refused with examples."""
    exp, _, summary = source
    assert export_runs(exp, tmp_path / "r.tar.xz").files == summary.files
    assert export_runs(exp, tmp_path / "r.tar").size > summary.size
    with pytest.raises(ValueError, match=r"ends in \.tar.*paper-runs\.tar\.gz"):
        export_runs(exp, tmp_path / "r.zip")
