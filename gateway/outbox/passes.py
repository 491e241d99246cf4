"""The background half of a delivery worker: a thread running passes when something is due.

A worker subclasses :class:`PassRunner` and implements ``run_once`` (one pass over its
destination's outbox rows). The thread runs a pass whenever one is due, at least every
``poll_interval_s`` wall seconds, and at once after :meth:`PassRunner.notify`. Time comes from the
injected clock only; real waits are divided by ``clock.rate`` so an accelerated demo delivers in
step.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from gateway.clock import Clock

__all__ = ["DeliveryStats", "PassRunner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What one pass did.

    ``refused`` counts rows the destination refused for their content, set aside in this pass
    (``gateway.outbox.delivery``); ``held_back`` counts rows fetched in this pass that waited
    behind an earlier event of their subject (subjects already backing off are not even
    fetched, so they are not counted); ``batch_full`` means more rows may be due at once;
    ``next_due`` is the earliest time a waiting subject may be tried again (``None`` when
    nothing is pending).
    """

    delivered: int = 0
    failed: int = 0
    refused: int = 0
    held_back: int = 0
    batch_full: bool = False
    next_due: datetime | None = None


class PassRunner:
    """Runs :meth:`run_once` on a background thread for one ``destination``."""

    def __init__(self, clock: Clock, destination: str, poll_interval_s: float) -> None:
        self._clock = clock
        self.destination = destination
        self._poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> DeliveryStats:
        """One pass; database errors propagate, destination errors are recorded on the rows."""
        raise NotImplementedError

    # -- background loop --------------------------------------------------------------------

    def notify(self) -> None:
        """New rows were committed: run a pass now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"outbox-delivery-{self.destination}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread after the row in flight; undelivered rows stay for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error(
                    "delivery thread for %s did not stop in %.1f s", self.destination, timeout_s
                )
                return  # keep asking it to stop
            self._thread = None
        self._stopping.clear()  # so a later run_once() by hand is not cut short

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                stats = self.run_once()
            except Exception:
                log.exception("delivery pass to %s failed; retrying", self.destination)
                self._wake.wait(self._poll_interval_s)
                continue
            if stats.batch_full and stats.delivered:
                continue
            self._wake.wait(self._wait_s(stats.next_due))

    def _wait_s(self, next_due: datetime | None) -> float:
        if next_due is None:
            return self._poll_interval_s
        clock_s = (next_due - self._clock.now()).total_seconds()
        wall_s = clock_s / self._clock.rate
        return min(self._poll_interval_s, max(0.01, wall_s))
