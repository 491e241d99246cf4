"""Logging rejected inputs without flooding the log: once per device and problem per interval.

A terminal sending garbage sends it again and again (340 bad messages in a minute is common
after a firmware update). Every reject is counted (``rejected.<problem>``, by the processor);
the log only needs to say that it happens, from whom, and what the bytes look like. So
:class:`RejectLog` logs the first reject of a ``(device, problem)`` at once, then at most one line
per ``interval`` of the injected clock, saying how many were left out since the last line. Each
line is short whatever the input: the reason is cut to :data:`MAX_REASON_CHARS` characters, the
hex excerpt to :data:`EXCERPT_BYTES` bytes, the device id to :data:`MAX_DEVICE_CHARS`.

Memory is bounded: past :data:`MAX_TRACKED` pairs, the pairs not logged for an interval are
forgotten (their next reject is logged at once, as a first one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.clock import Clock
from gateway.records import Rejected

__all__ = ["EXCERPT_BYTES", "MAX_DEVICE_CHARS", "MAX_REASON_CHARS", "MAX_TRACKED", "RejectLog"]

EXCERPT_BYTES = 64
"""Bytes of the offending input logged, as hex (the whole input is not kept in the log)."""

MAX_REASON_CHARS = 200
"""Characters of a reason logged (reasons may quote the input after their first ``:``)."""

MAX_DEVICE_CHARS = 64
"""Characters of a device id logged (a payload may name its own device)."""

MAX_TRACKED = 10_000
"""``(device, problem)`` pairs remembered before the quiet ones are forgotten."""


@dataclass(slots=True)
class _Seen:
    logged_at: datetime
    suppressed: int = 0


class RejectLog:
    """Logs rejects rate-limited per ``(device, problem)`` (module docstring).

    ``problem`` is the reject's counter key (``gateway.pipeline.processor``), so one kind of
    problem from one device makes one stream of lines whatever the values in its reason. Used by
    the processor's owner thread only.
    """

    def __init__(
        self,
        clock: Clock,
        logger: logging.Logger,
        interval: timedelta = timedelta(seconds=60),
    ) -> None:
        self._clock = clock
        self._log = logger
        self._interval = interval
        self._seen: dict[tuple[str, str], _Seen] = {}

    def __call__(self, reject: Rejected, problem: str) -> None:
        """Log ``reject`` now, or count it as left out until the next line for its pair."""
        now = self._clock.now()
        device = (reject.device_id or "?")[:MAX_DEVICE_CHARS]
        key = (device, problem)
        seen = self._seen.get(key)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.suppressed += 1
            return
        left_out = seen.suppressed if seen is not None else 0
        if seen is None:
            self._forget_quiet(now)
        self._seen[key] = _Seen(now)
        reason = reject.reason[:MAX_REASON_CHARS]
        excerpt = reject.raw[:EXCERPT_BYTES].hex()
        more = "..." if len(reject.raw) > EXCERPT_BYTES else ""
        if left_out:
            self._log.warning(
                "rejected input from %s: %s: %s%s (%d more like it not logged in the last %s)",
                device,
                reason,
                excerpt,
                more,
                left_out,
                self._interval,
            )
        else:
            self._log.warning("rejected input from %s: %s: %s%s", device, reason, excerpt, more)

    def _forget_quiet(self, now: datetime) -> None:
        if len(self._seen) < MAX_TRACKED:
            return
        self._seen = {
            key: seen for key, seen in self._seen.items() if now - seen.logged_at < self._interval
        }
        while len(self._seen) >= MAX_TRACKED:  # all busy: forget the oldest
            del self._seen[next(iter(self._seen))]
