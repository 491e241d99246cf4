"""Pacing the pipeline's housekeeping (deadline ticks, roster reloads) while it keeps failing.

With the database down every tick would fail ten times a second, each with a traceback.
``Housekeeping`` backs the next try off up to ``MAX_OUTAGE_BACKOFF_S`` and logs the first
failure with its traceback, then one line a minute with the count, then one line when it works
again. ``database_outage`` tells a database that cannot be reached or cannot write from an
input that is wrong: the runtime waits for the first and quarantines the second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SqlTimeoutError

from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.reasons import describe_error

__all__ = ["MAX_OUTAGE_BACKOFF_S", "Housekeeping", "database_outage"]

log = logging.getLogger(__name__)

MAX_OUTAGE_BACKOFF_S = 5.0
"""Longest wait between two attempts while the database is unavailable."""

_OUTAGES = (OperationalError, InterfaceError, DisconnectionError, SqlTimeoutError)


def database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or cannot write (connection lost,
    server gone, disk full, pool exhausted), rather than that an input is wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _OUTAGES)


class Housekeeping:
    """Runs housekeeping actions on one thread, backing off while they fail (see the module
    docstring); each failure counts ``errors.housekeeping`` in ``counters``.

    Paced on wall time (``time.monotonic``), not the gateway clock: it spaces retries against a
    real database, and a demo's accelerated clock must not shorten them.
    """

    def __init__(self, counters: PipelineCounters) -> None:
        self._counters = counters
        self._failures = 0
        self._retry_at = 0.0
        self._logged_at = 0.0

    def run(self, action: Callable[[], object]) -> None:
        """Run ``action`` unless a back-off holds it; a failure is logged, not raised."""
        now = time.monotonic()
        if now < self._retry_at:
            return
        try:
            action()
        except Exception as exc:
            self._failed(now, exc)
        else:
            if self._failures:
                log.warning("pipeline housekeeping works again after %d failures", self._failures)
            self._failures = 0
            self._retry_at = 0.0

    def _failed(self, now: float, exc: Exception) -> None:
        self._failures += 1
        self._counters.add("errors.housekeeping")
        failures = self._failures
        self._retry_at = now + min(MAX_OUTAGE_BACKOFF_S, 0.1 * 2**failures)
        if failures == 1:
            log.exception("pipeline housekeeping failed; retrying with back-off")
        elif now - self._logged_at >= 60.0:
            log.error(
                "pipeline housekeeping still failing (%d times): %s", failures, describe_error(exc)
            )
        else:
            return
        self._logged_at = now
