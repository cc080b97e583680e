"""A profile small enough to train in a test: one 12 x 12 region, two seeds, one epoch."""

from __future__ import annotations

from gler.config import TrainConfig
from gler.data.sample import SampleSpec
from gler.profiles import Profile

TINY = Profile(
    name="tiny", description="test", regions=("beiluhe",), size=12, seeds=(0, 1),
    sample=SampleSpec(window=8, horizon=2),
    train=TrainConfig(epochs=1, batch_size=128, pixel_fraction=1.0,
                      max_samples_per_epoch=256, num_threads=1, device="cpu"),
    gler_overrides={"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 4,
                    "gru_hidden": 8, "dropout": 0.0},
    baseline_overrides={"hidden": 8, "num_layers": 1, "n_heads": 2, "dropout": 0.0},
)
