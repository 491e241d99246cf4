"""Debouncing repeated reads: one scan per presentation of a tag (pure; times are passed in).

A 125 kHz reader repeats its frame every 100-250 ms while a card lies on it. A read is a new
scan when its tag has not been read in the last ``debounce_s`` seconds (by the timestamps
given, which come from the injected clock); every read, new or repeated, refreshes the tag's
last-seen time, so a card held for a minute is one scan. Tags are tracked independently: A, B,
A within ``debounce_s`` is two scans (A and B).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["Debouncer"]

_PRUNE_AT = 256


class Debouncer:
    """Decides whether a read starts a new presentation of its tag."""

    def __init__(self, debounce_s: float = 2.0) -> None:
        if debounce_s < 0:
            raise ValueError("debounce_s must not be negative")
        self._window = timedelta(seconds=debounce_s)
        self._last_seen: dict[str, datetime] = {}

    @property
    def debounce_s(self) -> float:
        return self._window.total_seconds()

    def accept(self, tag_id: str, at: datetime) -> bool:
        """Record a read of ``tag_id`` at ``at``; true when it is a new scan."""
        last = self._last_seen.get(tag_id)
        self._last_seen[tag_id] = at if last is None else max(last, at)
        if len(self._last_seen) > _PRUNE_AT:
            self._prune(at)
        return last is None or at - last > self._window

    def _prune(self, now: datetime) -> None:
        stale = [tag for tag, seen in self._last_seen.items() if now - seen > self._window]
        for tag in stale:
            del self._last_seen[tag]
