"""Tests for gler.turns: several runs in one process, taking turns step by step (CPU)."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from _tiny_profile import TINY

import gler.turns
from gler.experiment import Experiment
from gler.run import LOG_FILE
from gler.turns import Stopped, Turns, pass_turn

#: TINY with dropout (in the model and of whole factor channels) and several steps per epoch,
#: so that the runs draw random numbers at every step and take turns many times.
NOISY = replace(
    TINY, seeds=(0, 1, 2),
    train=replace(TINY.train, epochs=2, batch_size=32, max_samples_per_epoch=192,
                  factor_dropout=0.2),
    gler_overrides={**TINY.gler_overrides, "dropout": 0.3})


def _draws(seed: int, steps: int, log: list | None = None, active: list | None = None,
           ) -> list[float]:
    """Seed, then draw from torch's and Python's generators at each of ``steps`` steps,
    passing the turn between them; ``log`` records who ran when, ``active`` how many ran."""
    torch.manual_seed(seed)
    random.seed(seed)
    time.sleep(0.2 if log is not None else 0)  # holding the turn: the others line up
    values = []
    for step in range(steps):
        if active is not None:
            active.append(threading.get_ident())
            assert len(set(active)) == 1  # one thread at a time
        values += [float(torch.rand(())), random.random()]
        if log is not None:
            log.append((seed, step))
            active.clear()
        pass_turn()
    return values


def test_threads_take_turns_with_their_own_random_numbers():
    """Three works in two threads run one at a time, alternating step by step, and each draws
    the numbers it draws alone."""
    alone = [_draws(seed, 4) for seed in (1, 2, 3)]
    log: list = []
    active: list = []
    with Turns(2) as turns:
        futures = [turns.submit(lambda s=seed: _draws(s, 4, log, active)) for seed in (1, 2, 3)]
    assert [f.result() for f in futures] == alone
    assert log[:4] == [(1, 0), (2, 0), (1, 1), (2, 1)]  # alternating, not one after the other
    assert sorted(log) == sorted((s, k) for s in (1, 2, 3) for k in range(4))


def test_a_failing_work_leaves_the_others_running():
    """An error in one work is its future's; the others finish; outside Turns, pass_turn does
    nothing."""
    def fails():
        pass_turn()
        msg = "broken"
        raise ValueError(msg)

    with Turns(2) as turns:
        bad = turns.submit(fails)
        good = turns.submit(lambda: _draws(7, 3))
    assert isinstance(bad.exception(), ValueError)
    assert good.result() == _draws(7, 3)
    pass_turn()
    with pytest.raises(ValueError, match="--streams must be at least 1"):
        Turns(0)


def test_streams_on_cuda_need_generator_states_a_graph_can_bind(monkeypatch):
    """Without Generator.graphsafe_set_state (PyTorch before 2.4) several runs on CUDA are
    refused, naming --streams 1; one run, or the CPU, needs nothing."""
    monkeypatch.setattr(gler.turns, "graph_safe_generators", lambda: False)
    with pytest.raises(ValueError, match=r"--streams 2 on CUDA needs PyTorch 2.4 .*--streams 1"):
        Turns(2, "cuda")
    for count, device in ((1, "cuda"), (2, "cpu")):
        with Turns(count, device) as turns:
            assert turns.count == count


def test_an_interrupted_turns_stops_its_works_at_their_next_turn():
    """Leaving Turns with an error stops the works under way at their next turn (Stopped),
    and those not begun never start."""
    started = threading.Event()

    def endless():
        started.set()
        while True:
            pass_turn()

    with pytest.raises(KeyboardInterrupt), Turns(2) as turns:
        futures = [turns.submit(endless) for _ in range(3)]
        started.wait(5)
        raise KeyboardInterrupt
    assert isinstance(futures[0].exception(), Stopped)
    assert futures[2].cancelled() or isinstance(futures[2].exception(), Stopped)


def _weights(exp: Experiment) -> list[str]:
    return [hashlib.sha256((exp.run_dir("beiluhe", "gler", s) / "best.pt").read_bytes())
            .hexdigest() for s in NOISY.seeds]


def test_runs_taking_turns_train_the_weights_they_train_alone(tmp_path, caplog):
    """Three runs with dropout, two at a time taking turns in this process, end with the
    weights (bit for bit) and losses of the runs trained one after the other."""
    alone = Experiment(NOISY, root=tmp_path / "alone").train_all()
    together = Experiment(NOISY, root=tmp_path / "together")
    with caplog.at_level(logging.WARNING, logger="gler.schedule"):
        summary = together.train_all(streams=2)
    assert "--streams 2 on a CPU: the runs take turns on the same cores" in caplog.text
    assert _weights(Experiment(NOISY, root=tmp_path / "alone")) == _weights(together)
    assert list(summary["best_val_loss"]) == list(alone["best_val_loss"])
    assert list(summary["seed"]) == [0, 1, 2]


@pytest.mark.slow
def test_processes_with_runs_taking_turns_train_the_same_weights(tmp_path):
    """Two worker processes of two runs each (--jobs 2 --streams 2) train the same weights as
    one run at a time."""
    alone = Experiment(NOISY, root=tmp_path / "alone")
    alone.train_all()
    both = Experiment(NOISY, root=tmp_path / "both")
    both.train_all(jobs=2, streams=2)
    assert _weights(alone) == _weights(both)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _graphed_draws(seed: int) -> torch.Tensor:
    """Seed, capture a CUDA graph that draws random numbers, replay it three times passing
    the turn between replays; the numbers drawn."""
    torch.manual_seed(seed)
    drawn = torch.zeros(4, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        drawn.copy_(torch.rand(4, device="cuda"))  # the warm-up PyTorch asks for
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        drawn.copy_(torch.rand(4, device="cuda"))
    values = []
    for _ in range(3):
        graph.replay()
        values.append(drawn.clone())
        pass_turn()
    return torch.cat(values).cpu()


@pytest.mark.cuda
@needs_cuda
def test_cuda_graphs_taking_turns_draw_the_numbers_they_draw_alone():
    """Two threads' CUDA graphs, replayed in turn on their own streams, each draw exactly the
    numbers they draw alone: each graph is bound to its thread's own generator state."""
    alone = [_graphed_draws(seed) for seed in (1, 2)]
    with Turns(2, "cuda") as turns:
        futures = [turns.submit(lambda s=seed: _graphed_draws(s)) for seed in (1, 2)]
    for future, expected in zip(futures, alone, strict=True):
        assert torch.equal(future.result(), expected)
    assert not torch.equal(alone[0], alone[1])


@pytest.mark.cuda
@needs_cuda
def test_cuda_runs_taking_turns_train_as_they_train_alone(tmp_path):
    """Three graphed runs with dropout on CUDA, two at a time taking turns on their own
    streams, log the training and validation losses of the runs trained alone (rtol 1e-4:
    atomic additions on a GPU are not bit for bit)."""
    noisy = replace(NOISY, train=replace(NOISY.train, device="cuda"))
    alone = Experiment(noisy, root=tmp_path / "alone")
    alone.train_all()
    together = Experiment(noisy, root=tmp_path / "together")
    together.train_all(streams=2)
    for seed in noisy.seeds:
        first, second = (exp.history("beiluhe", "gler", seed) for exp in (alone, together))
        for key in ("train_loss", "val_loss"):
            np.testing.assert_allclose(second[key], first[key], rtol=1e-4)
        log = (together.run_dir("beiluhe", "gler", seed) / LOG_FILE).read_text()
        assert "cuda_graphs_off" not in log
