"""Tests for gler.tables: the sentences follow the tables they describe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gler.tables import ensemble_table, paper_table, ranking_sentence


def test_ranking_sentence_names_the_better_models():
    """The sentence is generated from the numbers: a better baseline is named."""
    table = pd.DataFrame([
        {"region": "a", "model": "gler", "seed": 0, "kind": "neural", "rmse": 2.0},
        {"region": "a", "model": "harmonic", "seed": np.nan, "kind": "classical", "rmse": 1.5},
        {"region": "b", "model": "gler", "seed": 0, "kind": "neural", "rmse": 1.0},
        {"region": "b", "model": "harmonic", "seed": np.nan, "kind": "classical", "rmse": 1.2},
    ])
    text = ranking_sentence(paper_table(table, metrics=("rmse",)))
    assert "ranks 2 of 2" in text
    assert "harmonic does better" in text
    assert "a (harmonic, 1.50 vs 2.00 mm)" in text
    with pytest.raises(ValueError, match="not in the table"):
        ranking_sentence(paper_table(table, metrics=("rmse",)), model="lstm")


def test_ensemble_table_puts_the_seeds_beside_their_ensemble():
    """Seed mean and std come from the seed rows, the ensemble from its own row; a model
    with no ensemble and the classical baselines are not in it."""
    rows = [{"region": r, "model": "gler", "seed": k, "kind": "neural", "rmse": v}
            for r, values in (("a", (2.0, 4.0)), ("b", (1.0, 1.0))) for k, v in enumerate(values)]
    rows += [{"region": "a", "model": "gler (ensemble)", "seed": np.nan, "kind": "ensemble",
              "rmse": 2.5},
             {"region": "b", "model": "gler (ensemble)", "seed": np.nan, "kind": "ensemble",
              "rmse": 0.9},
             {"region": "a", "model": "lstm", "seed": 0, "kind": "neural", "rmse": 3.0},
             {"region": "a", "model": "harmonic", "seed": np.nan, "kind": "classical",
              "rmse": 1.5}]
    wide = ensemble_table(pd.DataFrame(rows))
    assert list(wide.index) == ["gler"]
    assert wide.loc["gler", ("a", "seed mean")] == 3.0
    assert wide.loc["gler", ("a", "seed std")] == pytest.approx(np.sqrt(2))
    assert wide.loc["gler", ("mean", "ensemble")] == pytest.approx(1.7)


def _histories():
    """Two models, one region, two seeds: lstm's seed 1 is best in epoch 1."""
    rows = []
    for model, seed, val in (("gler", 0, (0.5, 0.4, 0.45)), ("gler", 1, (0.6, 0.5, 0.4)),
                             ("lstm", 0, (0.5, 0.45, 0.5)), ("lstm", 1, (0.3, 0.4, 0.5))):
        rows += [{"model": model, "region": "a", "seed": seed, "epoch": e + 1,
                  "train_loss": 0.2, "val_loss": v} for e, v in enumerate(val)]
    return pd.DataFrame(rows)


def test_run_diagnostics_count_first_epoch_bests_and_the_gap():
    """Best epochs, runs best at epoch 1 and the gap at the best epoch, per model."""
    from gler.tables import run_diagnostics

    table = run_diagnostics(_histories())
    assert table.loc["gler", "best_at_epoch_1"] == 0 and table.loc["lstm", "best_at_epoch_1"] == 1
    assert table.loc["gler", "mean_best_epoch"] == 2.5
    assert table.loc["lstm", "train_val_gap"] == pytest.approx(((0.45 - 0.2) + (0.3 - 0.2)) / 2)
    assert (table["runs"] == 2).all() and (table["mean_epochs_run"] == 3).all()


def test_remedy_effects_compare_trials_with_their_models_median():
    """A remedy's row averages its trials' objective minus their model's median trial."""
    from gler.tables import remedy_effects

    trials = pd.DataFrame({
        "model": ["gler"] * 3 + ["lstm"] * 3, "state": ["COMPLETE"] * 5 + ["PRUNED"],
        "value": [2.0, 3.0, 4.0, 1.0, 2.0, 9.0],
        "params_ema_decay": [0.0, 0.99, 0.99, 0.0, 0.99, 0.99],
        "params_warmup_epochs": [0, 0, 1, 0, 0, 0], "params_factor_dropout": [0.0] * 6})
    effects = remedy_effects(trials)
    on = effects.loc[("ema_decay", 0.99)]
    assert on["trials"] == 3 and on["on"]
    # gler median 3: (0 + 1) ; lstm median 1.5: (+0.5) -> mean 0.5
    assert on["relative objective (mm)"] == pytest.approx(0.5)
    assert effects.loc[("warmup_epochs", 1), "trials"] == 1
