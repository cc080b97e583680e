"""Session-wide test settings: headless plotting, CPU, few threads (CI has 2 cores)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
