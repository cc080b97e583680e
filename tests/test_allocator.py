"""gler.allocator: glibc keeps freed memory, once per process, unless switched off."""

from __future__ import annotations

import platform

import pytest

from gler import allocator


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """A process where keep_freed_memory has not run yet; records the mallopt calls."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(allocator, "_applied", [])
    monkeypatch.setattr(allocator, "_mallopt", lambda p, v: calls.append((p, v)) or True)
    return calls


def test_sets_both_thresholds_once(fresh) -> None:
    assert allocator.keep_freed_memory() and allocator.keep_freed_memory()
    assert fresh == [(allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD),
                     (allocator.M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD)]


def test_switched_off_by_the_environment(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    assert not allocator.keep_freed_memory()
    assert fresh == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_accepts_the_values() -> None:
    assert allocator._mallopt(allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD)
    assert allocator._mallopt(allocator.M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD)
