"""Tests for gler.tables: the sentences follow the tables they describe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gler.tables import paper_table, ranking_sentence


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
