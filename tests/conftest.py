"""Session-wide test settings (headless plotting, CPU, few threads: CI has 2 cores) and the
fixtures many modules share."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)

import pytest  # noqa: E402
from _pipeline_stack import make_stack, register_tiny  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    """The small pipeline stack of ``_pipeline_stack.make_stack`` (a module may define its
    own ``stack`` to change it)."""
    return make_stack()


@pytest.fixture
def tiny_model(monkeypatch):
    """The name of a tiny neural model registered for one test."""
    return register_tiny(monkeypatch)
