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

__all__ = [
    "CLOCK_ENV",
    "AcceleratedClock",
    "Clock",
    "ManualClock",
    "OriginFileClock",
    "SystemClock",
    "clock_from_env",
    "utc",
]

CLOCK_ENV = "GATEWAY_TEST_CLOCK"
"""Environment variable ``guard-gateway run`` reads its clock from (see ``clock_from_env``)."""


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

    Reads the monotonic counter, so a wall-clock step does not move it. ``origin`` is the
    ``time.monotonic()`` reading at which the clock stands at ``start`` (default: now); the
    counter is system-wide on Linux, so processes given the same start, rate and origin share
    one clock; until an origin set ahead, the clock stands at ``start``.
    """

    def __init__(self, start: datetime, rate: float = 60.0, origin: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._start = utc(start)
        self._rate = rate
        self._t0 = time.monotonic() if origin is None else origin

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        # Before the origin (one set ahead) the clock stands at ``start``.
        elapsed = max(0.0, time.monotonic() - self._t0) * self._rate
        return self._start + timedelta(seconds=elapsed)


class OriginFileClock:
    """An ``AcceleratedClock`` whose origin another process writes, once, in ``origin_file``
    (a ``time.monotonic()`` reading as text): until the file holds one, the clock stands at
    ``start``. Lets a test bench start the gateway first and its day once the gateway serves."""

    def __init__(self, start: datetime, rate: float, origin_file: str) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._start = utc(start)
        self._rate = rate
        self._file = origin_file
        self._clock: AcceleratedClock | None = None

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        if self._clock is None:
            try:
                with open(self._file, encoding="ascii") as f:
                    origin = float(f.read())
            except (OSError, ValueError):
                return self._start
            self._clock = AcceleratedClock(self._start, self._rate, origin)
        return self._clock.now()


def clock_from_env(value: str | None) -> Clock:
    """The clock ``guard-gateway run`` uses: wall time, unless ``GATEWAY_TEST_CLOCK`` holds
    ``<start ISO 8601>,<rate>,<origin>``: an ``AcceleratedClock`` shared with the process that
    set it (``fwsim check``), the origin a ``time.monotonic()`` reading, or ``file:<path>`` for
    an ``OriginFileClock``. Test benches only: a gateway on it dates everything on the
    simulated day. Raises ``ValueError`` for a malformed value."""
    if not value:
        return SystemClock()
    parts = value.split(",")
    if len(parts) != 3:
        raise ValueError(f"{CLOCK_ENV} must be '<start ISO>,<rate>,<origin | file:PATH>'")
    start = datetime.fromisoformat(parts[0])
    if start.tzinfo is None:
        raise ValueError(f"{CLOCK_ENV}: the start needs a UTC offset")
    if parts[2].startswith("file:"):
        return OriginFileClock(start, float(parts[1]), parts[2][len("file:") :])
    return AcceleratedClock(start, float(parts[1]), float(parts[2]))
