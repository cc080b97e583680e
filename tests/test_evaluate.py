"""Tests for gler.evaluate: same targets for every model, noise floor, skill, maps, seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _pipeline_stack import make_stack, register_tiny

from gler.config import TrainConfig
from gler.data.sample import SampleSpec
from gler.evaluate import evaluate, resolve_baselines
from gler.forecast import predict
from gler.metrics import rmse
from gler.tables import aggregate_seeds, summary_table
from gler.train import train

SAMPLE = SampleSpec(window=12, horizon=3)
CONFIG = TrainConfig(epochs=2, batch_size=64, device="cpu",
                     pixel_fraction=1.0)


@pytest.fixture(scope="module")
def stack():
    return make_stack(noise=1.0)


@pytest.fixture
def runs(tmp_path, stack, monkeypatch):
    name = register_tiny(monkeypatch)
    return [train(stack, name, CONFIG.replace(seed=s), out_dir=tmp_path / f"seed{s}",
                  sample=SAMPLE, progress=False).run_dir for s in (0, 1)]


def test_every_model_is_scored_on_the_same_targets(runs, stack):
    """Persistence, the noise floor and a run are computed on one common mask."""
    result = evaluate(runs[0], stack, baselines="all")
    report = result.report
    assert {"tiny", "persistence", "harmonic", "stefan"} <= set(report["models"])
    assert report["period"][0] >= "2022-01-01"
    # Recompute persistence and the noise floor by hand on the reported forecasts' mask.
    fc = result.forecasts["persistence"].forecast.values
    tiny = result.forecasts["tiny"].forecast.values
    times = list(stack.time.values)
    idx = np.array([[times.index(t) for t in row]
                    for row in result.forecasts["tiny"].target_time.values])
    obs = stack.displacement.values[idx]
    clean = stack.displacement_clean.values[idx]
    mask = np.isfinite(obs) & np.isfinite(clean) & np.isfinite(tiny)
    for name in report["models"]:
        mask &= np.isfinite(result.forecasts[name].forecast.values)
    assert report["n_targets"] == int(mask.sum())
    assert report["models"]["persistence"]["rmse"] == pytest.approx(
        float(rmse(fc, obs, mask=mask)), rel=1e-6)
    assert report["noise_floor"]["rmse"] == pytest.approx(
        float(rmse(obs, clean, mask=mask)), rel=1e-6)
    assert report["models"]["persistence"]["skill_vs_persistence"] == 0.0
    assert len(report["models"]["tiny"]["rmse_per_horizon"]) == 3
    # The noisy-vs-clean floor is about the simulated noise (1 mm).
    assert 0.7 < report["noise_floor"]["rmse"] < 1.3
    assert report["ranking"][0] in report["models"]


def test_maps_and_json(tmp_path, runs, stack):
    """Per-pixel RMSE maps on the grid; the JSON report writes NaN as null."""
    result = evaluate(runs[0], stack, baselines=["harmonic"])
    assert set(result.report["models"]) == {"tiny", "persistence", "harmonic"}
    assert result.maps["rmse_tiny"].dims == ("y", "x")
    assert np.isnan(result.maps["rmse_tiny"].values[0, 0])  # the lake pixel
    path = result.save(tmp_path / "eval.json")
    back = json.loads(path.read_text())
    assert back["models"]["tiny"]["rmse"] == pytest.approx(result.report["models"]["tiny"]["rmse"])


def test_stability_over_seeds_and_tables(runs, stack):
    """Two seeds of one model give a mean ± std entry; tables gather regions."""
    report = evaluate(runs, stack, baselines="none").report
    labels = [k for k in report["models"] if k.startswith("tiny@")]
    assert len(labels) == 2
    spread = report["stability"]["tiny"]["rmse"]
    values = [report["models"][k]["rmse"] for k in labels]
    assert spread["mean"] == pytest.approx(np.mean(values))
    assert spread["std"] == pytest.approx(np.std(values, ddof=1))
    table = summary_table({"a": report, "b": report})
    assert list(table.columns) == ["a", "b", "mean"] and "noise floor" in table.index
    assert aggregate_seeds([report, report])["persistence"]["std"] == 0.0


def test_seed_ensemble_is_the_mean_of_the_seeds_forecasts(runs, stack):
    """The ensemble forecast is the mean of the two seeds' forecasts, scored on the same
    targets; its RMSE is at most the mean of theirs (squared error is convex)."""
    result = evaluate(runs, stack, baselines="none")
    report = result.report
    ensemble = report["models"]["tiny (ensemble)"]
    assert ensemble["kind"] == "ensemble" and report["runs"].get("tiny (ensemble)") is None
    members = [result.forecasts[f"tiny@seed{s}"]["forecast"] for s in (0, 1)]
    expected = ((members[0] + members[1]) / 2).values
    np.testing.assert_allclose(result.forecasts["tiny (ensemble)"]["forecast"].values,
                               expected, rtol=1e-6)
    seeds = [report["models"][f"tiny@seed{s}"]["rmse"] for s in (0, 1)]
    assert ensemble["rmse"] <= np.mean(seeds) + 1e-9
    assert "tiny (ensemble)" not in evaluate(runs[:1], stack, baselines="none").report["models"]


def test_an_external_forecast_is_scored_like_the_run_it_copies(runs, stack):
    """A run's own forecasts passed as an external forecast get the run's report entry, on
    the same mask; one more NaN in them shrinks the mask for every model, as a run's would."""
    own = predict(runs[0], stack, issues="test")
    report = evaluate(runs[0], stack, forecasts={"copy": own}).report
    copy, run = report["models"]["copy"], report["models"]["tiny"]
    assert (copy.pop("kind"), run.pop("kind")) == ("external", "neural")
    assert json.dumps(copy) == json.dumps(run)
    assert report["external"] == {"copy": own.attrs["source"]}
    assert report["n_targets"] == evaluate(runs[0], stack).report["n_targets"]
    holed = own.copy(deep=True)
    holed.forecast[0, :, 1, 1] = np.nan
    fewer = evaluate(runs[0], stack, baselines="none", forecasts={"copy": holed}).report
    assert fewer["n_targets"] == report["n_targets"] - SAMPLE.horizon
    with pytest.raises(ValueError, match="is issued at"):
        evaluate(runs[0], stack, forecasts={"copy": own.isel(issue_time=slice(1, None))})
    with pytest.raises(ValueError, match="other 'x' coordinates"):
        evaluate(runs[0], stack, forecasts={"copy": own.assign_coords(x=own.x + 1)})
    with pytest.raises(ValueError, match="labels of runs or baselines"):
        evaluate(runs[0], stack, forecasts={"persistence": own})


def test_baseline_selection_errors(stack):
    """Unknown or neural names are refused; 'all' drops Stefan without degree-days."""
    with pytest.raises(ValueError, match="Unknown classical baseline"):
        resolve_baselines("harmonik", stack)
    with pytest.raises(ValueError, match="Unknown classical baseline"):
        resolve_baselines(["gler"], stack)
    bare = stack.drop_vars(["thawing_degree_days", "freezing_degree_days"])
    assert "stefan" not in resolve_baselines("all", bare)
    assert "stefan" in resolve_baselines("all", stack)


def test_runs_with_different_windows_are_refused(tmp_path, runs, stack, monkeypatch):
    """Runs that cannot share targets are refused."""
    other = train(stack, register_tiny(monkeypatch), CONFIG,
                  out_dir=tmp_path / "w10",
                      sample=SAMPLE.replace(window=10), progress=False).run_dir
    with pytest.raises(ValueError, match="differ in window/horizon/split"):
        evaluate([runs[0], other], stack, baselines="none")


def test_baselines_alone_and_left_out_reasons(stack):
    """No run: the baselines are scored on the given split; a baseline the data cannot serve
    (Stefan without degree-days) is in left_out with its reason."""
    from gler.data.sample import split_by_count

    bare = stack.drop_vars(["thawing_degree_days", "freezing_degree_days"])
    split = split_by_count(bare["time"].values, test_dates=20)
    report = evaluate([], bare, window=12, horizon=3, split_dates=split).report
    assert report["runs"] == {} and report["window"] == 12
    assert "linear-trend" in report["models"] and "stefan" not in report["models"]
    assert "degree-days" in report["left_out"]["stefan"]
    assert report["split_dates"] == split.to_dict()


def test_other_stack_says_the_run_split_is_used(runs, stack, caplog):
    """A run scored on data it was not trained on keeps its split dates, and says so."""
    other = stack.copy()
    other["displacement"] = other["displacement"] + 1.0
    with caplog.at_level("WARNING"):
        report = evaluate(runs[0], other, baselines="persistence").report
    assert "not those" in caplog.text and "split dates" in caplog.text
    assert report["split_dates"]["val_end"].startswith("2021-12-31")
