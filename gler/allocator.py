"""Reuse freed memory: glibc settings for the many short-lived tensors of a CPU forecast.

PyTorch allocates every intermediate tensor of a CPU forward with ``malloc`` and frees it
moments later. With glibc's defaults, blocks of a few MB (GLER's activations at batch 1,024) are
often mapped afresh from the OS and given back on free, or the top of the heap is trimmed, so
the next batch page-faults the same memory in again. On the 2-core VM of
``benchmarks/NOTES.md`` that took a quarter to a third of the GLER forward, and varied from run
to run. :func:`keep_freed_memory` raises glibc's mmap threshold to its maximum (32 MB) and its
trim threshold to 1 GB, once per process, so freed blocks stay in the heap and are reused. Peak
memory is unchanged; memory freed after a forecast is kept by the process for its next use
rather than returned to the OS (as PyTorch's CUDA caching allocator does on a GPU).

:func:`gler.forecast.predict` and :func:`gler.train.train` call it. It does nothing outside
glibc (macOS, Windows, musl) or when the environment variable ``GLER_KEEP_FREED_MEMORY`` is
``0``.
"""

from __future__ import annotations

import ctypes
import os
import threading

__all__ = ["ENV_SWITCH", "keep_freed_memory"]

#: Environment variable; ``0`` leaves the C allocator alone.
ENV_SWITCH = "GLER_KEEP_FREED_MEMORY"
#: glibc's ``mallopt`` parameters (malloc.h) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # the largest value every 64-bit glibc accepts
TRIM_THRESHOLD = 1 << 30

_lock = threading.Lock()
_applied: list[bool] = []  # empty until the first call


def _mallopt(param: int, value: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # no C library with mallopt to search
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(param, value) == 1


def keep_freed_memory() -> bool:
    """Make glibc keep freed heap memory for reuse (once per process).

    Returns
    -------
    bool
        Whether the settings are in effect: False without glibc, when switched off with
        ``GLER_KEEP_FREED_MEMORY=0``, or if glibc refused them.
    """
    if not _applied:
        with _lock:
            if not _applied:
                wanted = os.environ.get(ENV_SWITCH, "1") != "0"
                _applied.append(wanted and _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                                and _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied[0]
