"""The GPU check: CUDA tests, the GPU benchmark and the ``paper`` profile, in one call.

Meant for a lent GPU machine that is bare but for PyTorch and the scientific stack, and held
for minutes at a time: everything it measures lands in ``OUT`` as it goes, and the runs it
trained are written as one archive (:mod:`gler.archive`) before its time is up, so a later
machine imports them and goes on (``gler runs import``)::

    python benchmarks/device_check.py OUT --budget-s 480

Stages, each under its share of ``--budget-s``:

1. ``requirements``: the Python packages gler needs beyond PyTorch and numpy
   (:data:`NEEDED`); a missing one stops the check with the list (carry them as wheels).
2. ``tests``: every test marked ``cuda`` (pytest, its log in ``OUT``).
3. ``bench``: :func:`benchmarks.bench.run_benchmark` on CUDA: training windows/s of every
   neural model (and at batch 512 and 2,048 eager against the step in a CUDA graph:
   ``train_graphs``), GLER's forward sweep with its FLOP ratio to the bf16 matmul peak,
   :func:`gler.forecast.predict` of a 1,000,000-pixel scene end to end, and the probabilistic
   scores of a ``paper``-sized test year (``scores``).
4. ``training``: ``benchmarks/device_training.py`` (training on the device: its batches, the
   in-run rate against the bench step, with CUDA graphs and without, synchronisations per
   step, out of memory).
5. ``streams``: how to train many runs at once (:mod:`gler.turns`): the same
   :data:`STREAMS_RUNS` short GLER runs of the profile (two epochs of at most
   :data:`STREAMS_WINDOWS` windows) trained with each ``(jobs, streams)`` of
   :data:`STREAMS_LAYOUTS` (processes × runs taking turns on their own CUDA streams in each),
   their summed training rate in the second epoch, and the fastest layout, which the profile
   stage then uses (unless ``--streams`` is given).
6. ``profile``: the profile's runs (after importing ``--resume-from``, an archive of an
   earlier check) (``--profile``, default ``paper`` with its own settings,
   untuned unless ``--tuned FILE``): first one GLER run alone (the in-run training rate
   without neighbours, compared with the bench step at the same batch), then every other run
   with ``--jobs`` processes of ``--streams`` runs each, stopped at the deadline; then the
   evaluations if every run finished (:func:`evaluate_all`: chapter 8's and chapter 10's
   probabilistic one). Finished runs are kept, unfinished ones keep their checkpoint.
7. ``archive``: the runs as ``OUT/<profile>-runs.tar.gz`` (split into parts of at most 15 MiB
   when larger, ``cat`` joins them) and ``OUT/device_check.json`` with every timing.

Needs, beyond PyTorch and numpy: see :data:`NEEDED` (pooch, h5netcdf, platformdirs,
scoringrules and array-api-compat are not on this workplace's GPU image and travel as wheels;
pytest for stage 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Import names of the packages gler needs here beyond PyTorch and numpy.
NEEDED = ("xarray", "pandas", "scipy", "h5py", "h5netcdf", "pooch", "platformdirs",
          "scoringrules", "array_api_compat", "tqdm", "yaml", "matplotlib", "pytest")
#: ``(jobs, streams)`` layouts the ``streams`` stage compares, fastest first as measured there.
STREAMS_LAYOUTS = ((16, 1), (4, 4), (1, 16), (2, 8))
#: Runs (and training windows per epoch of each) in every layout of the ``streams`` stage.
STREAMS_RUNS, STREAMS_WINDOWS = 16, 50_000
#: Largest file that comes back from the device machine (bytes); larger archives are split.
PART_BYTES = 15 * 2**20


class Check:
    """The timings JSON, rewritten after every stage so that a killed check still leaves it."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.start, self.budget_s = out, time.monotonic(), budget_s
        self.results: dict = {"budget_s": budget_s, "stages": {}}

    def left(self) -> float:
        """Seconds left of the budget."""
        return self.budget_s - (time.monotonic() - self.start)

    def run(self, stage: str, measure) -> dict | None:
        """Record what ``measure()`` returns, or the error that stopped it (the check goes on
        with the next stage)."""
        started = time.monotonic()
        try:
            value = measure()
        except Exception as err:  # one broken stage must not lose the others
            value = {"error": f"{type(err).__name__}: {err}",
                     "traceback": traceback.format_exc()[-3000:]}
            print(value["traceback"], file=sys.stderr, flush=True)
        self.record(stage, value, started)
        return value

    def record(self, stage: str, value: dict, started: float) -> None:
        value["wall_s"] = round(time.monotonic() - started, 2)
        self.results["stages"][stage] = value
        self.results["elapsed_s"] = round(time.monotonic() - self.start, 2)
        (self.out / "device_check.json").write_text(json.dumps(self.results, indent=2,
                                                               default=str))
        print(f"[{self.results['elapsed_s']:7.1f} s] {stage}: done in {value['wall_s']} s",
              flush=True)


def missing_packages() -> list[str]:
    """The packages of :data:`NEEDED` that cannot be imported here."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def run_tests(out: Path, timeout_s: float) -> dict:
    """The CUDA tests under pytest; their summary line and exit code."""
    files = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
                   if "mark.cuda" in path.read_text())
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p",
               "no:cacheprovider", *files]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"returncode": None, "summary": f"timed out after {timeout_s:.0f} s"}
    (out / "cuda-tests.log").write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {"returncode": done.returncode, "summary": lines[-1] if lines else "",
            "files": files}


def run_bench(batch: int, device: str, *, tiny: bool = False) -> dict:
    """The benchmark on ``device`` (without ``torch.compile``: minutes of compiling), plus
    GLER's step rate at the profile's ``batch``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench
    import torch

    from gler.data.synthetic import synthetic_stack

    results = bench.run_benchmark(tiny=tiny, devices=[device], classical_pixels=0,
                                  compile_cuda=False,
                                  graph_batches=(64,) if tiny else (512, 2048))
    stack = synthetic_stack(ny=100, nx=100, nt=180)
    results["gler_at_profile_batch"] = bench.train_throughput(
        stack, torch.device(device), models=("gler",), batch=batch, steps=2 if tiny else 20,
        repeats=3)["gler"]
    print(bench.table(results), flush=True)
    if device == "cuda":
        torch.cuda.empty_cache()  # the runs' processes get the memory the benchmark held
    return results


def run_training_check(out: Path, device: str, timeout_s: float, *, small: bool) -> dict:
    """``benchmarks/device_training.py``: device batches, the in-run rate against the bench
    step, synchronisations per step, a non-finite step skipped on the device, out of memory."""
    command = [sys.executable, str(ROOT / "benchmarks" / "device_training.py"), "--device",
               device, "--out", str(out / "device_training.json"), *(["--small"] if small else [])]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"returncode": None, "summary": f"timed out after {timeout_s:.0f} s"}
    if done.returncode:
        return {"returncode": done.returncode, "error": done.stderr[-2000:]}
    return json.loads((out / "device_training.json").read_text())


def train_stage(target: Target, jobs: int, deadline_s: float, *, what: str = "profile",
                streams: int = 1, extra: tuple = ()) -> dict:
    """Train in a child process (:func:`train_child`: ``what`` is ``solo``, ``profile`` or
    ``streams``, with its ``extra`` arguments) stopped at ``deadline_s`` (its whole process
    group: the workers too)."""
    args = [sys.executable, __file__, "--train-child", *target.argv(), str(jobs), what,
            str(streams), *map(str, extra)]
    child = subprocess.Popen(args, cwd=ROOT, start_new_session=True)
    end, samples = time.monotonic() + max(deadline_s, 1), []
    while child.poll() is None and time.monotonic() < end:
        samples.append(gpu_sample())
        try:
            child.wait(timeout=min(10, max(end - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            pass
    stopped = child.poll() is None
    if stopped:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return {"returncode": child.returncode, "stopped_at_deadline": stopped,
            "gpu_samples": [x for x in samples if x]}


def gpu_sample() -> dict | None:
    """GPU memory in use (MiB), utilisation (%) and processes on it, from nvidia-smi; None
    where there is none."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,utilization.gpu",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True,
                              timeout=10, check=True)
        apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                               "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    used, utilisation = (float(v) for v in done.stdout.split(",")[:2])
    per_process = [float(line.split(",")[1]) for line in apps.stdout.splitlines()
                   if line.count(",") == 1]
    return {"t": round(time.monotonic(), 1), "memory_used_mib": used,
            "utilisation_pct": utilisation, "processes": len(per_process),
            "process_mib": per_process}


@dataclasses.dataclass(frozen=True)
class Target:
    """What the check trains: a profile, untuned (its own settings) or with the settings of
    ``tuned``, in the cache ``root``, on ``device``."""

    profile: str
    tuned: str | None
    root: Path
    device: str

    def experiment(self):
        """The :class:`~gler.experiment.Experiment` of the target."""
        from gler.experiment import Experiment
        from gler.profiles import get_profile

        profile = dataclasses.replace(get_profile(self.profile), tuning=None)
        if self.tuned:
            profile = profile.with_tuned(self.tuned)
        return Experiment(profile, root=self.root, device=self.device)

    def short_experiment(self, windows: int):
        """The profile with two epochs of at most ``windows`` windows (and a fifth of that to
        validate on) and no early stop (the ``streams`` stage's runs), in ``root``."""
        from gler.experiment import Experiment

        profile = self.experiment().profile
        short = dataclasses.replace(profile.train, epochs=2, early_stopping=False,
                                    max_samples_per_epoch=windows,
                                    max_val_samples=max(1, windows // 5))
        return Experiment(dataclasses.replace(profile, train=short), root=self.root,
                          device=self.device)

    def argv(self) -> list[str]:
        """The target as arguments of the training child."""
        return [self.profile, str(self.root), self.device, self.tuned or ""]


def train_child(profile: str, root: str, device: str, tuned: str, jobs: str, what: str,
                streams: str, first: str = "0", runs: str = "0", windows: str = "0") -> int:
    """The training child: one GLER run alone (``solo``, after simulating every region once),
    every run of the profile (``profile``), or (``streams``) ``runs`` short GLER runs of
    ``windows`` windows an epoch with the seeds from ``first``; ``jobs`` processes of
    ``streams`` runs each."""
    from gler.schedule import RunJob

    target = Target(profile, tuned or None, Path(root), device)
    exp = target.experiment()
    if what == "streams":
        short = target.short_experiment(int(windows))
        short.train_runs([RunJob(short.profile.regions[0], "gler", seed)
                          for seed in range(int(first), int(first) + int(runs))],
                         jobs=int(jobs), streams=int(streams))
    elif what == "solo":
        for region in exp.profile.regions:
            exp.stack(region)
        exp.train(exp.profile.regions[0], "gler", exp.profile.seeds[0])
    else:
        exp.train_runs(exp.planned_runs(), jobs=int(jobs), streams=int(streams))
    return 0


def streams_stage(target: Target, deadline_s: float, layouts=STREAMS_LAYOUTS,
                  runs: int = STREAMS_RUNS, windows: int = STREAMS_WINDOWS) -> dict:
    """Each ``(jobs, streams)`` of ``layouts`` training ``runs`` short runs of its own, all at
    once (while time is left): its wall time, the runs it finished and their summed windows/s
    in the second epoch; ``best``: the fastest layout that finished them all."""
    end = time.monotonic() + deadline_s
    measured = {}
    for layout, (jobs, streams) in enumerate(layouts):
        left = end - time.monotonic()
        if left < 30:
            break
        started = time.monotonic()
        first = layout * runs  # seeds of its own: no layout reuses another's runs
        trained = train_stage(target, jobs, left, what="streams", streams=streams,
                              extra=(first, runs, windows))
        exp = target.short_experiment(windows)
        rates = [rate for seed in range(first, first + runs)
                 if (rate := _second_epoch_rate(exp.run_dir(exp.profile.regions[0], "gler",
                                                            seed)))]
        measured[f"{jobs}x{streams}"] = {
            "jobs": jobs, "streams": streams, "wall_s": round(time.monotonic() - started, 1),
            "finished": len(rates), "windows_per_s_sum": round(sum(rates)),
            **{k: v for k, v in trained.items() if k != "gpu_samples"},
            "gpu_utilisation_pct": [x["utilisation_pct"] for x in trained["gpu_samples"]]}
    done = [name for name, v in measured.items() if v["finished"] == runs]
    best = max(done, key=lambda name: measured[name]["windows_per_s_sum"], default=None)
    return {"runs": runs, "windows_per_epoch": windows, "layouts": measured, "best": best}


def _second_epoch_rate(run_dir: Path) -> float | None:
    """The windows/s a finished run logged in its second epoch (None if unfinished)."""
    from gler.run import LOG_FILE

    if not (run_dir / "done.json").is_file():
        return None
    epochs = [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()
              if '"windows_per_s"' in line]
    return epochs[1]["windows_per_s"] if len(epochs) > 1 else None


def _run_name(done: dict) -> str:
    where = done["region"] if "region" in done else f"transfer-to-{done['held_out']}"
    return f"{where}/{done['model']}/seed{done['seed']}"


def profile_summary(target: Target) -> dict:
    """Finished and unfinished runs, the finished runs' wall times, and the training rate in
    the runs (windows/s over the epochs logged so far, finished or not) per model."""
    from gler.run import LOG_FILE

    exp = target.experiment()
    finished = [json.loads(p.read_text()) for p in sorted(exp.path.rglob("done.json"))]
    rates, epochs_logged = {}, 0
    for log in sorted(exp.path.rglob(LOG_FILE)):
        epochs = [json.loads(line) for line in log.read_text().splitlines()
                  if '"windows_per_s"' in line]
        epochs_logged += len(epochs)
        if epochs:
            model = json.loads((log.parent / "run.json").read_text())["model"]
            rates.setdefault(model, []).append(
                sum(e["train_windows"] for e in epochs) / sum(e["train_s"] for e in epochs))
    return {"planned": len(exp.planned_runs()), "finished": len(finished),
            "started": len(list(exp.path.rglob(LOG_FILE))), "epochs_logged": epochs_logged,
            "run_wall_s": {_run_name(d): d["wall_time_s"] for d in finished},
            "in_run_windows_per_s": {m: sum(v) / len(v) for m, v in rates.items()}}


def evaluate_all(target: Target) -> dict:
    """Every region's evaluations as the chapters ask for them: GLER and the compared models
    (chapter 8), the ablations, and chapter 10's probabilistic one (first seed, GLER's quantile
    head, every model calibrated and scored on the device); seconds of each per region."""
    from gler.experiment import ablation_models

    exp = target.experiment()
    models = ("gler", *exp.profile.compared)
    first = exp.profile.seeds[:1]
    evaluations = {
        "comparison": lambda region: exp.evaluate(region, models),
        "ablations": lambda region: exp.evaluate(
            region, ("gler", *ablation_models(exp.profile)), first),
        "probabilistic": lambda region: exp.evaluate(region, models, first, probabilistic=True,
                                                     heads=("gler",)),
    }
    seconds: dict[str, dict[str, float]] = {name: {} for name in evaluations}
    for region in exp.profile.regions:
        for name, evaluation in evaluations.items():
            started = time.monotonic()
            evaluation(region)
            seconds[name][region] = round(time.monotonic() - started, 2)
    return {"seconds": seconds}


def imported(archive: Path, root: Path) -> dict:
    """Import a run archive (joined first when it came back in parts) into ``root``."""
    from gler.archive import import_runs

    parts = sorted(archive.parent.glob(f"{archive.name}.part*"),
                   key=lambda p: int(p.name.rsplit("part", 1)[1]))
    if parts and not archive.is_file():
        archive.write_bytes(b"".join(part.read_bytes() for part in parts))
    summary = import_runs(archive, root)
    return {"summary": summary.describe(), "runs": summary.runs,
            "unfinished": summary.unfinished}


def write_archive(target: Target, out: Path) -> dict:
    """The runs as one archive in ``out``, split into parts that come back from the device."""
    from gler.archive import export_runs

    exp = target.experiment()
    path = out / f"{exp.profile.name.split('-')[0]}-runs.tar.gz"
    info = export_runs(exp, path)
    size = path.stat().st_size
    parts = []
    if size > PART_BYTES:
        with path.open("rb") as whole:
            while chunk := whole.read(PART_BYTES):
                part = path.with_name(f"{path.name}.part{len(parts)}")
                part.write_bytes(chunk)
                parts.append(part.name)
        path.unlink()
    return {"bytes": size, "parts": parts, "path": path.name, "summary": info.describe(),
            "runs": info.runs, "unfinished": info.unfinished, "evaluations": info.evaluations}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--train-child":
        return train_child(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the JSON, logs and the run archive")
    parser.add_argument("--budget-s", type=float, default=480,
                        help="seconds for the whole check (default 480)")
    parser.add_argument("--profile", default="paper", help="profile to train (default paper)")
    parser.add_argument("--tuned", default=None, help="tuned.json to train with (gler tune)")
    parser.add_argument("--jobs", type=int, default=16,
                        help="runs trained at once (default 16; capped to what the GPU holds)")
    parser.add_argument("--streams", type=int, default=None,
                        help="runs each process trains at once (gler reproduce --streams); "
                             "default: the fastest layout of the streams stage, else 1")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="cuda (default); cpu for a dry run of the script itself")
    parser.add_argument("--tiny", action="store_true",
                        help="the benchmark's tiny configuration (a dry run)")
    parser.add_argument("--runs-root", type=Path, default=Path("/tmp/gler-runs"),
                        help="where the runs are trained (default /tmp/gler-runs)")
    parser.add_argument("--resume-from", type=Path, default=None,
                        help="a run archive (gler runs export) to import before training: "
                             "its finished runs are kept, its unfinished ones resume")
    parser.add_argument("--skip", nargs="*", default=(),
                        choices=("tests", "bench", "training", "solo", "streams", "profile"),
                        help="stages to leave out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, args.budget_s)
    started = time.monotonic()
    import torch

    missing = missing_packages()
    check.results["machine"] = {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cpus": os.cpu_count()}
    check.record("requirements", {"needed": list(NEEDED), "missing": missing}, started)
    if missing or (args.device == "cuda" and not torch.cuda.is_available()):
        print(f"Cannot run: missing packages {missing} (carry them as wheels), CUDA available: "
              f"{torch.cuda.is_available()}", file=sys.stderr)
        return 2
    from gler.profiles import get_profile

    batch = get_profile(args.profile).train.batch_size
    stages = {
        "tests": lambda: run_tests(args.out, min(120, check.left() * 0.25)),
        "bench": lambda: run_bench(batch, args.device, tiny=args.tiny),
        "training": lambda: run_training_check(args.out, args.device,
                                               min(150, check.left() * 0.3), small=args.tiny),
    }
    for name, stage in stages.items():
        if name not in args.skip:
            check.run(name, stage)
    if "profile" not in args.skip:
        target = Target(args.profile, args.tuned, args.runs_root, args.device)
        reserve = 45  # seconds kept for the summary and the archive

        def trained(jobs: int, deadline_s: float, what: str, streams: int = 1) -> dict:
            result = train_stage(target, jobs, deadline_s, what=what, streams=streams)
            return {**result, "jobs": jobs, "streams": streams,
                    "summary": profile_summary(target)}

        if args.resume_from:
            check.run("import", lambda: imported(args.resume_from, args.runs_root))
        if "solo" not in args.skip:
            # One GLER run alone for at most 90 s: the in-run rate without neighbours.
            check.run("solo_run", lambda: trained(1, min(90, check.left() - reserve),
                                                  "solo"))
        jobs, streams = args.jobs, args.streams or 1
        if "streams" not in args.skip:
            # At most half of what is left, for the layouts compared on short runs.
            layouts = check.run("streams", lambda: streams_stage(
                target, min(240, (check.left() - reserve) / 2)))
            best = (layouts or {}).get("best")
            if best and args.streams is None:
                jobs, streams = (layouts["layouts"][best][k] for k in ("jobs", "streams"))
        rest = check.run("profile", lambda: trained(jobs, check.left() - reserve, "profile",
                                                     streams))
        summary = (rest or {}).get("summary", {})
        if summary and summary["finished"] == summary["planned"] and check.left() > reserve:
            check.run("evaluate", lambda: evaluate_all(target))
        check.run("archive", lambda: write_archive(target, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
