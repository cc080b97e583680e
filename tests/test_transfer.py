"""Spatial transfer: one model trained on several stacks, tested on another (evaluation.md).

Covers :mod:`gler.data.multistack` (pooled windows, per-stack pixel sampling), the pooled
normalisation of :class:`gler.data.scaling.Scaler`, :func:`gler.train.train` on several stacks,
:meth:`gler.experiment.Experiment.transfer` and ``gler train`` with several ``--data``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from _pipeline_stack import interrupt_after, make_stack

from gler.cli import main
from gler.config import TrainConfig
from gler.data.multistack import MultiStackWindows, pool_windows, shared_factors
from gler.data.qtrsim import write_simulation
from gler.data.sample import SampleSpec
from gler.data.scaling import Scaler
from gler.data.windows import WindowDataset
from gler.evaluate import evaluate
from gler.experiment import Experiment
from gler.profiles import Profile
from gler.run import CHECKPOINT_FILE, LOG_FILE, read_run_record
from gler.tables import NOISE_FLOOR, transfer_sentence, transfer_table
from gler.train import train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=3, batch_size=64, patience=10, device="cpu",
                     pixel_fraction=1.0)
SETTINGS = {"window": 12, "horizon": 3}


def _region(name: str, seed: int, **kwargs) -> xr.Dataset:
    stack = make_stack(seed=seed, **kwargs)
    stack.attrs["region"] = name
    return stack


@pytest.fixture(scope="module")
def regions():
    """Three small regions; 'b' is acquired on other dates than 'a' (as QTR-sim regions are)."""
    return {"a": _region("a", 1), "b": _region("b", 2, start="2017-01-05", ny=2, nx=5),
            "c": _region("c", 3)}


def _weights(run_dir):
    """The weights after the last epoch."""
    return torch.load(run_dir / CHECKPOINT_FILE, weights_only=False)["model"]


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def _after(stack: xr.Dataset, date: str, value: float) -> xr.Dataset:
    """A copy of ``stack`` whose displacement after ``date`` is replaced by ``value``."""
    out = stack.copy(deep=True)
    later = out["time"] > np.datetime64(date)
    out["displacement"] = out["displacement"].where(~later, np.float32(value))
    return out


# -- pooled windows ---------------------------------------------------------------------------

def test_pooled_batch_gathers_each_stacks_samples_in_the_order_asked(regions):
    """A pooled batch holds, at each position, exactly the sample its own stack gives."""
    pooled = pool_windows([regions["a"], regions["b"]], **SETTINGS)
    index = pooled.indices("train")
    assert len(index) == sum(len(part) for part in index.parts)
    positions = np.random.default_rng(0).permutation(len(index))[:40]
    batch = pooled.batch(index, positions)
    for k, position in enumerate(positions):
        r = int(np.searchsorted(index.starts, position, side="right") - 1)
        own = pooled.parts[r].batch(index.parts[r], np.array([position - index.starts[r]]))
        np.testing.assert_array_equal(batch.sd[k], own.sd[0])
        np.testing.assert_array_equal(batch.target[k], own.target[0])
        np.testing.assert_array_equal(batch.ef[k], own.ef[0])
        assert batch.pixel[k] == own.pixel[0] + pooled.offsets[r]
    assert len(pooled.batch(index, slice(0, 7)).pixel) == 7


def test_pixels_are_sampled_in_each_stack_with_a_seed(regions):
    """The pixel fraction is drawn in every stack; the same seed gives the same pixels."""
    pooled = pool_windows([regions["a"], regions["b"]], **SETTINGS)
    pixels = pooled.pixels(0.5, seed=3)
    np.testing.assert_array_equal(pixels, pooled.pixels(0.5, seed=3))
    assert not np.array_equal(pixels, pooled.pixels(0.5, seed=4))
    for part, local in pooled.split_pixels(pixels):
        assert len(local) == round(0.5 * len(part.valid_pixels))
        assert set(local) <= set(part.valid_pixels)


def test_pooled_scaler_uses_only_the_training_periods(regions):
    """The scaler pools the stacks' training periods: nothing after the cut changes it."""
    a, b = regions["a"], regions["b"]
    pooled = Scaler.fit(pool_windows([a, b], **SETTINGS))
    altered = Scaler.fit(pool_windows([_after(a, "2021-01-01", 1e4),
                                       _after(b, "2021-01-01", -1e4)], **SETTINGS))
    assert altered == pooled
    one = [Scaler.fit(WindowDataset(s, **SETTINGS)).scale for s in (a, b)]
    assert min(one) < pooled.scale < max(one)
    # The training period itself does count.
    assert Scaler.fit(pool_windows([_after(a, "2019-01-01", 1e4), b], **SETTINGS)) != pooled
    single = WindowDataset(a, **SETTINGS)
    assert Scaler.fit(MultiStackWindows([single])) == Scaler.fit(single)


# -- training on several stacks ---------------------------------------------------------------

def test_training_on_two_stacks_is_deterministic_and_evaluates_on_a_third(tmp_path, regions,
                                                                          tiny_model):
    """Same seed, same weights; the run records its stacks; evaluate scores the held-out one."""
    stacks = [regions["a"], regions["b"]]
    first = train(stacks, tiny_model, CONFIG, out_dir=tmp_path / "one",
                  sample=SAMPLE, progress=False)
    train(stacks, tiny_model, CONFIG, out_dir=tmp_path / "two", sample=SAMPLE, progress=False)
    train(stacks, tiny_model, CONFIG.replace(seed=1), out_dir=tmp_path / "seed1",
          sample=SAMPLE, progress=False)
    assert first.epochs_run == 3
    assert _same_weights(tmp_path / "one", tmp_path / "two")
    assert not _same_weights(tmp_path / "one", tmp_path / "seed1")
    record = read_run_record(tmp_path / "one")
    assert [s["name"] for s in record["stacks"]] == ["a", "b"]
    alone = train(regions["a"], tiny_model, CONFIG, out_dir=tmp_path / "alone",
                  sample=SAMPLE, progress=False)
    assert "stacks" not in read_run_record(alone.run_dir)
    assert not _same_weights(tmp_path / "one", tmp_path / "alone")
    result = evaluate(tmp_path / "one", regions["c"], baselines="harmonic", device="cpu")
    report = result.report
    assert report["region"] == "c" and set(report["models"]) == {"tiny", "persistence",
                                                                 "harmonic"}
    assert np.isfinite(report["models"]["tiny"]["rmse"])
    assert report["n_targets"] == evaluate(alone.run_dir, regions["c"], baselines="harmonic",
                                           device="cpu").report["n_targets"]


def test_test_period_of_the_training_stacks_never_enters_training(tmp_path, regions,
                                                                  tiny_model):
    """Replacing every value after the validation cut leaves scaler and weights unchanged."""
    stacks = [regions["a"], regions["b"]]
    train(stacks, tiny_model, CONFIG, out_dir=tmp_path / "plain", sample=SAMPLE, progress=False)
    altered = [_after(s, "2022-01-01", 5e3) for s in stacks]
    train(altered, tiny_model, CONFIG, out_dir=tmp_path / "altered", sample=SAMPLE, progress=False)
    assert _same_weights(tmp_path / "plain", tmp_path / "altered")
    scalers = [(tmp_path / d / "scaler.json").read_text() for d in ("plain", "altered")]
    assert scalers[0] == scalers[1]


def test_interrupted_pooled_run_resumes_to_the_same_weights(tmp_path, regions, tiny_model):
    """Resume works on pooled windows as on one stack (with a capped validation subset)."""
    stacks = [regions["a"], regions["b"]]
    config = CONFIG.replace(max_val_samples=100, max_samples_per_epoch=200)
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(stacks, tiny_model, config, out_dir=full, sample=SAMPLE, progress=False)
    with pytest.raises(KeyboardInterrupt):  # right after epoch 1
        train(stacks, tiny_model, config, out_dir=cut,
              sample=SAMPLE, progress=False, on_epoch_end=interrupt_after(1))
    assert train(stacks, tiny_model, config, out_dir=cut,
                 sample=SAMPLE, progress=False).epochs_run == 3
    assert _same_weights(full, cut)
    assert '"event": "resume"' in (cut / LOG_FILE).read_text()


def test_run_dir_of_other_stacks_is_refused(tmp_path, regions, tiny_model):
    """Resuming into a run trained on other stacks names the differing data."""
    config = CONFIG.replace(epochs=1)
    train([regions["a"], regions["b"]], tiny_model, config, out_dir=tmp_path,
          sample=SAMPLE, progress=False)
    with pytest.raises(ValueError, match="differs in: data_fingerprint"):
        train([regions["a"], regions["c"]], tiny_model, config, out_dir=tmp_path,
              sample=SAMPLE, progress=False)


def test_stacks_that_cannot_be_pooled_are_refused_by_name(regions):
    """Different factors, units or periods, or a stack too short: the message names it."""
    a = regions["a"]
    no_temp = regions["c"].drop_vars("air_temperature")
    with pytest.raises(ValueError, match=r"different factor sets: c lacks \['air_temperature'\]"):
        pool_windows([a, no_temp], **SETTINGS)
    kelvin = regions["c"].copy()
    kelvin["air_temperature"] = kelvin["air_temperature"].assign_attrs(units="K")
    with pytest.raises(ValueError, match="'air_temperature' is in 'K' in c"):
        pool_windows([a, kelvin], **SETTINGS)
    later = _region("late", 4, start="2018-01-01", end="2023-12-31")
    with pytest.raises(ValueError, match=r"default split dates differ.*--train-end"):
        pool_windows([a, later], **SETTINGS)
    pooled = pool_windows([a, later], train_end="2020-12-31", val_end="2021-12-31", **SETTINGS)
    assert pooled.names == ["a", "late"]
    short = _region("short", 5, start="2020-09-01")
    with pytest.raises(ValueError, match=r"^short: No train sample.*horizon reaches past"):
        pool_windows([a, short], train_end="2020-12-31", val_end="2021-12-31", **SETTINGS)
    with pytest.raises(ValueError, match="at least one stack"):
        pool_windows([], **SETTINGS)


def test_shared_factors_warns_about_the_others(regions, caplog):
    """Factors missing from one stack are left out with a warning naming the stack."""
    no_temp = regions["c"].drop_vars("air_temperature")
    assert shared_factors([regions["a"], no_temp]) == ["thawing_degree_days",
                                                       "freezing_degree_days"]
    assert "a: 1 factor(s) ['air_temperature']" in caplog.text


# -- the experiment -----------------------------------------------------------------------------

TINY = Profile(
    name="tiny-transfer", description="test", regions=("beiluhe",), size=8, seeds=(0,),
    sample=SampleSpec(window=8, horizon=2),
    train=TrainConfig(epochs=1, batch_size=128, pixel_fraction=0.5,
                      max_samples_per_epoch=256, num_threads=1, device="cpu"),
    gler_overrides={"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 4,
                    "gru_hidden": 8, "dropout": 0.0},
)
POOL = ("beiluhe", "xidatan", "tuotuohe")


def test_experiment_transfer_never_reads_the_held_out_region(tmp_path, caplog):
    """The transfer run is trained on the other regions only: changing the held-out region's
    data leaves its weights unchanged; the table puts it next to the in-region run, scored on
    the runs' own split dates without a warning that the data are not the training data."""
    exp = Experiment(TINY, root=tmp_path / "one")
    summary = exp.train_transfer("beiluhe", "gler", 0, regions=POOL)
    assert summary["train_regions"] == ["xidatan", "tuotuohe"]
    run_dir = exp.transfer_folder("beiluhe", POOL) / "gler" / "seed0"
    assert [s["name"] for s in read_run_record(run_dir)["stacks"]] == ["xidatan", "tuotuohe"]
    assert exp.summaries().empty  # transfer runs stay out of the in-region run table

    other = Experiment(TINY, root=tmp_path / "two")
    (other.path / "data").mkdir(parents=True)
    scrambled = exp.stack("beiluhe").copy(deep=True)
    disp = scrambled["displacement"]
    scrambled["displacement"] = disp.copy(data=disp.values[::-1] * 3)
    write_simulation(scrambled, other.path / "data" / "beiluhe.nc")
    assert not other.stack("beiluhe")["displacement"].equals(exp.stack("beiluhe")[
        "displacement"])
    other.train_transfer("beiluhe", "gler", 0, regions=POOL)
    assert _same_weights(run_dir, other.transfer_folder("beiluhe", POOL) / "gler" / "seed0")

    with caplog.at_level("WARNING", logger="gler.evaluate"):
        table = exp.transfer_table(["beiluhe"], regions=POOL)
    assert "not those" not in caplog.text and "other split dates" not in caplog.text
    inside = exp.evaluate("beiluhe").report["models"]
    across = exp.transfer("beiluhe", regions=POOL).report["models"]
    assert table.loc["gler", ("beiluhe", "in-region")] == pytest.approx(inside["gler"]["rmse"])
    assert table.loc["gler", ("beiluhe", "transfer")] == pytest.approx(across["gler"]["rmse"])
    assert table.loc["gler", ("beiluhe", "transfer")] != table.loc["gler", ("beiluhe",
                                                                             "in-region")]
    for name in ("persistence", "harmonic", NOISE_FLOOR):  # fitted per window: no transfer
        assert table.loc[name, ("beiluhe", "transfer")] == pytest.approx(
            table.loc[name, ("beiluhe", "in-region")])
    with pytest.raises(ValueError, match="No training region left"):
        exp.transfer_regions("beiluhe", ["beiluhe"])


def test_transfer_table_refuses_reports_on_other_targets():
    """Reports scored on different targets cannot share a table."""
    entry = {"kind": "neural", "rmse": 1.0, "mae": 1.0, "r2": 0.5}
    inside = {"r": {"models": {"gler": entry}, "runs": {}, "period": ["2022-01-01",
                                                                      "2022-12-01"],
                    "n_targets": 10}}
    across = {"r": {**inside["r"], "n_targets": 9}}
    with pytest.raises(ValueError, match="different targets"):
        transfer_table(inside, across)
    table = transfer_table(inside, {"r": {**inside["r"], "models": {
        "gler": {**entry, "rmse": 2.0}}}})
    assert table.loc["gler"].tolist() == [1.0, 2.0]
    assert isinstance(table.columns, pd.MultiIndex)


def test_transfer_sentence_follows_the_table():
    """The chapter's sentence says worse/better per region from the table's numbers."""
    def report(rmse):
        return {"models": {"gler": {"kind": "neural", "rmse": rmse, "mae": rmse, "r2": 0.5}},
                "runs": {}, "period": ["2022-01-01", "2022-12-01"], "n_targets": 10}
    table = transfer_table({"a": report(2.0), "b": report(3.0)},
                           {"a": report(2.5), "b": report(2.0)})
    text = transfer_sentence(table)
    assert "worse than trained in-region on a (2.50 vs 2.00 mm)" in text
    assert "better on b (2.00 vs 3.00 mm)" in text
    assert "2.25 mm after transfer vs 2.50 mm in-region" in text
    with pytest.raises(ValueError, match="'lstm' is not in the table"):
        transfer_sentence(table, model="lstm")


# -- the command line ---------------------------------------------------------------------------

def test_cli_trains_on_two_data_and_evaluates_on_a_third(tmp_path, regions, capsys):
    """gler train --data a --data b, then gler evaluate on c; bad inputs exit 2."""
    paths = {}
    for name, stack in regions.items():
        paths[name] = str(tmp_path / f"{name}.nc")
        stack.to_netcdf(paths[name])
    run = str(tmp_path / "run")
    common = ["--profile", "smoke", "--epochs", "1", "--window", "12", "--horizon", "3",
              "--device", "cpu", "--no-progress"]
    assert main(["train", "--data", paths["a"], "--data", paths["b"], *common,
                 "--out", run]) == 0
    assert "one model trained on 2 stacks" in capsys.readouterr().out
    assert [s["name"] for s in json.loads((tmp_path / "run" / "run.json").read_text())[
        "stacks"]] == ["a", "b"]
    assert main(["evaluate", "--run", run, "--data", paths["c"], "--baselines", "none",
                 "--out", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["region"] == "c" and "gler" in report["models"]

    no_factors = str(tmp_path / "bare.nc")
    regions["c"][["displacement"]].to_netcdf(no_factors)
    cases = [
        (["--data", paths["a"], "--data", paths["b"], "--factors", str(tmp_path / "f.csv")],
         "2 --data but 1 --factors"),
        (["--data", paths["a"], "--data", no_factors], "different factor sets: c lacks"),
    ]
    for data, message in cases:
        assert main(["train", *data, *common, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "several times" in capsys.readouterr().out
