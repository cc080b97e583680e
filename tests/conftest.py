"""Session-wide test settings (headless plotting, CPU, few threads: CI has 2 cores) and the
fixtures many modules share."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)

import pytest  # noqa: E402
from _pipeline_stack import make_stack, register_tiny, train_quantile_run  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    """The small pipeline stack of ``_pipeline_stack.make_stack`` (a module may define its
    own ``stack`` to change it)."""
    return make_stack()


@pytest.fixture
def tiny_model(monkeypatch):
    """The name of a tiny neural model registered for one test."""
    return register_tiny(monkeypatch)


@pytest.fixture(scope="module")
def quantile_run(stack, tmp_path_factory):
    """The directory of ``_pipeline_stack.train_quantile_run`` on ``stack``."""
    out = tmp_path_factory.mktemp("quantile") / "lstm-q"
    train_quantile_run(stack, out)
    return out
