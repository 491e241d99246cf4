"""The injected clock: the only place in the gateway that reads wall time.

Every component takes a ``Clock`` and asks it for ``now()``; a test drives a ``ManualClock`` so a
15-minute rule runs in milliseconds, and the demo runs on an ``AcceleratedClock``.
All times are timezone-aware UTC ``datetime`` objects.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["AcceleratedClock", "Clock", "ManualClock", "SystemClock", "utc"]


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Clock(Protocol):
    """Source of the current time. ``now()`` is aware UTC and never goes backwards."""

    def now(self) -> datetime: ...

    @property
    def rate(self) -> float:
        """Clock seconds per wall second (1.0 for real time); used to scale real sleeps."""
        ...


class SystemClock:
    """Wall time. The one class allowed to call ``datetime.now``."""

    @property
    def rate(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return 1.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (not earlier than now)."""
        target = utc(when)
        with self._lock:
            if target < self._now:
                raise ValueError("a clock does not go backwards")
            self._now = target


class AcceleratedClock:
    """Time that starts at ``start`` and runs ``rate`` times faster than the wall.

    Reads the monotonic counter, so a wall-clock step does not move it.
    """

    def __init__(self, start: datetime, rate: float = 60.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._start = utc(start)
        self._rate = rate
        self._t0 = time.monotonic()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self._rate
        return self._start + timedelta(seconds=elapsed)
