"""Tests for the training and evaluation figures (gler/plot/diagnostics.py)."""

from __future__ import annotations

import matplotlib.dates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gler import plot


def test_error_stability_attention_and_training_figures():
    """Per-horizon curves, stability, attention heatmaps and training curves draw."""
    per_h = pd.DataFrame({"model": ["gler", "gler", "noise floor", "noise floor"],
                          "horizon": [1, 2, 1, 2], "rmse": [1.0, 1.5, 0.5, 0.5]})
    ax = plot.plot_horizon_errors(per_h)
    assert {line.get_label() for line in ax.lines} == {"gler", "noise floor"}
    table = pd.DataFrame({"region": ["a"] * 3, "model": ["gler"] * 3, "kind": ["neural"] * 3,
                          "rmse": [1.0, 1.2, 1.1]})
    assert plot.plot_stability(table).get_yticklabels()[0].get_text() == "gler"
    fig = plot.plot_attention({"thaw": np.full((4, 4), 0.25), "freeze": np.eye(4)},
                              dates=pd.date_range("2021-01-01", periods=4, freq="12D"))
    assert "attention weight" in fig.axes[-1].get_ylabel()
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [0.9, 0.7]})
    assert plot.plot_training_curves(history).get_yscale() == "log"
    plt.close("all")


def test_feature_maps_and_splits(stack):
    """Feature heatmaps get one colour bar each; the split timeline shows three periods."""
    dates = stack.indexes["time"][:6]
    fig = plot.plot_feature_maps({"dense": np.ones((6, 3)), "factors": np.zeros((6, 2))},
                                 dates=dates, row_labels={"factors": ["a", "b"]})
    assert sum(ax.get_ylabel() == "activation" for ax in fig.axes) == 2
    times = stack.indexes["time"]
    ax = plot.plot_splits(times, pd.Timestamp("2017-12-31"), pd.Timestamp("2018-06-30"),
                          window=8, horizon=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["train", "validation", "test"]
    plt.close("all")


def test_folds_timeline_has_a_row_per_fold_and_the_test_period(stack):
    """Each fold is a row of training and validation targets; the test row starts where the
    last fold's validation ends."""
    from gler.data.sample import SplitDates

    times = stack.indexes["time"]
    folds = [SplitDates(pd.Timestamp("2019-12-31"), pd.Timestamp("2020-12-31")),
             SplitDates(pd.Timestamp("2020-12-31"), pd.Timestamp("2021-12-31"))]
    ax = plot.plot_folds(times, folds)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fold 1", "fold 2", "test"]
    test_bar = next(p for p in ax.patches if p.get_y() < 0)
    assert pd.Timestamp(matplotlib.dates.num2date(test_bar.get_x()).date()) == folds[-1].val_end
    plt.close("all")


def test_learning_curves_have_a_panel_per_model_and_region():
    """One panel per model x region; the legend names the seeds and both losses."""
    rows = [{"model": m, "region": r, "seed": s, "epoch": e, "train_loss": 1 / e,
             "val_loss": 1 / e + 0.1} for m in ("gler", "lstm") for r in ("a", "b", "c")
            for s in (0, 1) for e in (1, 2, 3)]
    fig = plot.plot_learning_curves(pd.DataFrame(rows))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[:3] == ["gler · a", "gler · b", "gler · c"] and len(titles) == 6
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["seed 0", "seed 1", "training", "validation"]
    plt.close("all")
