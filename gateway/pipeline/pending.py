"""The events a transaction has emitted and not yet written, written together.

The ``Emitter`` adds each event's outbox rows and alert changes here, in the order it emits them;
``PendingEvents.write`` writes them all at once: the outbox rows with one ``INSERT`` (their order
kept, which is the order of delivery), the alert changes with one ``SELECT`` and one statement per
kind of change (``gateway.db.alert_batch``). A tick where 100,000 deadlines fall together thus
costs a handful of statements, not two or three per event.

Whoever reads the outbox or the alerts table in the same transaction must have them written
first (``Emitter.flush``): the runner does before it commits, the escalation before it looks
for alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gateway.db.alert_batch import AlertChange, AlertsApplied, apply_alert_changes
from gateway.outbox.writer import insert_rows

__all__ = ["PendingEvents"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class PendingEvents:
    """Outbox rows and alert changes waiting to be written, in the order they were emitted."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[AlertChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.outbox or self.alerts)

    def write(self, session: Session) -> AlertsApplied:
        """Write everything pending in ``session``'s transaction and forget it; returns what
        was done to the alerts. A resolution of an unknown alert is logged and skipped: the
        alert may predate the table, or have been raised by a process that did not commit."""
        outbox, alerts = self.outbox, self.alerts
        self.outbox, self.alerts = [], []
        insert_rows(session, outbox)
        done = apply_alert_changes(session, alerts)
        for event_key, alert_key in done.unknown:
            log.debug("event %s resolves unknown alert %s", event_key, alert_key)
        return done
