"""Several runs in one process, taking turns a training step at a time.

On a GPU, a training step replayed from its CUDA graph (:class:`gler.train.GraphedStep`) costs
the host a launch or two, and then the device works for a few milliseconds on kernels too small
to fill it. Processes (:mod:`gler.schedule`) can only time-slice the device between their CUDA
contexts. :class:`Turns` lets ``count`` runs share one process instead: each run trains in a
thread of its own, on a CUDA stream of its own, and the threads take turns, one training step
each (:func:`pass_turn`, called by the training loop), so that one process's host work keeps
several streams busy at once, and their kernels run side by side on the device.

One thread runs at a time (the one whose turn it is), in the order the runs came, so the runs
share nothing but what is global to a process: its random-number generators. Each run keeps its
own. Torch's CPU generator and Python's are saved and restored at every turn. On CUDA each
thread has a generator state of its own, set with ``Generator.graphsafe_set_state``: a run's
CUDA graph is bound to its own state, so two graphs replayed on different streams never share a
seed or an offset. A run draws the same numbers whatever runs beside it, and on the CPU its
weights are bit for bit those it gets alone (tested).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

__all__ = ["Stopped", "Turns", "pass_turn"]

T = TypeVar("T")
_local = threading.local()  # a run thread's turns, turn event, stream, CUDA generator state


class Stopped(BaseException):
    """Raised in a run's thread at its turn once the :class:`Turns` it is in was interrupted:
    the run stops there, keeping the checkpoint of its last epoch for a resume."""


def pass_turn() -> None:
    """Let the next run of this thread's :class:`Turns` take a step; nothing outside one."""
    turns = getattr(_local, "turns", None)
    if turns is not None:
        turns.pass_turn()


def graph_safe_generators() -> bool:
    """Whether this PyTorch gives generators states a CUDA graph can be bound to (2.4+)."""
    return hasattr(torch.Generator, "graphsafe_set_state")


class Turns:
    """Run work (a run's training, typically) in up to ``count`` threads that take turns.

    ``submit(work)`` queues a callable and returns its :class:`~concurrent.futures.Future`;
    up to ``count`` of them run at once, each in a thread that holds the turn until its work
    calls :func:`pass_turn` (or ends). On a CUDA ``device`` with ``count > 1``, each thread
    runs its work on its own CUDA stream (kept for the thread's next work, so that the caching
    allocator reuses its memory) with its own CUDA generator state. Use as a context manager;
    leaving it waits for the work submitted.
    """

    def __init__(self, count: int, device: torch.device | str | None = None) -> None:
        if count < 1:
            msg = f"--streams must be at least 1 (got {count})."
            raise ValueError(msg)
        self.count = count
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if self.device.type == "cuda" and count > 1 and not graph_safe_generators():
            msg = (f"--streams {count} on CUDA needs PyTorch 2.4 or later (this is "
                   f"{torch.__version__}): each run's CUDA graph needs a random-number state "
                   "of its own (Generator.graphsafe_set_state). Use --streams 1 or a newer "
                   "PyTorch.")
            raise ValueError(msg)
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="gler-turn")
        self._lock = threading.Lock()
        # One event per thread, set while it may run; the first one holds the turn. Only the
        # next thread is woken at a turn, however many wait.
        self._queue: deque[threading.Event] = deque()
        self._stopping = False

    def __enter__(self) -> Turns:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        if kind is not None:  # interrupted: the runs under way stop at their next turn
            with self._lock:
                self._stopping = True
                for turn in self._queue:
                    turn.set()
        self._pool.shutdown(wait=True, cancel_futures=kind is not None)

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Queue ``work`` to run in turn with the others."""
        return self._pool.submit(self._run, work)

    def _run(self, work: Callable[[], T]) -> T:
        turn = _local.turn = threading.Event()
        with self._lock:
            self._queue.append(turn)
            if self._queue[0] is turn or self._stopping:
                turn.set()
        turn.wait()
        _local.turns = self
        try:
            if self._stopping:
                raise Stopped
            with self._on_own_stream():
                return work()
        finally:
            _local.turns = None
            with self._lock:
                self._queue.remove(turn)
                if self._queue:
                    self._queue[0].set()

    def pass_turn(self) -> None:
        """Hand the turn to the next thread and wait for it to come back (at once when this
        thread is alone), keeping this thread's random-number states meanwhile."""
        turn = _local.turn
        with self._lock:
            if self._stopping:
                raise Stopped
            if len(self._queue) == 1:
                return
            saved = torch.get_rng_state(), random.getstate()
            turn.clear()
            self._queue.rotate(-1)
            self._queue[0].set()
        turn.wait()
        if self._stopping:
            raise Stopped
        torch.set_rng_state(saved[0])
        random.setstate(saved[1])
        own = getattr(_local, "cuda_state", None)
        if own is not None:
            torch.cuda.default_generators[self._cuda_index()].graphsafe_set_state(own)

    def _on_own_stream(self) -> contextlib.AbstractContextManager:
        """A context that puts the thread on its CUDA stream with its generator state (on a
        CUDA device, with more than one thread), else does nothing."""
        if self.device.type != "cuda" or self.count == 1:
            return contextlib.nullcontext()
        torch.cuda.init()  # fills torch.cuda.default_generators
        index = self._cuda_index()
        if getattr(_local, "stream", None) is None:
            _local.stream = torch.cuda.Stream(index)
        generator = torch.cuda.default_generators[index]
        _local.cuda_state = generator.clone_state()  # from the state the run starts in
        generator.graphsafe_set_state(_local.cuda_state)
        return torch.cuda.stream(_local.stream)

    def _cuda_index(self) -> int:
        return self.device.index if self.device.index is not None else (
            torch.cuda.current_device())
