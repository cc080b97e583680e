"""Portable run archives: a profile's runs, tuning and evaluations in one tar file.

``export_runs`` writes what another machine needs to go on where this one stopped, or to
publish the book from runs made here; ``import_runs`` puts it under another cache root
(:func:`gler.experiment.runs_root`). One archive (``.tar``, ``.tar.gz``/``.tgz`` or
``.tar.xz``/``.txz``, by its name) holds, under the profile's cache folders
(:mod:`gler.experiment`):

- every run directory's ``run.json``, ``scaler.json``, ``best.pt``, ``train_log.jsonl`` and
  ``done.json``, and ``checkpoint.pt`` only for an unfinished run (no ``done.json``), which
  resumes from it on the next machine (:func:`gler.train.train`);
- the ``tuned/`` folder (``tuned.json``, ``study.sqlite3``);
- each evaluation's ``report.json`` and ``maps.nc``;
- ``manifest.json`` first: the gler version, the run format, the profile, its cache folders,
  when and where the archive was made, and the SHA-256 of every file.

Left out, because they are recomputed: the simulated stacks (``data/``: the simulation is
deterministic), the evaluations' forecasts (``forecasts/*.nc``, large), the peers' forecasts
(``peers/``), the checkpoints of finished runs and anything else.

Import refuses an archive of another gler version, run format or (with ``profile``) profile, a
damaged file (checksum), and a member that is not a plain file or whose path leaves the root;
it checks everything before it writes anything, and only copies bytes (nothing is unpickled).
It never replaces a local file: a file that exists with other contents (a run finished or
resumed here) refuses the whole import, naming it; identical files are left as they are, so
importing twice changes nothing. An evaluation's ``report.json`` and ``maps.nc`` are imported
into its ``imported/`` subfolder (provenance): without its forecasts the evaluation is not
complete, so :class:`~gler.experiment.Experiment` computes it again from the imported runs.

Example
-------
>>> export_runs(Experiment("paper"), "paper-runs.tar.gz")  # doctest: +SKIP
>>> import_runs("paper-runs.tar.gz", profile="paper")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from gler import __version__
from gler.experiment import DONE_FILE, Experiment, profile_key, runs_root
from gler.profiles import Profile, get_profile
from gler.run import BEST_FILE, CHECKPOINT_FILE, LOG_FILE, RUN_FILE, RUN_FORMAT, SCALER_FILE
from gler.tune import TUNED_FILE
from gler.tuned import read_tuned

#: Version of the archive layout (the manifest's ``archive_format``).
ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
#: The files of a run directory that travel; the checkpoint only with an unfinished run.
RUN_FILES = (RUN_FILE, SCALER_FILE, BEST_FILE, LOG_FILE, DONE_FILE)
#: The files of an evaluation folder (``eval-<key>``) that travel.
EVALUATION_FILES = ("report.json", "maps.nc")
#: Where an evaluation's files go on import, inside its folder.
IMPORTED = "imported"
#: Archive name endings and their tarfile compression.
COMPRESSION = {".tar": "", ".tar.gz": "gz", ".tgz": "gz", ".tar.xz": "xz", ".txz": "xz"}
#: The largest manifest read (a bigger one is not gler's).
_MAX_MANIFEST = 64 * 2**20
_CHUNK = 2**20


@dataclass
class ArchiveSummary:
    """What an export wrote or an import read: the archive, its size and what it holds.

    Attributes
    ----------
    path
        The archive file.
    size
        Its size in bytes.
    profile, keys
        The profile and its cache folders (names under the root).
    runs, unfinished, evaluations, tuned_files, files
        Run directories (of which ``unfinished`` carry their checkpoint), evaluations, files
        of ``tuned/``, and all files in the archive.
    left_out
        Export: files not carried, by reason (``"data"``, ``"forecasts"``, ...).
    written, unchanged
        Import: files written, and files that were already there with the same bytes.
    root
        Import: the cache root written to.
    """

    path: Path
    size: int
    profile: str
    keys: list[str]
    runs: int
    unfinished: int
    evaluations: int
    tuned_files: int
    files: int
    left_out: dict[str, int] = field(default_factory=dict)
    written: int = 0
    unchanged: int = 0
    root: Path | None = None

    def describe(self) -> str:
        """One line: size and counts."""
        text = (f"{self.path}: {self.size / 2**20:.2f} MiB, profile {self.profile}, "
                f"{self.runs} runs ({self.runs - self.unfinished} finished, {self.unfinished} "
                f"unfinished with their checkpoint), {self.evaluations} evaluations, "
                f"{self.tuned_files} tuning files, {self.files} files")
        if self.left_out:
            text += "; left out (recomputed): " + ", ".join(
                f"{n} {reason}" for reason, n in sorted(self.left_out.items()))
        if self.root is not None:
            text += (f"; imported into {self.root}: {self.written} files written, "
                     f"{self.unchanged} already there")
        return text


# -- export -------------------------------------------------------------------------------------
def profile_folders(experiment: Experiment) -> list[Path]:
    """The cache folders of ``experiment``'s profile: its own (tuning, stacks) and, when the
    profile tunes and has tuned, the tuned profile's (the runs); nothing is tuned or simulated
    to find them."""
    folders = [experiment.base_path]
    profile: Profile | None = experiment.profile
    if profile.tuning is not None and profile.tuned is None:
        tuned_file = experiment.base_path / "tuned" / TUNED_FILE
        profile = profile.with_tuned(read_tuned(tuned_file)) if tuned_file.is_file() else None
    if profile is not None:
        path = experiment.root / profile_key(profile)
        if path != experiment.base_path:
            folders.append(path)
    return folders


def export_runs(source: Experiment | Profile | str, path: str | Path, *,
                root: str | Path | None = None) -> ArchiveSummary:
    """Write the runs, tuning and evaluations of a profile's cache into one archive.

    Parameters
    ----------
    source
        An :class:`~gler.experiment.Experiment`, or a profile (name or
        :class:`~gler.profiles.Profile`) whose cache under ``root`` is exported.
    path
        The archive; its ending chooses the compression (``.tar``, ``.tar.gz``, ``.tgz``,
        ``.tar.xz``, ``.txz``). Written whole, then renamed: never half-written.
    root
        Cache root when ``source`` is a profile (default :func:`gler.experiment.runs_root`).

    Returns
    -------
    ArchiveSummary
        The archive's size and counts, and what was left out.

    Raises
    ------
    ValueError
        For an archive name of another ending, or a file that changed while it was exported
        (a run still training).
    FileNotFoundError
        If the profile has no cache under the root.
    """
    path = Path(path)
    mode = "w:" + _compression(path) if _compression(path) else "w"
    experiment = source if isinstance(source, Experiment) else Experiment(source, root=root)
    folders = [f for f in profile_folders(experiment) if f.is_dir()]
    if not folders:
        msg = (f"Profile {experiment.base_profile.name} has no cache in {experiment.root} "
               f"({experiment.base_path.name}): nothing to export. Name the cache root with "
               "--root (or GLER_RUNS_DIR), or run the experiment first.")
        raise FileNotFoundError(msg)
    files, left_out = [], Counter()
    for folder in folders:
        for file in _walk(folder):
            kind = _kind(file, file.relative_to(folder))
            if kind in ("run", "checkpoint", "tuned", "evaluation"):
                files.append((file, file.relative_to(experiment.root).as_posix(), kind))
            else:
                left_out[kind] += 1
    entries = [{"path": name, "kind": kind, "size": file.stat().st_size,
                "sha256": _sha256_file(file)} for file, name, kind in files]
    manifest = {
        "archive_format": ARCHIVE_FORMAT, "gler_version": __version__, "run_format": RUN_FORMAT,
        "profile": experiment.base_profile.name, "base_key": folders[0].name,
        "keys": [f.name for f in folders],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(), "files": entries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    try:
        with tarfile.open(part, mode) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
            for (file, name, _), entry in zip(files, entries, strict=True):
                data = file.read_bytes()
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    msg = (f"{file} changed while it was exported (a run still training?); "
                           "export again when nothing trains in this cache.")
                    raise ValueError(msg)
                _add_bytes(tar, name, data, mtime=int(file.stat().st_mtime))
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return _summary(manifest, path, left_out=dict(left_out))


def _walk(folder: Path) -> list[Path]:
    """Every plain file under ``folder`` (symbolic links are not followed), sorted."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs.sort()
        found += [Path(top) / n for n in sorted(names) if (Path(top) / n).is_file()
                  and not (Path(top) / n).is_symlink()]
    return found


def _kind(file: Path, relative: Path) -> str:
    """What ``file`` of a cache folder is (``relative`` to the folder): ``run``,
    ``checkpoint``, ``tuned`` and ``evaluation`` travel; anything else says why it stays."""
    parts, parent = relative.parts, file.parent
    if file.name.endswith((".tmp", ".part")) or ".tmp." in file.name:
        return "temporary files"
    if parts[0] == "data" and len(parts) == 2:
        return "stacks"
    if parts[0] == "tuned":
        return "tuned"
    if parts[0] == "peers":
        return "peer forecasts"
    if (parent / RUN_FILE).is_file():
        if file.name == CHECKPOINT_FILE:
            return "finished runs' checkpoints" if (parent / DONE_FILE).is_file() else (
                "checkpoint")
        return "run" if file.name in RUN_FILES else "other files"
    if (parent.name.startswith("eval-") and file.name in EVALUATION_FILES
            and (parent / "report.json").is_file()):
        return "evaluation"
    if any(p.startswith("eval-") for p in parts[:-1]) and "forecasts" in parts:
        return "forecasts"
    return "other files"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, *, mtime: int | None = None,
               ) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, mtime or int(datetime.now().timestamp())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _machine() -> dict:
    """Where the archive was made: host, platform, Python, torch and the CUDA device."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"host": platform.node(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "cpus": os.cpu_count(), "device": device}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _compression(path: Path) -> str:
    name = path.name.lower()
    for ending, compression in sorted(COMPRESSION.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(ending):
            return compression
    msg = (f"{path}: an archive name ends in {', '.join(COMPRESSION)} (the ending chooses the "
           "compression); e.g. paper-runs.tar.gz.")
    raise ValueError(msg)


def _summary(manifest: dict, path: Path, **extra: object) -> ArchiveSummary:
    """The counts of an archive's manifest."""
    entries = manifest["files"]
    kinds = Counter(e["kind"] for e in entries)
    runs = {PurePosixPath(e["path"]).parent for e in entries
            if PurePosixPath(e["path"]).name == RUN_FILE}
    unfinished = {PurePosixPath(e["path"]).parent for e in entries if e["kind"] == "checkpoint"}
    evaluations = {PurePosixPath(e["path"]).parent for e in entries
                   if PurePosixPath(e["path"]).name == "report.json"
                   and e["kind"] == "evaluation"}
    return ArchiveSummary(path=path, size=path.stat().st_size, profile=manifest["profile"],
                          keys=list(manifest["keys"]), runs=len(runs),
                          unfinished=len(unfinished & runs), evaluations=len(evaluations),
                          tuned_files=kinds["tuned"], files=len(entries), **extra)


# -- import -------------------------------------------------------------------------------------
def read_manifest(path: str | Path) -> dict:
    """The manifest of an archive (its first member), checked to be one of gler's.

    Raises
    ------
    ValueError
        If the file is not a gler run archive, or its manifest is damaged.
    """
    path = Path(path)
    with _open(path) as tar:
        return _manifest(tar, path)[0]


def import_runs(path: str | Path, root: str | Path | None = None, *,
                profile: str | None = None) -> ArchiveSummary:
    """Put the runs, tuning and evaluations of an archive under a cache root.

    Everything is checked before anything is written: the gler version, the run format, the
    profile (when named), each member (a plain file, inside the root, listed in the manifest
    with the checksum it has) and the local files (none may exist with other contents).
    Identical local files are kept: importing twice changes nothing. Evaluations go into their
    folder's ``imported/`` subfolder, so the experiment recomputes them (with forecasts) from
    the imported runs.

    Parameters
    ----------
    path
        An archive written by :func:`export_runs`.
    root
        The cache root (default :func:`gler.experiment.runs_root`, ``GLER_RUNS_DIR``).
    profile
        Refuse an archive of another profile, or one whose cache folder this gler would not
        read for that profile (other settings).

    Returns
    -------
    ArchiveSummary
        The archive's counts, and how many files were written or already there.

    Raises
    ------
    ValueError
        For each refusal, with the reason and what to do; nothing is written then.
    FileNotFoundError
        If there is no such archive.
    """
    path = Path(path)
    root = Path(root).expanduser() if root is not None else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gler-import-", dir=root))
    try:
        with _open(path) as tar:
            manifest, head = _manifest(tar, path)
            _check_compatible(manifest, path, profile)
            expected = {e["path"]: e for e in manifest["files"]}
            seen: dict[str, Path] = {}
            for member in tar:
                if member is head:
                    continue
                name = _check_member(member, path, manifest, expected, seen)
                staged = staging / f"{len(seen)}"
                _copy_checked(tar, member, staged, expected[name]["sha256"], path)
                seen[name] = staged
        missing = sorted(set(expected) - set(seen))
        if missing:
            msg = (f"{path} lacks {len(missing)} file(s) its manifest lists (e.g. {missing[0]}): "
                   "it is truncated or damaged; nothing was imported. Copy it again from its "
                   "source, or export it again.")
            raise ValueError(msg)
        targets = {name: root / _destination(name) for name in seen}
        written, unchanged = _place(seen, targets, expected, root, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _summary(manifest, path, written=written, unchanged=unchanged, root=root)


def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        msg = f"No archive {path}; write one with gler runs export."
        raise FileNotFoundError(msg)
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, EOFError, OSError) as err:
        msg = (f"{path} is not a tar archive gler can read ({type(err).__name__}); it is "
               "damaged or not a gler run archive. Copy it again, or export it again.")
        raise ValueError(msg) from None


def _manifest(tar: tarfile.TarFile, path: Path) -> tuple[dict, tarfile.TarInfo]:
    """Read and check the first member, ``manifest.json``; it and its member."""
    not_gler = (f"{path} is not a gler run archive (its first member is not a valid "
                f"{MANIFEST}); write one with gler runs export.")
    try:
        member = tar.next()
    except (tarfile.TarError, EOFError, OSError):
        member = None
    if member is None or member.name != MANIFEST or not member.isfile() or (
            member.size > _MAX_MANIFEST):
        raise ValueError(not_gler)
    try:
        stream = tar.extractfile(member)
        manifest = json.loads(stream.read()) if stream is not None else None
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    fields = {"archive_format": int, "gler_version": str, "run_format": int, "profile": str,
              "base_key": str, "keys": list, "files": list}
    if not isinstance(manifest, dict) or any(
            not isinstance(manifest.get(k), t) for k, t in fields.items()):
        raise ValueError(not_gler)
    for entry in manifest["files"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and isinstance(entry.get("sha256"), str) and isinstance(entry.get("kind"), str)):
            raise ValueError(not_gler)
    return manifest, member


def _check_compatible(manifest: dict, path: Path, profile: str | None) -> None:
    """Refuse another archive format, gler version, run format or profile."""
    version = manifest["gler_version"]
    if manifest["archive_format"] != ARCHIVE_FORMAT:
        msg = (f"{path} is a run archive of format {manifest['archive_format']} (gler "
               f"{version}); this gler {__version__} reads format {ARCHIVE_FORMAT}. Import it "
               f"with gler {version}.")
        raise ValueError(msg)
    if version != __version__:
        msg = (f"{path} holds runs of gler {version}; this is gler {__version__}, and runs "
               "are reused by the version that made them only (the cache key holds it). "
               f"Install gler {version} to import them, or export them again with gler "
               f"{__version__} (after running the experiment with it).")
        raise ValueError(msg)
    if manifest["run_format"] != RUN_FORMAT:
        msg = (f"{path} holds runs of run format {manifest['run_format']}; this gler "
               f"{__version__} reads run format {RUN_FORMAT}. Import it with the gler that "
               "wrote it, or train the runs again with this one.")
        raise ValueError(msg)
    if profile is None:
        return
    if manifest["profile"] != profile:
        msg = (f"{path} holds the runs of profile {manifest['profile']!r}, not {profile!r}. "
               f"Import it with --profile {manifest['profile']}, or leave --profile out.")
        raise ValueError(msg)
    local = profile_key(get_profile(profile))
    if manifest["base_key"] != local:
        msg = (f"{path} holds profile {profile} with other settings than this gler's (cache "
               f"folder {manifest['base_key']}, here {local}): the experiment would not find "
               "its runs. Use the same gler (same commit) on both machines, or leave --profile "
               "out to import them anyway.")
        raise ValueError(msg)


def _check_member(member: tarfile.TarInfo, path: Path, manifest: dict, expected: dict,
                  seen: dict) -> str:
    """The name of a member that may be imported; refuse any other."""
    name = member.name
    unsafe = (f"{path}: member {name!r} is refused: ")
    remedy = ("; nothing was imported. This archive was not written by gler runs export: do "
              "not import it.")
    if not member.isfile():
        what = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                else "a directory" if member.isdir() else "not a plain file")
        raise ValueError(unsafe + f"it is {what} (an archive of gler holds plain files only)"
                         + remedy)
    parts = name.split("/")
    if (name.startswith("/") or "\\" in name or ":" in parts[0]
            or any(p in ("", ".", "..") for p in parts) or "\0" in name):
        raise ValueError(unsafe + "its path is absolute or leaves the cache root ('..')"
                         + remedy)
    if parts[0] not in manifest["keys"] or any("/" in k or k in ("", ".", "..")
                                               for k in manifest["keys"]):
        raise ValueError(unsafe + "it is outside the profile's cache folders " +
                         f"({', '.join(map(str, manifest['keys']))})" + remedy)
    if name not in expected or name in seen:
        raise ValueError(unsafe + ("it appears twice" if name in seen
                                   else "its manifest does not list it") + remedy)
    return name


def _copy_checked(tar: tarfile.TarFile, member: tarfile.TarInfo, staged: Path, sha256: str,
                  path: Path) -> None:
    """Copy a member's bytes to ``staged``, refusing them unless their SHA-256 is ``sha256``."""
    digest = hashlib.sha256()
    try:
        source = tar.extractfile(member)
        with open(staged, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (tarfile.TarError, EOFError, OSError, AttributeError) as err:
        msg = (f"{path} is damaged or truncated at {member.name} ({type(err).__name__}); "
               "nothing was imported. Copy it again from its source, or export it again.")
        raise ValueError(msg) from None
    if digest.hexdigest() != sha256:
        msg = (f"{path}: {member.name} does not match the checksum in the archive's manifest "
               "(the archive is damaged or was altered); nothing was imported. Copy it again "
               "from its source, or export it again.")
        raise ValueError(msg)


def _destination(name: str) -> PurePosixPath:
    """Where a member goes under the root: its own path, except an evaluation's files, which
    go into the ``imported/`` subfolder of their folder (provenance: the experiment does not
    take them for a finished evaluation, which would need its forecasts)."""
    member = PurePosixPath(name)
    if member.parent.name.startswith("eval-") and member.name in EVALUATION_FILES:
        return member.parent / IMPORTED / member.name
    return member


def _place(staged: dict[str, Path], targets: dict[str, Path], expected: dict, root: Path,
           path: Path) -> tuple[int, int]:
    """Move the staged files to their targets unless a target exists with other bytes (then
    refuse all); return (written, already there)."""
    resolved = root.resolve()
    conflicts, same = [], set()
    for name, target in targets.items():
        if not os.path.normpath(target.resolve()).startswith(str(resolved) + os.sep):
            msg = (f"{path}: member {name!r} would be written outside {root} (through a link "
                   f"in the cache); nothing was imported. Import into another --root.")
            raise ValueError(msg)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            conflicts.append(target)
        elif target.is_file():
            if _sha256_file(target) == expected[name]["sha256"]:
                same.add(name)
            else:
                conflicts.append(target)
    if conflicts:
        run_dirs = sorted({str(t.parent) for t in conflicts})
        finished = [d for d in run_dirs if (Path(d) / DONE_FILE).is_file()]
        note = (f" ({len(finished)} of them finished runs)" if finished else "")
        msg = (f"{len(conflicts)} file(s) of {path} already exist in {root} with other "
               f"contents, in {len(run_dirs)} folder(s){note}, e.g. {conflicts[0]}; nothing was "
               "imported, and the local files are kept. To take the archive's, move or delete "
               f"those folders (e.g. {run_dirs[0]}) and import again, or import into another "
               "--root.")
        raise ValueError(msg)
    written = 0
    for name, target in targets.items():
        if name in same:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged[name], target)
        written += 1
    return written, len(same)
