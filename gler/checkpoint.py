"""A run's checkpoint: what it holds, writing it, and resuming a run from it.

``checkpoint.pt`` holds the last completed epoch: the live weights, the optimiser and loss
scaler states, the random-number states of torch and Python, the weight average when training
averages the weights (:mod:`gler.averaging`), and the early-stopping state with the learning
curve. It holds tensors and plain values only, so it loads with ``weights_only=True``; a run
resumed from it ends with the same weights as an uninterrupted one (on CPU).
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from gler.averaging import WeightAverage
from gler.run import BEST_FILE, CHECKPOINT_FILE, RUN_FILE, atomic_save, first_line, load_file


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's generators (numpy draws use their own seeded Generators)."""
    random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The random-number states to store: torch's, Python's (and CUDA's when present)."""
    # numpy draws come from per-epoch Generators, so only torch's and Python's states matter.
    # Python's state (version, 625 ints, None) is stored as a tensor of those ints, so that the
    # checkpoint holds only tensors and plain values and loads with weights_only=True.
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python_version": int(version),
             "python": torch.tensor(internal, dtype=torch.int64), "python_gauss": gauss}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (or the tuple older checkpoints hold).

    The states are byte tensors on the CPU whatever device the checkpoint was loaded onto
    (a run resumed on CUDA loads it there)."""
    torch.set_rng_state(state["torch"].cpu())
    if "python_version" in state:
        random.setstate((state["python_version"],
                         tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
    else:  # checkpoints written before the state became a tensor: the tuple itself
        random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([each.cpu() for each in state["cuda"]])


def fresh_state() -> dict:
    """The early-stopping state of a run that has not trained an epoch."""
    return {"epoch": 0, "best_val": float("inf"), "best_epoch": None, "bad_epochs": 0,
            "finished": False, "history": []}


def write_checkpoint(out_dir: Path, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
                     grad_scaler: torch.amp.GradScaler, average: WeightAverage | None,
                     state: dict) -> None:
    """Write ``checkpoint.pt`` atomically (after every epoch)."""
    saved = {"model": model.state_dict(), "optimizer": optimiser.state_dict(),
             "grad_scaler": grad_scaler.state_dict(), "rng": rng_state(), "state": state}
    if average is not None:
        saved["average"] = average.state_dict()
    atomic_save(saved, out_dir / CHECKPOINT_FILE)


def restore_checkpoint(out_dir: Path, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
                       grad_scaler: torch.amp.GradScaler, average: WeightAverage | None,
                       device: torch.device) -> dict:
    """Load ``checkpoint.pt`` into the model, optimiser, scaler, average and RNGs; the
    early-stopping state.

    Raises
    ------
    ValueError
        If the checkpoint (or ``best.pt``) is damaged, refers to code, or does not fit the run
        in ``run.json`` (say what to do).
    """
    path = out_dir / CHECKPOINT_FILE
    remedy = f"delete it to train {out_dir} from the start, or use a new --out directory"
    saved = load_file(path, remedy, map_location=device)
    if (out_dir / BEST_FILE).is_file():  # resuming keeps it: refuse a damaged or planted one
        load_file(out_dir / BEST_FILE, remedy, map_location="cpu")
    try:
        model.load_state_dict(saved["model"])
        if average is not None:
            average.load_state_dict(saved["average"])
        optimiser.load_state_dict(saved["optimizer"])
        grad_scaler.load_state_dict(saved["grad_scaler"])
        set_rng_state(saved["rng"])
        state = saved["state"]
        int(state["epoch"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as err:
        msg = (f"{path} does not fit the run in {out_dir / RUN_FILE} "
               f"({type(err).__name__}: {first_line(err)}); {remedy}.")
        raise ValueError(msg) from None
    return state
