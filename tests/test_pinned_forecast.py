"""Behaviour pin: a fixed-seed smoke run gives bit-identical forecasts across refactors.

``tests/fixtures/pinned_forecast.npz`` was written by this file (``python
tests/test_pinned_forecast.py --write``) before the structure of the package was changed; the
simulated stack, a trained GLER, a trained neural baseline and a classical baseline must
reproduce it exactly. Regenerate it only for a change that is meant to alter results, and say
so in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from gler.config import TrainConfig
from gler.data.qtrsim import simulate_region
from gler.data.sample import SampleSpec
from gler.forecast import predict

PINNED = Path(__file__).parent / "fixtures" / "pinned_forecast.npz"
MODELS = ("gler", "lstm", "stefan")
#: The smoke profile's settings when the pin was written, spelled out so that tuning the
#: profiles does not move the pin.
CONFIG = TrainConfig(epochs=2, batch_size=256, lr=3e-3, weight_decay=0.01, patience=4,
                     pixel_fraction=0.5, max_samples_per_epoch=8192, num_threads=1,
                     device="cpu")
OVERRIDES = {
    "gler": {"d_model": 16, "n_heads": 2, "dense_dim": 8, "conv_dim": 8, "gru_hidden": 16,
             "dropout": 0.1},
    "lstm": {"hidden": 16, "num_layers": 1, "n_heads": 2, "dropout": 0.1},
}
#: The drivers of the simulated physics (gler.profiles.DRIVER_FACTORS when the pin was written).
DRIVER_FACTORS = ("air_temperature", "precipitation", "soil_moisture",
                  "sqrt_thawing_degree_days", "sqrt_freezing_degree_days")


def pinned_arrays(workdir: Path) -> dict[str, np.ndarray]:
    """The stack and the test-year forecasts of three models, trained on CPU for 2 epochs."""
    from gler import train as training

    torch.set_num_threads(1)
    stack = simulate_region("beiluhe", size=12, seed=3)
    arrays = {"displacement": stack["displacement"].values}
    for name in MODELS:
        sample = SampleSpec(factors=None if name == "stefan" else DRIVER_FACTORS)
        training.train(stack, name, CONFIG, OVERRIDES.get(name), out_dir=workdir / name,
                       sample=sample, progress=False)
        arrays[name] = predict(workdir / name, stack, issues="test")["forecast"].values
    return arrays


def test_smoke_forecasts_are_bit_identical(tmp_path):
    """Same seed, same data: the same bits as when the pin was written."""
    expected = np.load(PINNED)
    got = pinned_arrays(tmp_path)
    assert sorted(got) == sorted(expected.files)
    for name, values in got.items():
        np.testing.assert_array_equal(values, expected[name], err_msg=name)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.savez_compressed(PINNED, **pinned_arrays(Path(tmp)))
    print(f"wrote {PINNED}")
