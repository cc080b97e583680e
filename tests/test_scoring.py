"""Probabilistic scores and the chapter's tables built from evaluation reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

import gler.scoring
from gler.conformal import residual_calibration
from gler.scoring import (
    coverage_odds,
    coverage_table,
    coverage_text,
    interpolation,
    nominal_inside,
    probabilistic_scores,
    quantile_scores,
    score_table,
    wins_sentence,
    within_target,
)


def test_crps_of_a_calibrated_normal_is_its_known_value():
    """For N(0, 1) forecasts of N(0, 1) outcomes the expected CRPS is 1/sqrt(pi)."""
    rng = np.random.default_rng(5)
    shape = (100, 1, 100)
    cal = residual_calibration(np.zeros(shape), rng.normal(size=shape))
    scores = probabilistic_scores(np.zeros(shape), rng.normal(size=shape), cal)
    assert scores["crps"] == pytest.approx(1 / np.sqrt(np.pi), rel=0.03)
    assert np.allclose(scores["pit_histogram"], 0.1, atol=0.02)
    assert scores["width"]["0.9"][0] == pytest.approx(2 * 1.645, rel=0.05)


def test_a_biased_forecast_scores_worse_and_its_pit_slopes():
    """Calibrated on unbiased errors, a forecast 2 mm too low: higher CRPS, PIT piles up at 1."""
    rng = np.random.default_rng(6)
    shape = (100, 1, 100)
    cal = residual_calibration(np.zeros(shape), rng.normal(size=shape))
    obs = rng.normal(size=shape)
    good = probabilistic_scores(np.zeros(shape), obs, cal)
    bad = probabilistic_scores(np.full(shape, -2.0), obs, cal)
    assert bad["crps"] > good["crps"] and bad["pit_histogram"][-1] > 0.4


def _report(crps: dict[str, float], coverage: float) -> dict:
    entry = {"coverage": {"0.8": [coverage, 0.8], "0.9": [0.9, 0.9]},
             "coverage_interval": {"0.8": [[coverage - 0.04, coverage + 0.04], [0.7, 0.9]],
                                   "0.9": [[0.85, 0.95], [0.88, 0.92]]}}
    return {"models": {m: {"probabilistic": {**entry, "crps": c, "pinball": c / 2},
                           "clean": {"probabilistic": {**entry, "crps": c / 2}}}
                       for m, c in crps.items()}}


def test_tables_and_sentence_from_reports():
    """Coverage in %, the ±2 pp check per row, CRPS per region and who wins where."""
    reports = {"a": _report({"gler": 1.0, "harmonic": 2.0}, 0.75),
               "b": _report({"gler": 3.0, "harmonic": 2.5}, 0.81)}
    cover = coverage_table(reports)
    assert cover.loc[("a", 80), "step 1"] == pytest.approx(75)
    assert within_target(cover).to_dict() == {("a", 80): False, ("a", 90): True,
                                              ("b", 80): True, ("b", 90): True}
    bounds = coverage_table(reports, bounds=True)
    assert bounds.index.names == ["region", "nominal %", "bound"]
    assert bounds.loc[("a", 80, "high"), "step 1"] == pytest.approx(79)
    assert nominal_inside(bounds).to_dict() == {("a", 80): False, ("a", 90): True,
                                                ("b", 80): True, ("b", 90): True}
    crps = score_table(reports)
    assert list(crps.columns) == ["a", "b", "mean"] and crps.loc["gler", "a"] == 1.0
    assert score_table(reports, against="clean").loc["gler", "b"] == 1.5
    sentence = wins_sentence(crps)
    assert "lowest CRPS in a" in sentence and "beaten in b (harmonic: 2.50 vs 3.00 mm)" in sentence


def test_coverage_against_its_confidence_interval():
    """A row is consistent with nominal only if every step's interval holds the nominal level;
    the text shows coverage and interval per cell."""
    index = pd.MultiIndex.from_tuples([("a", 80), ("a", 90)], names=["region", "nominal %"])
    coverage = pd.DataFrame({"step 1": [76.0, 85.0], "step 2": [79.0, 88.0]}, index=index)
    rows = [("a", 80, "low"), ("a", 80, "high"), ("a", 90, "low"), ("a", 90, "high")]
    interval = pd.DataFrame({"step 1": [72.0, 81.0, 80.0, 89.5], "step 2": [75.0, 83.0, 84.0,
                                                                              92.0]},
                            index=pd.MultiIndex.from_tuples(rows, names=["region", "nominal %",
                                                                         "bound"]))
    assert nominal_inside(interval).to_dict() == {("a", 80): True, ("a", 90): False}
    text = coverage_text(coverage, interval)
    assert text.loc[("a", 80), "step 1"] == "76.0 (72.0-81.0)"
    assert text["nominal in CI"].tolist() == [True, False]


def test_coverage_odds_of_simulated_periods():
    """Mean, spread and the share of periods within the tolerance, per level and jointly."""
    draws = {"a": pd.DataFrame({80: [79.0, 83.0, 81.0, 77.0], 90: [90.0, 93.0, 89.0, 88.5]})}
    odds = coverage_odds(draws)
    assert odds.loc["a", ("80 %", "mean")] == 80.0
    assert odds.loc["a", ("80 %", "std")] == pytest.approx(np.std([79, 83, 81, 77], ddof=1))
    assert odds.loc["a", ("80 %", "within ±2 pp")] == 0.5  # 79 and 81
    assert odds.loc["a", ("90 %", "within ±2 pp")] == 0.75  # all but 93
    assert odds.loc["a", ("all levels", "within ±2 pp")] == 0.5  # draws 0 and 2


def test_interpolated_quantiles_invert_the_alerts_distribution_tails_included():
    """The scores' quantile function is the inverse of the alerts' CDF at every level, inside
    the head's levels and in both exponential tails, and is non-decreasing."""
    from gler.alerts import quantile_cdf

    rng = np.random.default_rng(4)
    levels = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    quantiles = np.cumsum(rng.exponential(1.0, (30, len(levels))), axis=1) - 3.0
    at = np.array([0.001, 0.01, 0.03, 0.05, 0.2, 0.5, 0.77, 0.95, 0.97, 0.999])
    values = interpolation(levels, at)(quantiles)
    assert (np.diff(values, axis=1) > 0).all()
    for j, level in enumerate(at):
        np.testing.assert_allclose(quantile_cdf(quantiles, levels, values[:, j]), level,
                                   rtol=1e-9)


def _scored_case(device: str = "cpu") -> dict:
    """Both kinds of scores of one forecast with gaps (a masked pixel, missing targets) and a
    tied pair of quantiles, each against its own calibration, computed for ``device``."""
    rng = np.random.default_rng(11)
    shape = (20, 3, 60)
    obs = rng.normal(size=shape).astype(np.float32)
    obs[rng.random(shape) < 0.05] = np.nan
    pred = (obs + rng.normal(size=shape)).astype(np.float32)
    pred[:, :, :2] = np.nan
    cal = residual_calibration(rng.normal(size=shape), rng.normal(size=shape))
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    quantiles = np.stack([pred + 1.3 * norm.ppf(lv) for lv in levels]).astype(np.float32)
    quantiles[1, 0, 0, 5] = quantiles[2, 0, 0, 5]
    return {"split": probabilistic_scores(pred, obs, cal, device=device),
            "quantile": quantile_scores(quantiles, levels, obs, device=device)}


def _assert_same_scores(a, b, rel: float) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same_scores(a[key], b[key], rel)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _assert_same_scores(u, v, rel)
    else:
        assert a == pytest.approx(b, rel=rel, abs=1e-15, nan_ok=True)


def test_scores_in_pytorch_equal_the_numpy_scores(monkeypatch):
    """The PyTorch arrays a GPU scores with (here on the CPU) give the NumPy scores to
    rounding: one implementation, two array libraries."""
    on_numpy = _scored_case()
    assert isinstance(gler.scoring.on_device(np.zeros(2), "cpu"), np.ndarray)
    monkeypatch.setattr(gler.scoring, "on_device",
                        lambda values, device: torch.as_tensor(values, dtype=torch.float64))
    backends, crps = [], gler.scoring.sr.crps_quantile
    monkeypatch.setattr(gler.scoring.sr, "crps_quantile",
                        lambda *a, backend: backends.append(backend) or crps(*a, backend=backend))
    on_torch = _scored_case()
    assert set(backends) == {"torch"} and len(backends) == 6  # 2 forecasts x 3 steps
    assert on_torch["split"]["crps"] != on_numpy["quantile"]["crps"]  # two forecasts
    _assert_same_scores(on_torch, on_numpy, rel=1e-12)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_scores_on_the_gpu_equal_the_cpu_scores():
    """Scored on CUDA (float64 tensors), the scores are the CPU's to rounding."""
    assert torch.is_tensor(gler.scoring.on_device(np.zeros(2), "cuda"))
    _assert_same_scores(_scored_case("cuda"), _scored_case("cpu"), rel=1e-12)


def test_scores_in_blocks_of_issue_dates_equal_the_scores_at_once(monkeypatch):
    """Scored a few issue dates at a time (bounded memory), the scores are those of all the
    targets at once, to rounding."""
    at_once = _scored_case()
    blocks = []
    row_blocks = gler.scoring._row_blocks
    monkeypatch.setattr(gler.scoring, "SCORE_BLOCK", 200)
    monkeypatch.setattr(gler.scoring, "_row_blocks",
                        lambda keep, size: blocks.append(row_blocks(keep, size)) or blocks[-1])
    in_blocks = _scored_case()
    assert min(len(b) for b in blocks) > 3  # 20 dates x up to 58 pixels, 200 at a time
    _assert_same_scores(in_blocks, at_once, rel=1e-12)

