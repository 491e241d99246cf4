"""The retention worker: a background thread purging on the clock (``gateway.privacy.retention``).

A pass runs at start and then every ``interval`` of clock time; a pass that stopped at its
batch budget is followed by the next at once. Real waits are divided by ``clock.rate``, so an
accelerated demo purges in step. A failed pass (database down) is logged and retried at the
next poll; it never stops the gateway.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.pipeline.counters import PipelineCounters
from gateway.privacy.retention import PurgeReport, RetentionPolicy, purge

__all__ = ["RetentionWorker"]

log = logging.getLogger(__name__)


class RetentionWorker:
    """Runs :func:`purge` every ``interval`` of clock time; counts what it purged.

    ``counters`` gets ``purged.<table>`` per row purged (``purged.<table>.raw`` for blanked raw
    payloads) and ``errors.retention`` per failed pass; ``last`` is the newest pass's report.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        policy: RetentionPolicy,
        counters: PipelineCounters,
        *,
        interval: timedelta = timedelta(hours=1),
        poll_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._policy = policy
        self._counters = counters
        self._interval = interval
        self._poll_s = poll_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due: datetime | None = None
        self.last: PurgeReport | None = None

    def run_once(self) -> PurgeReport:
        """One pass now, on the calling thread."""
        report = purge(self._engine, self._policy, self._clock.now(), stopping=self._stopping)
        for name, rows in report.rows.items():
            self._counters.add(f"purged.{name}", rows)
        self.last = report
        return report

    def start(self) -> None:
        """Start the thread (the first pass runs at once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._next_due = None
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the batch in progress (a purge batch is one short transaction)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            now = self._clock.now()
            if self._next_due is None or now >= self._next_due:
                try:
                    report = self.run_once()
                except Exception:
                    self._counters.add("errors.retention")
                    log.exception("retention purge failed; retrying at the next poll")
                    self._stopping.wait(self._poll_s)
                    continue
                self._next_due = now if not report.complete else now + self._interval
                continue
            wall_s = (self._next_due - now).total_seconds() / self._clock.rate
            self._stopping.wait(min(self._poll_s, max(0.01, wall_s)))
