"""The events a transaction has emitted and not yet written, written together.

The ``Emitter`` adds each event's outbox rows and alert changes here, in the order it emits them;
``PendingEvents.write`` writes them all at once: the alert changes with one ``SELECT`` and one
statement per kind of change (``gateway.db.alert_batch``), then the outbox rows with one
``INSERT`` (their order kept, which is the order of delivery). A tick where 100,000 deadlines
fall together thus costs a handful of statements, not two or three per event.

An event that ends or withdraws an alert escalated earlier goes besides to the groups of the
leaders it was escalated to: the manager asked to act must hear that it is over, however it
ended (a return, a report entered late). Which ended alerts had been escalated is told by the
alerts' ``SELECT`` the batch makes anyway, so the alert changes are written first and only the
events that ended one are routed again; a batch that ends nothing escalated costs no statement
and no work more.

Whoever reads the outbox or the alerts table in the same transaction must have them written
first (``Emitter.flush``): the runner does before it commits, the escalation before it looks
for alerts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gateway.db.alert_batch import AlertChange, AlertsApplied, apply_alert_changes
from gateway.outbox.routing import ExtraDestinations
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

    def write(self, session: Session, route: ExtraDestinations | None = None) -> AlertsApplied:
        """Write everything pending in ``session``'s transaction and forget it; returns what
        was done to the alerts.

        An event that ended or withdrew an escalated alert also goes to the destinations
        ``route`` gives it with the leaders the alert was escalated to in its data
        (``escalated_to``), each once, right after its own rows. A resolution of an unknown
        alert is logged and skipped: the alert may predate the table, or have been raised by a
        process that did not commit.
        """
        outbox, alerts = self.outbox, self.alerts
        self.outbox, self.alerts = [], []
        done = apply_alert_changes(session, alerts)
        for event_key, alert_key in done.unknown:
            log.debug("event %s resolves unknown alert %s", event_key, alert_key)
        if done.escalated and route is not None:
            outbox = _to_escalated(session, outbox, done.escalated, route)
        insert_rows(session, outbox)
        return done


def _to_escalated(
    session: Session,
    outbox: list[dict[str, Any]],
    escalated: dict[str, list[str]],
    route: ExtraDestinations,
) -> list[dict[str, Any]]:
    """``outbox`` with, after the last row of each event in ``escalated`` (an event's rows are
    side by side), a row for every destination the escalation adds: the same body, only the
    destination differs."""
    rows: list[dict[str, Any]] = []
    present: dict[str, set[str]] = {}
    last = len(outbox) - 1
    for index, row in enumerate(outbox):
        rows.append(row)
        event_id = row["event_id"]
        leaders = escalated.get(event_id)
        if leaders is None:
            continue
        sent = present.setdefault(event_id, set())
        sent.add(row["destination"])
        if index < last and outbox[index + 1]["event_id"] == event_id:
            continue
        # The event as it was routed, read back from its body: rare enough to cost nothing
        # kept per event on the way.
        data = {**json.loads(row["body"])["data"], "escalated_to": leaders}
        extra = route(session, type=row["type"], subject=row["subject"], data=data, resolves=True)
        # Copied from whichever row came last: a record row is settled, the groups' are not.
        rows.extend({**row, "destination": d, "delivered_at": None} for d in extra if d not in sent)
        sent.update(extra)
    return rows
