"""Tests for gler.run: reading run directories, classical runs, the model's factor needs."""

from __future__ import annotations

import json

import pytest

from gler.config import TrainConfig
from gler.data.sample import SampleSpec
from gler.run import RUN_FILE, check_model_factors, classical_run, load_run
from gler.train import train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=4, batch_size=64, patience=10, device="cpu", pixel_fraction=1.0)


def test_loaded_run_rebuilds_its_windows(tmp_path, stack, tiny_model):
    """A loaded run's windows are those it was trained on: its L, H, factors and cut dates
    come from the one sample record of run.json."""
    train(stack, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path,
          sample=SAMPLE.replace(factors=("air_temperature",)), progress=False)
    run = load_run(tmp_path)
    windows = run.windows(stack)
    assert (windows.window, windows.horizon) == (12, 3)
    assert tuple(windows.factors) == run.factors == ("air_temperature",)
    assert windows.split == run.split == run.sample.split


def test_classical_run_reads_the_factors_it_declares(stack):
    """Stefan needs the degree-days it declares; without them the message names the flag."""
    run = classical_run(stack, "stefan", SAMPLE)
    assert {"thawing_degree_days", "freezing_degree_days"} <= set(run.factors)
    check_model_factors("persistence", [])
    with pytest.raises(ValueError, match=r"thawing_degree_days.*--degree-days-from"):
        check_model_factors("stefan", ["air_temperature"])


def test_run_dir_of_another_format_is_refused(tmp_path, stack, tiny_model):
    """A run written in another run format (another gler version) is refused when loaded."""
    train(stack, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path,
          sample=SAMPLE, progress=False)
    record = json.loads((tmp_path / RUN_FILE).read_text())
    record.update(format=99, gler_version="9.0")
    (tmp_path / RUN_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"run format 99.*Retrain"):
        load_run(tmp_path)


def test_incompatible_model_config_is_refused(tmp_path, stack, tiny_model):
    """A model config this gler cannot build is refused with a retrain hint."""
    train(stack, tiny_model, CONFIG.replace(epochs=1), out_dir=tmp_path,
          sample=SAMPLE, progress=False)
    record = json.loads((tmp_path / RUN_FILE).read_text())
    record["model_config"]["no_such_field"] = 3
    (tmp_path / RUN_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match="does not fit this gler"):
        load_run(tmp_path)

