"""Many runs at once: the independent runs of a profile trained in several processes.

:meth:`gler.experiment.Experiment.train_all` and :meth:`~gler.experiment.Experiment.train_runs`
(``gler reproduce --jobs N --streams K``) hand their runs (:class:`RunJob`: a region or a
spatial transfer, a model, a seed) to :func:`run_jobs`, which trains them in up to ``jobs``
worker processes at a time, ``streams`` runs in each (a fresh Python interpreter, as
multiprocessing's ``spawn`` would start but without re-running the caller's script, so safe
with CUDA and needing no ``if __name__ == "__main__"``) that builds its own
:class:`~gler.experiment.Experiment` and calls the usual per-run training. So each run is what
it is with one job: resumable (``done.json`` marks a finished run; a killed process leaves the
checkpoint of its last epoch, from which the next attempt resumes) and, on the CPU, bit for bit
the same weights.

Why processes and a scheduler, not one batched ensemble (``torch.func``)? The runs differ in
model, size, tuned settings, early stopping and resumption, so an ensemble over seeds covers
only part of them, gives up per-run checkpoints, and ``vmap`` has no batching rule for PyTorch's
GRU and LSTM (``benchmarks/NOTES.md``). Separate processes each have their own interpreter and
CUDA context, keep the training code as it is, and keep a failure (or an out-of-memory kill) to
the one run it hits. The cost is a process start per worker (importing torch, a few seconds;
opening a CUDA context, about half a GiB of device memory). On a GPU the processes' contexts
only time-slice the device, so each process can also train ``streams`` runs at once, taking
turns step by step, each on a CUDA stream of its own (:class:`gler.turns.Turns`), whose small
kernels then run side by side; each run is still the run it is alone.

Tuning happens once, before any run starts (the workers receive the tuned profile): each
model's study in a process of its own (:class:`gler.tune.StudyJob`, through the same
:func:`run_in_processes`), the choice read in the calling process; the stacks are simulated
there too, so that no two workers write the same file. The longest runs start first when
the cache knows how long a model takes (the ``wall_time_s`` of its finished runs); the others
in the order given, transfers (trained on several regions) first.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from gler.config import HEAD_SUFFIX

if TYPE_CHECKING:
    from gler.profiles import Profile

#: A :class:`gler.experiment.Experiment` (not imported: that module imports this one).
Experiment = Any

logger = logging.getLogger(__name__)

#: Device memory one run is expected to hold on a GPU, in bytes: its process's CUDA context
#: (about 0.5 GiB) plus the paper profile's largest model (GLER at the default size, well under
#: 100 MB with its AdamW state and weight average) and the activations of a batch of 512
#: windows with their gradients and PyTorch's caching allocator's slack (about 1 GiB). The cap
#: of :func:`cap_jobs` is the free memory divided by this.
RUN_MEMORY_CUDA = 2 * 2**30
GIB = 2**30
#: Marks a finished run in its directory (written last, atomically).
DONE_FILE = "done.json"


@dataclass(frozen=True)
class RunJob:
    """One training run of a profile.

    ``region`` is the region trained on, or with ``transfer`` the held-out region of a spatial
    transfer whose training regions are ``regions`` (None: the four QTR-sim regions less the
    held-out one, as :meth:`~gler.experiment.Experiment.transfer_regions` chooses).
    """

    region: str
    model: str = "gler"
    seed: int = 0
    transfer: bool = False
    regions: tuple[str, ...] | None = None
    quantiles: bool = False
    fold: int | None = None

    @property
    def name(self) -> str:
        """``region/model/seed<k>``, or ``transfer-to-<region>/model/seed<k>``; a quantile
        head's model is ``<model>+quantiles``, an earlier fold's region ``<region>/fold<n>``."""
        where = f"transfer-to-{self.region}" if self.transfer else self.region
        where += f"/fold{self.fold}" if self.fold else ""
        model = f"{self.model}{HEAD_SUFFIX}" if self.quantiles else self.model
        return f"{where}/{model}/seed{self.seed}"

    def sources(self, experiment: Experiment) -> tuple[str, ...]:
        """The regions whose stacks the run trains on."""
        if self.transfer:
            return experiment.transfer_regions(self.region, self.regions)
        return (self.region,)

    def run_dir(self, experiment: Experiment) -> Path:
        """Where the run lives in ``experiment``'s cache."""
        if self.transfer:
            folder = experiment.transfer_folder(self.region, self.regions)
            return folder / self.model / f"seed{self.seed}"
        return experiment.run_dir(self.region, self.model, self.seed,
                                  quantiles=self.quantiles, fold=self.fold)

    def is_done(self, experiment: Experiment) -> bool:
        """Whether the run finished (its ``done.json`` exists)."""
        return (self.run_dir(experiment) / DONE_FILE).is_file()

    def train(self, experiment: Experiment) -> dict:
        """Train the run (or read the finished one): :meth:`~gler.experiment.Experiment.train`
        or :meth:`~gler.experiment.Experiment.train_transfer`."""
        if self.transfer:
            return experiment.train_transfer(self.region, self.model, self.seed,
                                             regions=self.regions)
        return experiment.train(self.region, self.model, self.seed, quantiles=self.quantiles,
                                fold=self.fold)


#: What :class:`RunsFailedError` says was kept and how a new attempt goes on, per kind of job.
RESUMES = {
    "runs": "the finished ones are kept; run again to retry these, each resuming from its "
            "last checkpoint",
    "studies": "the finished trials are kept in the study file; tune again to resume these "
               "studies",
}


class RunsFailedError(RuntimeError):
    """Some runs (or tuning studies, ``what="studies"``) failed; ``failures`` maps each one's
    name to its error, ``summaries`` holds the runs that finished (kept in the cache: running
    again retries only the failed ones)."""

    def __init__(self, failures: dict[str, str], summaries: list[dict], total: int,
                 what: str = "runs") -> None:
        self.failures = failures
        self.summaries = summaries
        lines = "\n".join(f"  {name}: {error.strip().splitlines()[-1]}"
                          for name, error in failures.items())
        super().__init__(f"{len(failures)} of {total} {what} failed ({RESUMES[what]}):\n{lines}")


def cap_jobs(requested: int, device: str | None, *, streams: int = 1,
             cores: int | None = None) -> tuple[int, str | None]:
    """How many processes may train at once on ``device``, each with ``streams`` runs, and
    why fewer than ``requested``.

    On a CPU: at most one per core (``os.cpu_count()``). On a GPU: at most the free device
    memory (``torch.cuda.mem_get_info``) divided by :data:`RUN_MEMORY_CUDA` per run, and one
    per core (each process drives the GPU from its own Python thread).

    Returns
    -------
    tuple
        The number of jobs, and None or the sentence ``"capped --jobs N to M because ..."``.

    Raises
    ------
    ValueError
        If ``requested`` or ``streams`` is below 1.
    """
    if requested < 1 or streams < 1:
        flag, value = ("--jobs", requested) if requested < 1 else ("--streams", streams)
        msg = f"{flag} must be at least 1 (got {value})."
        raise ValueError(msg)
    cores = cores or os.cpu_count() or 1
    limit, why = cores, f"this machine has {cores} CPU cores"
    resolved = _resolved(device)
    if resolved.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(resolved)
        fit = max(1, int(free // (RUN_MEMORY_CUDA * streams)))
        if fit < limit:
            limit = fit
            runs = (f"{streams} runs (--streams {streams}) need" if streams > 1
                    else "a run needs")
            why = (f"{free / GIB:.1f} GiB are free on {torch.cuda.get_device_name(resolved)} and "
                   f"{runs} about {streams * RUN_MEMORY_CUDA / GIB:.1f} GiB "
                   "(gler.schedule.RUN_MEMORY_CUDA per run)")
    if requested <= limit:
        return requested, None
    return limit, f"capped --jobs {requested} to {limit} because {why}"


def run_jobs(experiment: Experiment, jobs: Sequence[RunJob], *, workers: int = 1,
             streams: int = 1, progress: bool = False) -> list[dict]:
    """Train ``jobs`` (or read the finished ones), ``workers`` processes at a time, each
    training ``streams`` runs at once; one summary per job, in the order given.

    With ``workers=1`` and ``streams=1`` the runs train one after the other in this process,
    as :meth:`~gler.experiment.Experiment.train` would (an error stops there). With more
    workers, each run not yet finished trains in a worker process (see the module's
    docstring), up to ``workers`` of them at once (capped by :func:`cap_jobs`, which says so in
    a warning); on a CPU each process uses ``cores // workers`` threads unless the profile sets
    ``num_threads``. With ``streams > 1`` each process (this one, with one worker) trains that
    many runs at once, taking turns step by step (:class:`gler.turns.Turns`): on a GPU each on
    its own CUDA stream; on a CPU it gains nothing, and the weights are the same.

    Raises
    ------
    RunsFailedError
        With several workers or streams, after every other run has finished, if some runs
        failed: each named with its error (also logged with its traceback).
    """
    jobs = list(jobs)
    experiment.tuned_profile(workers, streams)  # tuning first, its models as the runs
    if any(job.quantiles for job in jobs):
        experiment.head_profile()  # and the quantile heads
    pending = [job for job in jobs if not job.is_done(experiment)]
    alone = workers == 1 and streams == 1
    count, message = (1, None) if alone else cap_jobs(workers, experiment.device,
                                                      streams=streams)
    if message:
        logger.warning(message)
    if streams > 1 and _resolved(experiment.device).type != "cuda":
        logger.warning("--streams %d on a CPU: the runs take turns on the same cores, which "
                       "gains nothing there (it helps on a GPU); same weights", streams)
    if not alone and len(pending) > 1:
        for region in sorted({r for job in pending for r in job.sources(experiment)}):
            experiment.stack(region)  # simulated once, here, not by two runs at a time
    if count > 1 and len(pending) > 1:
        context = (_experiment_in_worker, (type(experiment), experiment.base_profile,
                                           experiment.tuned_profile(), str(experiment.root),
                                           experiment.device))
        failures = run_in_processes(context, _longest_first(experiment, pending), count,
                                    progress, slots=streams, device=experiment.device)
    elif alone:
        for job in tqdm(pending, desc="train", unit="run", disable=not progress):
            job.train(experiment)  # as before: an error stops here
        failures = {}
    else:  # the runs' epoch bars would interleave: the bar over the runs alone
        quiet = copy.copy(experiment)
        quiet.progress = False
        failures = run_in_turns(quiet, _longest_first(experiment, pending), streams,
                                experiment.device, progress)
    summaries = [job.train(experiment) for job in jobs if job.name not in failures]
    if failures:
        raise RunsFailedError(failures, summaries, len(jobs))
    return summaries


def run_in_turns(context: Any, jobs: Sequence[Any], count: int, device: str | None,
                 progress: bool, what: str = "train", unit: str = "run") -> dict[str, str]:
    """Run ``jobs`` in this process, ``count`` at a time taking turns on ``device``
    (:class:`gler.turns.Turns`): ``job.train(context)`` for each; the errors by job name
    (each logged with its traceback)."""
    from gler.turns import Turns

    failures = {}
    bar = tqdm(total=len(jobs), desc=f"{what} ({count} streams)", unit=unit,
               disable=not progress)
    with Turns(count, _resolved(device)) as turns:
        futures = {job.name: turns.submit(partial(job.train, context)) for job in jobs}
        for name, future in futures.items():
            error = future.exception()
            if error is not None:
                failures[name] = "".join(traceback.format_exception(error))
                logger.error("%s failed:\n%s", name, failures[name])
            bar.update()
    bar.close()
    return failures


def _resolved(device: str | None) -> Any:
    """The ``torch.device`` of ``device`` (None: ``"auto"``)."""
    from gler.run import resolve_device  # here: import gler stays light

    return resolve_device(device or "auto")


def _longest_first(experiment: Experiment, jobs: list[RunJob]) -> list[RunJob]:
    """``jobs`` by expected time, longest first: the mean ``wall_time_s`` of the model's
    finished runs in the cache (the slowest known model's when it has none, else 1) times the
    number of regions it trains on; a stable sort, so equal ones keep their order."""
    known: dict[str, list[float]] = {}
    summaries = experiment.summaries()
    if len(summaries):
        for model, times in summaries.groupby("model")["wall_time_s"]:
            known[str(model)] = [float(t) for t in times]
    means = {model: sum(times) / len(times) for model, times in known.items()}
    fallback = max(means.values(), default=1.0)
    return sorted(jobs, key=lambda job: -means.get(job.model, fallback)
                  * len(job.sources(experiment)))


def run_in_processes(context: tuple[Callable[..., Any], tuple], jobs: Sequence[Any],
                     count: int, progress: bool, what: str = "train", unit: str = "run", *,
                     slots: int = 1, device: str | None = None) -> dict[str, str]:
    """Run ``jobs`` in ``count`` worker processes, each holding up to ``slots`` jobs at once
    (taking turns, :class:`gler.turns.Turns`, on ``device``) and taking the next when one is
    done; a worker that dies fails its jobs only and is replaced. The errors by job name.

    ``context`` is ``(build, args)``: each worker calls ``build(*args)`` once (both pickled,
    so module-level), then ``job.train(built)`` for each job it takes; a job has a ``name``.
    Results stay where the jobs write them (a run directory, a study's storage)."""
    count = min(count, -(-len(jobs) // slots))  # no worker without a job
    cores = os.cpu_count() or 1
    threads = max(1, cores // count)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    queue, workers, failures = list(jobs), [], {}
    bar = tqdm(total=len(jobs), desc=f"{what} ({count} jobs)", unit=unit,
               disable=not progress)
    with tempfile.TemporaryDirectory(prefix="gler-jobs-") as name:
        folder = Path(name)
        spec = folder / "spec.pkl"
        with open(spec, "wb") as stream:
            pickle.dump(sys.path, stream)
            pickle.dump((*context, threads, slots, device), stream)
        try:
            while queue or workers:
                while queue and len(workers) < count:
                    process = subprocess.Popen([sys.executable, "-c", WORKER, str(spec)],
                                               stdin=subprocess.PIPE, env=env, text=True)
                    workers.append(_Worker(process))
                for worker in list(workers):
                    for job, (status, payload) in worker.finished():
                        if status != "ok":
                            failures[job.name] = payload
                            logger.error("%s failed:\n%s", job.name, payload)
                        bar.update()
                    if worker.process.poll() is not None:
                        workers.remove(worker)  # died: a new one takes the next jobs
                    elif queue or worker.jobs:
                        while queue and len(worker.jobs) < slots:
                            worker.give(queue.pop(0), folder / f"{len(queue)}.pkl")
                    else:
                        worker.close()
                        workers.remove(worker)
                time.sleep(POLL_S)
        finally:
            for worker in workers:  # interrupted: the checkpoints stay for a resume
                worker.process.terminate()
                worker.process.wait()
            bar.close()
    return failures


class _Worker:
    """A worker process and the jobs it trains, by the path of their result."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.jobs: dict[Path, Any] = {}

    def give(self, job: Any, inbox: Path) -> None:
        """Send ``job``: pickled to ``inbox``, whose path goes to the worker's stdin."""
        with open(inbox, "wb") as stream:
            pickle.dump(job, stream)
        self.jobs[inbox.with_suffix(".out")] = job
        try:
            self.process.stdin.write(f"{inbox}\n")
            self.process.stdin.flush()
        except OSError:
            pass  # it died: finished() says so

    def finished(self) -> list[tuple[Any, tuple[str, Any]]]:
        """The jobs done since the last call with their results (or, once the worker has
        ended, every job it held, with why it has none)."""
        ended = self.process.poll() is not None
        done = []
        for outbox in [path for path in self.jobs if ended or path.is_file()]:
            job = self.jobs.pop(outbox)
            if outbox.is_file():
                with open(outbox, "rb") as stream:
                    done.append((job, pickle.load(stream)))
            else:
                done.append((job, ("error", (
                    f"the worker process ended with exit code {self.process.wait()} without a "
                    "result (killed? out of memory?); the run's checkpoint, if any, is kept"))))
        return done

    def close(self) -> None:
        """No more jobs: end the worker."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


#: What a worker process runs: :func:`_worker` (a fresh interpreter, not multiprocessing, so
#: that a caller's script needs no ``if __name__ == "__main__"``).
WORKER = "from gler.schedule import _worker; _worker()"
#: How often the scheduler looks at its workers (seconds).
POLL_S = 0.1


def _experiment_in_worker(cls: type, base: Profile, tuned: Profile, root: str,
                          device: str | None) -> Experiment:
    """A worker's :class:`~gler.experiment.Experiment`, with the parent's tuned profile."""
    experiment = cls(base, root=root, device=device)
    experiment.profile = tuned  # as tuned_profile() would set it, without tuning again
    return experiment


def _worker() -> None:
    """In a worker process: read ``sys.path`` and the context of :func:`run_in_processes`
    from ``argv[1]``; then for each inbox path on stdin, run its job (up to ``slots`` at once,
    taking turns) and write ``("ok", result)`` or ``("error", traceback)`` next to it
    (``.out``), until stdin closes."""
    with open(sys.argv[1], "rb") as stream:
        sys.path[:0] = [p for p in pickle.load(stream) if p not in sys.path]
        build, args, threads, slots, device = pickle.load(stream)
    import torch

    from gler.turns import Turns

    torch.set_num_threads(threads)  # the profile's num_threads, if set, wins in training
    context = build(*args)
    with Turns(slots, _resolved(device)) as turns:
        for line in sys.stdin:
            turns.submit(partial(_answer, Path(line.strip()), context))


def _answer(inbox: Path, context: Any) -> None:
    """Run the job pickled in ``inbox`` on ``context``; its result goes next to it."""
    try:
        with open(inbox, "rb") as stream:
            job = pickle.load(stream)
        result = ("ok", job.train(context))
    except Exception:  # sent to the parent, which names the run
        result = ("error", traceback.format_exc())
    tmp = inbox.with_suffix(".tmp")
    with open(tmp, "wb") as stream:
        pickle.dump(result, stream)
    os.replace(tmp, inbox.with_suffix(".out"))


def profile_runs(profile: Profile, ablations: Sequence[str]) -> list[RunJob]:
    """Every run the book's chapters train with ``profile`` and its ``ablations``.

    Chapters 6 and 8: each region × GLER and the compared neural baselines × the seeds;
    chapter 8: the ablations with the first seed, and GLER's spatial transfer to each region
    (from the other QTR-sim regions) with every seed; chapter 10: GLER with a quantile head
    (first seed) and, for its calibration back-test, both GLER runs of the fold before the
    profile's split. Chapter 7 uses a subset of these. Chapter 9's Menyuan runs are not listed
    (the site is fetched, which may not be possible here); it trains them itself.
    """
    seeds = tuple(profile.seeds)
    runs = [RunJob(region, model, seed) for region in profile.regions
            for model in ("gler", *profile.compared) for seed in seeds]
    runs += [RunJob(region, model, seed) for region in profile.regions
             for model in ablations for seed in seeds[:1]]
    runs += [RunJob(region, "gler", seed, transfer=True) for region in profile.regions
             for seed in seeds]
    runs += [RunJob(region, "gler", seeds[0], quantiles=quantiles, fold=fold)
             for region in profile.regions for quantiles, fold in ((True, None), (False, 1),
                                                                   (True, 1))]
    return runs
