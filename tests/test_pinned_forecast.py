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

from gler.data.qtrsim import simulate_region
from gler.data.sample import SampleSpec
from gler.forecast import predict
from gler.profiles import DRIVER_FACTORS, get_profile

PINNED = Path(__file__).parent / "fixtures" / "pinned_forecast.npz"
MODELS = ("gler", "lstm", "stefan")


def pinned_arrays(workdir: Path) -> dict[str, np.ndarray]:
    """The stack and the test-year forecasts of three models, trained on CPU for 2 epochs."""
    from gler import train as training

    torch.set_num_threads(1)
    stack = simulate_region("beiluhe", size=12, seed=3)
    profile = get_profile("smoke")
    arrays = {"displacement": stack["displacement"].values}
    for name in MODELS:
        config = profile.train_config(0, epochs=2, device="cpu")
        sample = SampleSpec(factors=None if name == "stefan" else DRIVER_FACTORS)
        training.train(stack, name, config, profile.model_overrides(name),
                       out_dir=workdir / name, sample=sample, progress=False)
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
