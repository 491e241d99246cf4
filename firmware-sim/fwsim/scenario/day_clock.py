"""The clock of a site-day check: accelerated, shared with the gateway, standing still while a
gateway process starts.

``DayClock`` runs ``rate`` times faster than the wall from an anchor (an instant, and the
``time.monotonic()`` reading it was at), or stands still at the anchor while paused. A gateway
process gets the clock through ``GATEWAY_TEST_CLOCK`` = ``<anchor instant>,<rate>,file:<path>``
(``gateway.clock.OriginFileClock``): it stands at the anchor until ``resume`` writes the new
monotonic origin into that file. So a check pauses the clock, starts a gateway, waits until it
serves, and resumes: the gateway's start-up takes no scenario time, and both processes read the
same time from then on (the monotonic counter is system-wide). Each gateway process gets a file
of its own, so a restarted one never reads an earlier origin.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from gateway.clock import CLOCK_ENV, utc

__all__ = ["DayClock"]


class DayClock:
    """Satisfies ``gateway.clock.Clock``; created paused at ``start``."""

    def __init__(self, start: datetime, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._anchor = utc(start)
        self._origin = time.monotonic()
        self._paused = True
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        with self._lock:
            if self._paused:
                return self._anchor
            elapsed = max(0.0, time.monotonic() - self._origin) * self._rate
            return self._anchor + timedelta(seconds=elapsed)

    def pause(self) -> datetime:
        """Stop the clock where it is; the instant it stands at."""
        now = self.now()
        with self._lock:
            self._anchor, self._paused = now, True
        return now

    def gateway_env(self, origin_file: Path) -> dict[str, str]:
        """The environment entry for a gateway started while paused (see the module docstring)."""
        with self._lock:
            if not self._paused:
                raise RuntimeError("start a gateway while the clock is paused")
            return {CLOCK_ENV: f"{self._anchor.isoformat()},{self._rate},file:{origin_file}"}

    def resume(self, origin_files: list[Path]) -> None:
        """Run again from the anchor, now; tell the gateways waiting on ``origin_files``."""
        with self._lock:
            self._origin = time.monotonic()
            self._paused = False
            for path in origin_files:
                pending = path.with_suffix(".tmp")
                pending.write_text(repr(self._origin), encoding="ascii")
                pending.replace(path)
