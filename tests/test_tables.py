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
