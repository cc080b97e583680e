"""The windows of a training run held on the device: batches gathered there, no host round trip.

:class:`DeviceWindows` copies once, onto the training device, what a run's batches are cut from:
the displacement of the sampled pixels (pixel × time) and the factors, already normalised. A
sample index (:class:`~gler.data.windows.SampleIndex` or
:class:`~gler.data.multistack.MultiStackIndex`) becomes a :class:`DeviceIndex`: the row and
issue of every sample as device tensors. :meth:`DeviceWindows.batch` then gathers the normalised
``(sd, ef, mask, target)`` of any positions with torch indexing on the device.

The values equal, bit for bit, those of :meth:`gler.data.windows.WindowDataset.batch` (or
:meth:`gler.data.multistack.MultiStackWindows.batch`) normalised by
:meth:`gler.data.scaling.Scaler.inputs` and :meth:`~gler.data.scaling.Scaler.target`: the same
float32 operations in the same order (factors normalised on the host with the scaler's own
arithmetic; the displacement divided by the scale as a float32 number).
:func:`normalised_window` is that normalisation of the input windows, shared with
:func:`gler.forecast.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from gler.data.multistack import MultiStackIndex, MultiStackWindows
from gler.data.scaling import Scaler
from gler.data.windows import Batch, SampleIndex, WindowDataset

__all__ = ["DeviceIndex", "DeviceWindows", "TensorBatch", "normalised_window"]


def normalised_window(raw: torch.Tensor, scale: float | torch.Tensor,
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sd, mask, anchor)`` of input windows ``raw [B, L]`` in mm (NaN gaps), on their device:
    the anchor ``[B, 1]`` is each window's last observed value, ``sd`` the window relative to it
    in units of ``scale`` (gaps 0), :meth:`gler.data.scaling.Scaler.inputs`' arithmetic. Every
    window must hold an observation (a usable window does)."""
    mask = torch.isfinite(raw)
    steps = torch.arange(raw.shape[1], device=raw.device)
    anchor = raw.gather(1, torch.where(mask, steps, -1).amax(1, keepdim=True))
    return torch.where(mask, (raw - anchor) / scale, 0.0), mask, anchor


class TensorBatch(NamedTuple):
    """A normalised batch as tensors on one device: ``sd [B, L]`` (gaps 0), ``ef [B, L, E]``,
    ``mask [B, L]`` (bool), ``target [B, H]`` (NaN: no observation)."""

    sd: torch.Tensor
    ef: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor

    @classmethod
    def from_batch(cls, batch: Batch, scaler: Scaler, device: torch.device | str) -> TensorBatch:
        """The tensors of a host :class:`~gler.data.windows.Batch` (normalised by ``scaler``)."""
        sd, ef, mask = scaler.inputs(batch)
        return cls(*(torch.from_numpy(a).to(device) for a in (sd, ef, mask, scaler.target(batch))))

    @property
    def size(self) -> int:
        """The number of samples (``len`` counts the four fields, as of any tuple)."""
        return self.sd.shape[0]

    def split(self, parts: int) -> list[TensorBatch]:
        """The batch cut into ``parts`` consecutive micro-batches (the last may be smaller)."""
        size = -(-self.size // parts)
        return [TensorBatch(*(t[begin:begin + size] for t in self))
                for begin in range(0, self.size, size)]


@dataclass(frozen=True)
class DeviceIndex:
    """Samples as device tensors: the row (in :class:`DeviceWindows`) and the issue index of
    each, in the order of the positions of the host index."""

    row: torch.Tensor
    issue: torch.Tensor

    def __len__(self) -> int:
        return self.row.shape[0]


class DeviceWindows:
    """The sampled pixels of ``windows``, normalised by ``scaler``, on ``device``.

    Parameters
    ----------
    windows
        One stack's windows or several pooled (:class:`~gler.data.multistack.MultiStackWindows`).
    scaler
        The normalisation of the run.
    device
        Where the tensors live and the batches are gathered.
    pixels
        The (global) pixel ids the run samples from (default: all valid pixels); only these
        are copied to the device.

    Example
    -------
    >>> data = DeviceWindows(windows, scaler, "cuda", pixels)  # doctest: +SKIP
    >>> index = data.index(windows.indices("train", pixels))  # doctest: +SKIP
    >>> sd, ef, mask, target = data.batch(index, torch.arange(256, device="cuda"))  # doctest: +SKIP
    """

    def __init__(self, windows: WindowDataset | MultiStackWindows, scaler: Scaler,
                 device: torch.device | str, pixels: np.ndarray | None = None) -> None:
        scaler.check_factors(windows)
        self.device = torch.device(device)
        self.window, self.horizon = windows.window, windows.horizon
        pixels = windows.valid_pixels if pixels is None else np.asarray(pixels)
        if isinstance(windows, MultiStackWindows):
            parts = list(windows.split_pixels(pixels))
            self._offsets = np.asarray(windows.offsets)
        else:
            parts = [(windows, pixels)]
            self._offsets = np.zeros(1, dtype=np.int64)
        #: Sorted global ids of the pixels held, one row each.
        self.pixels = np.concatenate([local + offset for (_, local), offset
                                      in zip(parts, self._offsets, strict=True)])
        n_time = max(len(part.times) for part, _ in parts)
        mean = np.asarray(scaler.factor_mean, dtype=np.float32)
        std = np.asarray(scaler.factor_std, dtype=np.float32)
        values, ef_rows, ef_of_row, times = [], [], [], []
        n_ef_rows = 0
        for part, local in parts:
            pad = ((0, 0), (0, n_time - len(part.times)))
            values.append(np.pad(part.values[local], pad, constant_values=np.nan))
            # Normalised with Scaler.inputs' own arithmetic (elementwise, so the same bits).
            ef = ((part.ef if part.ef.shape[0] == 1 else part.ef[local]) - mean) / std
            ef_rows.append(np.pad(ef.astype(np.float32), (*pad, (0, 0))))
            ef_of_row.append(n_ef_rows + (np.zeros(len(local), np.int64) if ef.shape[0] == 1
                                          else np.arange(len(local))))
            n_ef_rows += ef.shape[0]
            times.append(np.full(len(local), len(part.times), dtype=np.int64))

        def put(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

        self.values = put(np.concatenate(values))  # [P, T] mm, NaN gaps and padding
        self.ef = put(np.concatenate(ef_rows))  # [rows, T, E], normalised
        self.ef_row = put(np.concatenate(ef_of_row))  # [P]: each pixel's factor row
        self.n_time = put(np.concatenate(times))  # [P]: each pixel's stack's dates
        self.scale = torch.tensor(scaler.scale, dtype=torch.float32, device=self.device)
        self._steps_in = torch.arange(1 - self.window, 1, device=self.device)
        self._steps_out = torch.arange(1, self.horizon + 1, device=self.device)

    def index(self, index: SampleIndex | MultiStackIndex) -> DeviceIndex:
        """The samples of ``index`` (on pixels held here) as device tensors, in its order.

        Raises
        ------
        ValueError
            If a sample is on a pixel this object does not hold.
        """
        parts = index.parts if isinstance(index, MultiStackIndex) else (index,)
        pixel, issue = [], []
        for part, offset in zip(parts, self._offsets, strict=True):
            n_issues = len(part.issues)
            pixel.append(part.pixels[part.flat // n_issues] + offset)
            issue.append(part.issues[part.flat % n_issues])
        pixel, issue = np.concatenate(pixel), np.concatenate(issue)
        row = np.searchsorted(self.pixels, pixel)
        if len(row) and (row.max() >= len(self.pixels) or (self.pixels[row] != pixel).any()):
            msg = "The sample index holds pixels that these device windows do not hold."
            raise ValueError(msg)
        dtype = np.int32 if max(len(self.pixels), self.values.shape[1]) < 2**31 else np.int64
        return DeviceIndex(row=torch.from_numpy(row.astype(dtype)).to(self.device),
                           issue=torch.from_numpy(issue.astype(dtype)).to(self.device))

    def batch(self, index: DeviceIndex, positions: torch.Tensor | slice) -> TensorBatch:
        """The normalised samples ``index[positions]`` (a device tensor of positions, or a
        slice), gathered on the device."""
        row, issue = index.row[positions].long(), index.issue[positions].long()
        steps_in = issue[:, None] + self._steps_in  # [B, L]
        sd, mask, anchor = normalised_window(self.values[row[:, None], steps_in], self.scale)
        ef = self.ef[self.ef_row[row][:, None], steps_in]
        steps_out = issue[:, None] + self._steps_out  # [B, H]
        future = self.values[row[:, None], steps_out.clamp(max=self.values.shape[1] - 1)]
        future = torch.where(steps_out < self.n_time[row][:, None], future, torch.nan)
        return TensorBatch(sd, ef, mask, (future - anchor) / self.scale)
