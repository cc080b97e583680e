"""Weight averaging: an exponential moving average (EMA) of a model's weights during training.

The average is updated after every optimiser step and used wherever the trainer judges or
keeps a model (validation, ``best.pt``); training itself goes on with the live weights. An
average of the weights along the last part of the trajectory sits in a flatter region of the
loss than the last iterate and generalises better (Polyak and Juditsky 1992; Izmailov et al.
2018), which matters most where one season of validation data decides early stopping.

The decay is warmed up, ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as in
TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so that a short run is not
an average of its random initialisation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """An exponential moving average of ``model``'s floating-point parameters and buffers.

    Parameters
    ----------
    model
        The model being trained; its state is read (never replaced) at each :meth:`update`.
    decay
        The largest decay, in (0, 1).

    Raises
    ------
    ValueError
        If ``decay`` is not in (0, 1).

    Example
    -------
    >>> model = torch.nn.Linear(2, 1)
    >>> average = WeightAverage(model, decay=0.99)
    >>> average.update(model)
    >>> with average.applied(model):
    ...     pass  # the model holds the averaged weights here
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            msg = f"The weight-averaging decay must be in (0, 1), got {decay!r} (--ema-decay)."
            raise ValueError(msg)
        self.decay = decay
        self.updates = 0
        self.average = {name: value.detach().clone()
                        for name, value in model.state_dict().items()}
        #: The update count as a float64 tensor on the weights' device once
        #: :meth:`count_on_device` was called (None: :attr:`updates` counts).
        self.count: torch.Tensor | None = None

    def current_decay(self) -> float:
        """The decay of the next update (warmed up over the first updates)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    def count_on_device(self, device: torch.device) -> None:
        """Count the updates in a tensor on ``device`` from now on, and compute the warmed-up
        decay there: an update then reads nothing from the host, as a CUDA graph of the
        training step needs (each replay advances the count)."""
        self.count = torch.tensor(float(self.updates), dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, keep: torch.Tensor | None = None) -> None:
        """Move the average towards ``model``'s current weights (integer buffers are copied).

        ``keep``, a boolean tensor on the weights' device, makes the update conditional
        without reading it on the host: where it is False the average stays as it is (the
        update count still advances; the trainer stops the run then).
        """
        if self.count is None:
            weight = 1.0 - self.current_decay()
            self.updates += 1
        else:
            weight = 1.0 - ((1 + self.count) / (10 + self.count)).clamp(max=self.decay)
            self.count += 1
        if keep is not None:
            weight = keep.to(torch.float32) * weight
        for name, value in model.state_dict().items():
            kept = self.average[name]
            if kept.is_floating_point():
                kept.lerp_(value, weight if isinstance(weight, float) else weight.to(kept.dtype))
            elif keep is None:
                kept.copy_(value)
            else:
                kept.copy_(torch.where(keep, value, kept))

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """Hold the averaged weights in ``model`` inside the block; the live ones after it."""
        live = {name: value.detach().clone() for name, value in model.state_dict().items()}
        model.load_state_dict(self.average)
        try:
            yield
        finally:
            model.load_state_dict(live)

    def state_dict(self) -> dict:
        """The average and the update count (tensors and an int: loads with weights_only)."""
        updates = self.updates if self.count is None else int(self.count.item())
        return {"average": self.average, "updates": updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (a resumed run continues the same average).

        Raises
        ------
        ValueError
            If the saved average does not hold the model's tensors.
        """
        saved = state["average"]
        if set(saved) != set(self.average):
            msg = (f"The saved weight average holds {sorted(saved)[:3]}..., not the model's "
                   f"tensors {sorted(self.average)[:3]}...")
            raise ValueError(msg)
        self.average = {name: value.detach().clone() for name, value in saved.items()}
        self.updates = int(state["updates"])
        if self.count is not None:
            self.count.fill_(self.updates)
