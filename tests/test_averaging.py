"""Tests for gler.averaging: the exponential moving average of the weights."""

from __future__ import annotations

import pytest
import torch

from gler.averaging import WeightAverage


def test_the_decay_warms_up_and_the_average_follows():
    """The first update weighs the new weights by 0.9, later ones by 1 - decay."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model)  # decay min(0.5, 1/10) = 0.1
    assert average.average["weight"].item() == pytest.approx(0.9)
    average.update(model)  # decay min(0.5, 2/11) = 2/11
    assert average.average["weight"].item() == pytest.approx(0.9 + 0.1 * 9 / 11)
    for _ in range(50):
        average.update(model)
    assert average.current_decay() == 0.5


def test_applied_swaps_the_average_in_and_out():
    """Inside the block the model holds the average; after it (even on error) its own weights."""
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, decay=0.9)
    live = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    moved = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError), average.applied(model):
        assert torch.equal(model.weight, average.average["weight"])
        assert not torch.equal(model.weight, live["weight"])
        raise RuntimeError
    assert all(torch.equal(model.state_dict()[k], moved[k]) for k in moved)


def test_state_round_trip_and_bad_input():
    """state_dict/load_state_dict restore the average and the count; a foreign state and an
    impossible decay are refused with the reason."""
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, decay=0.9)
    average.update(model)
    other = WeightAverage(model, decay=0.9)
    other.load_state_dict(average.state_dict())
    assert other.updates == 1
    assert all(torch.equal(other.average[k], average.average[k]) for k in average.average)
    with pytest.raises(ValueError, match="not the model's tensors"):
        WeightAverage(torch.nn.Conv1d(1, 1, 1), 0.9).load_state_dict(
            {"average": {"x": torch.zeros(1)}, "updates": 0})
    with pytest.raises(ValueError, match=r"in \(0, 1\).*--ema-decay"):
        WeightAverage(model, decay=1.0)
