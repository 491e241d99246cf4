"""Alerts acknowledged and resolved by hand: commands the API runs on the pipeline's owner
thread, and the API's JSON of an alert row.

An acknowledgement only records who saw the alert (it stops the escalation); a resolution by
hand closes it and writes ``alert.resolved`` in the same transaction, for the core and the
groups the alert went to. An alert is named by its id or its key; an unknown one is
``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import alerts
from gateway.db import repository as repo
from gateway.db.models import AlertRow
from gateway.pipeline.processor import Processor
from gateway.rules import RuleEvent

__all__ = ["RESOLVED_BY_HAND", "AcknowledgeAlert", "ResolveAlert", "ack_latency_s", "alert_json"]

RESOLVED_BY_HAND = "alert.resolved"
"""The event a hand resolution writes (to the core and the guard's groups, like any alert's
follow-up); automatic resolutions ride on the event that ended the condition."""


@dataclass(frozen=True, slots=True)
class AcknowledgeAlert:
    """A leader confirms he has seen an alert (art. 10.3: reports must be confirmed), with an
    optional note; the first acknowledgement is kept."""

    alert: str | int
    by: str
    at: datetime
    note: str | None = None

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        """The alert as acknowledged; for a guard's alert (it names his shift; a device's is
        for whoever keeps the equipment), ``by`` must be a leader of its site: an
        acknowledgement stops the escalation (``alerts.check_acknowledger``)."""
        row = _alert_row(session, self.alert)
        if row.shift_id is not None:
            alerts.check_acknowledger(session, self.by, row.site_id)
        row = repo.acknowledge_alert(session, self.alert, by=self.by, at=self.at, note=self.note)
        return alert_json(row)


@dataclass(frozen=True, slots=True)
class ResolveAlert:
    """A leader closes an alert by hand, saying why (``note``): resolution ``by_hand``.

    Writes ``alert.resolved`` (the alert's key, type, who, the note) in the same transaction,
    for the core and the guard's groups (and, once escalated, the groups of those it went to).
    An alert already resolved is a ``Conflict``: its resolution, by the facts or by another
    hand, stands.
    """

    alert: str | int
    note: str
    by: str | None
    at: datetime

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        row = _alert_row(session, self.alert)
        if row.status == "resolved":
            raise repo.Conflict(f"alert {row.id} is already resolved ({row.resolution})")
        repo.resolve_alert(
            session, row.id, at=self.at, by=self.by, resolution="by_hand", note=self.note
        )
        carried = {k: v for k, v in row.data.items() if k in _CARRIED and v is not None}
        event = RuleEvent(
            type=RESOLVED_BY_HAND,
            time=self.at,
            key=f"{row.alert_key}:{RESOLVED_BY_HAND}",
            data={
                **carried,
                "alert_id": row.id,
                "alert_key": row.alert_key,
                "alert_type": row.type,
                "opened_at": row.opened_at.isoformat(),
                "resolution": "by_hand",
                "resolved_by": self.by,
                "note": self.note,
                "acknowledged_by": row.acknowledged_by,
                "ack_latency_s": ack_latency_s(row),
                "detected_at": self.at.isoformat(),
                # An escalated alert's closing goes to the groups it was escalated to as well.
                **({"escalated_to": list(row.escalated_to)} if row.escalated_to else {}),
            },
        )
        row.last_event_id = processor.emit(session, event, subject=row.guard_id).event_id
        return alert_json(row)


_CARRIED = ("guard_name", "team", "post_name", "post_id", "site_id", "shift_id")


def _alert_row(session: Session, alert: str | int) -> AlertRow:
    column = AlertRow.id if isinstance(alert, int) else AlertRow.alert_key
    row = session.scalar(select(AlertRow).where(column == alert))
    if row is None:
        raise repo.NotFound(f"unknown alert {alert!r}")
    return row


def alert_json(row: AlertRow) -> dict[str, Any]:
    """The API's JSON of an alert row; ``ack_latency_s``: seconds from opened to acknowledged
    (``None`` until acknowledged), the figure leaders are assessed on."""
    return {
        "id": row.id,
        "alert_key": row.alert_key,
        "type": row.type,
        "guard_id": row.guard_id,
        "shift_id": row.shift_id,
        "site_id": row.site_id,
        "post_id": row.post_id,
        "status": row.status,
        "opened_at": row.opened_at.isoformat(),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": _iso(row.acknowledged_at),
        "acknowledged_note": row.acknowledged_note,
        "ack_latency_s": ack_latency_s(row),
        "escalated_at": _iso(row.escalated_at),
        "escalated_to": row.escalated_to,
        "resolved_at": _iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "resolution": row.resolution,
        "resolved_note": row.resolved_note,
        "data": row.data,
    }


def ack_latency_s(row: AlertRow) -> float | None:
    """Seconds from the alert's opening to its acknowledgement; ``None`` if unacknowledged."""
    if row.acknowledged_at is None:
        return None
    return (row.acknowledged_at - row.opened_at).total_seconds()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
