"""Counters of what the pipeline took in and what it dropped, by reason."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["PipelineCounters"]


class PipelineCounters:
    """Thread-safe named counters, e.g. ``received``, ``rejected.bad_checksum``, ``dropped.stale``.

    Written by the pipeline thread, read by the API and the benchmark.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def merge(self, other: PipelineCounters) -> None:
        """Add every counter of ``other`` (a committed batch's counts) to these."""
        counts = other.snapshot()
        with self._lock:
            self._counts.update(counts)

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter, sorted by name."""
        with self._lock:
            return dict(sorted(self._counts.items()))
