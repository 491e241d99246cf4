"""Commands the API runs on the pipeline's owner thread: reports, leaves, alerts acknowledged
and resolved by hand.

Each command records the fact and feeds it to the guard's rule machine in one transaction, so a
report and the events it prevents or resolves are never out of step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import alerts
from gateway.db import patrol_repository as prepo
from gateway.db import repository as repo
from gateway.db.models import AlertRow, DeviceRow, ReportRow
from gateway.db.resent import leave_sent_again, report_sent_again
from gateway.db.tag_aliases import ambiguous_scans
from gateway.pipeline.processor import Processor
from gateway.pipeline.stored_inputs import report_filed
from gateway.rules import LeaveApproved, LeaveCancelled, RuleEvent
from gateway.wand import import_wand_batch, parse_wand_csv

__all__ = [
    "AcknowledgeAlert",
    "ApproveLeave",
    "CancelLeave",
    "FileReport",
    "ImportWandDownload",
    "ReportReaderState",
    "ResolveAlert",
    "ack_latency_s",
    "alert_json",
    "leave_json",
]

logger = logging.getLogger(__name__)

RESOLVED_BY_HAND = "alert.resolved"
"""The event a hand resolution writes (to the core and the guard's groups, like any alert's
follow-up); automatic resolutions ride on the event that ended the condition."""


@dataclass(frozen=True, slots=True)
class FileReport:
    """A verbal report (报备) of a short departure, as the leader received it."""

    guard_id: str
    reported_at: datetime
    received_at: datetime
    expected_return_at: datetime | None = None
    destination: str | None = None
    reason: str | None = None
    reported_to: str | None = None

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        """The report's JSON; ``sent_again`` true when it repeats one stored
        (``gateway.db.resent``): that one is answered and nothing is applied twice."""
        said: dict[str, Any] = {
            "guard_id": self.guard_id,
            "reported_at": self.reported_at,
            "expected_return_at": self.expected_return_at,
            "destination": self.destination,
            "reason": self.reason,
            "reported_to": self.reported_to,
        }
        again = report_sent_again(session, **said)
        if again is not None:
            return {**report_json(again), "sent_again": True}
        row = repo.add_report(session, received_at=self.received_at, **said)
        processor.apply(
            self.guard_id,
            self.reported_at,
            report_filed(row),
            session,
        )
        return {**report_json(row), "sent_again": False}


def report_json(row: ReportRow) -> dict[str, Any]:
    """The API's JSON of a verbal report."""
    return {
        "id": row.id,
        "guard_id": row.guard_id,
        "reported_at": row.reported_at.isoformat(),
        "expected_return_at": _iso(row.expected_return_at),
        "destination": row.destination,
        "reason": row.reason,
        "reported_to": row.reported_to,
    }


@dataclass(frozen=True, slots=True)
class ApproveLeave:
    """An approved leave application (请假): off post allowed from ``starts_at`` to ``ends_at``."""

    guard_id: str
    starts_at: datetime
    ends_at: datetime
    approved_by: str
    approved_at: datetime
    destination: str | None = None
    reason: str | None = None

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        """The leave's JSON; ``sent_again`` as for ``FileReport``."""
        said: dict[str, Any] = {
            "guard_id": self.guard_id,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "destination": self.destination,
            "reason": self.reason,
        }
        again = leave_sent_again(session, **said)
        if again is not None:
            return {**leave_json(again), "sent_again": True}
        row = repo.add_leave(session, **said)
        processor.apply(
            self.guard_id,
            self.starts_at,
            LeaveApproved(
                leave_id=row.id,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                approved_by=row.approved_by,
                approved_at=row.approved_at,
            ),
            session,
        )
        return {**leave_json(row), "sent_again": False}


@dataclass(frozen=True, slots=True)
class CancelLeave:
    """The guard cancelled his leave on return (销假)."""

    leave_id: str
    cancelled_at: datetime

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        row = repo.cancel_leave(session, self.leave_id, self.cancelled_at)
        processor.apply(
            row.guard_id,
            row.starts_at,
            LeaveCancelled(leave_id=row.id, cancelled_at=self.cancelled_at),
            session,
        )
        return leave_json(row)


@dataclass(frozen=True, slots=True)
class ImportWandDownload:
    """A patrol wand's downloaded log (CSV ``wand_id,tag_id,time``), corrected for the wand's
    clock skew (its clock read at download vs ours) and de-duplicated against earlier downloads.

    Its ids are read in the wand's form (``gateway.wand``); ``ambiguous`` counts the new scans
    whose id, so read, may name more than one checkpoint or card of the wand's site: each names
    none (an unknown tag)."""

    wand_id: str
    csv_text: str
    wand_clock_at_download: datetime
    downloaded_at: datetime

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        records, problems = parse_wand_csv(self.csv_text)
        timezone = processor.duties.timezone_of_device(self.wand_id)
        device = session.get(DeviceRow, self.wand_id)
        if timezone is None or device is None or device.kind != "patrol_wand":
            # A terminal's or reader's id is no wand's: its log would be scans of nobody's.
            raise repo.NotFound(f"unknown patrol wand {self.wand_id!r}")
        candidates = import_wand_batch(
            records,
            wand_id=self.wand_id,
            wand_clock_at_download=self.wand_clock_at_download,
            gateway_clock_at_download=self.downloaded_at,
            timezone=timezone,
            variant=device.variant,
        )
        known = prepo.known_scan_keys(session, candidates.keys)
        kept = [
            (scan, key)
            for scan, key in zip(candidates.scans, candidates.keys, strict=True)
            if key not in known
        ]
        stored = processor.store_scans(
            session,
            [scan for scan, _key in kept],
            self.downloaded_at,
            keys=[key for _scan, key in kept],
        )
        processor.wand_downloaded(session, self.wand_id, self.downloaded_at)
        ambiguous = ambiguous_scans(session, device.site_id, [scan for scan, _key in kept])
        if ambiguous:
            logger.warning(
                "wand %s: %d scan(s) whose id may name more than one checkpoint or card of "
                "site %s named none",
                self.wand_id,
                ambiguous,
                device.site_id,
            )
        return {
            "wand_id": self.wand_id,
            "records": len(records),
            "stored": stored,
            "duplicates": candidates.duplicates + len(known),
            "ambiguous": ambiguous,
            "skew_s": candidates.skew_s,
            "rejected": [*problems, *candidates.rejected],
        }


@dataclass(frozen=True, slots=True)
class ReportReaderState:
    """A checkpoint reader or terminal lost or regained its device (unplugged, not answering).

    Losing it opens ``alert.device_silent`` for that device (subject: the device id); getting
    it back emits ``presence.device_resumed`` and resolves the alert. Repeated reports of the
    same state change nothing. The alert open is looked up in the database when this process
    does not know it (it was restarted since, or took the reader over from a process that
    stopped or died): a loss then raises no second alert, and getting the device back
    resolves the alert whoever opened it.
    """

    device_id: str
    connected: bool
    reason: str
    at: datetime

    def __call__(self, session: Session, processor: Processor) -> None:
        open_key = processor.reader_alerts.get(self.device_id)
        if open_key is None:
            open_key = alerts.open_reader_alert_key(session, self.device_id)
            if open_key is not None:
                processor.reader_alerts[self.device_id] = open_key
        resolves: tuple[str, ...]
        alert_key: str | None
        if not self.connected and open_key is None:
            key = f"reader:{self.device_id}:{self.at.isoformat()}"
            processor.reader_alerts[self.device_id] = key
            event_type, alert_key, resolves = "alert.device_silent", key, ()
        elif self.connected and open_key is not None:
            del processor.reader_alerts[self.device_id]
            event_type, alert_key, resolves = "presence.device_resumed", None, (open_key,)
        else:
            return
        event = RuleEvent(
            type=event_type,
            time=self.at,
            key=f"{open_key or alert_key}:{event_type}",
            data={
                "device_id": self.device_id,
                "reason": self.reason,
                "detected_at": self.at.isoformat(),
                "backfilled": False,
            },
            alert_key=alert_key,
            resolves=resolves,
        )
        processor.emit(session, event, subject=self.device_id)


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


def leave_json(row: Any) -> dict[str, Any]:
    """The API's JSON of a leave row."""
    return {
        "id": row.id,
        "guard_id": row.guard_id,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat(),
        "destination": row.destination,
        "reason": row.reason,
        "status": row.status,
        "cancelled_at": _iso(row.cancelled_at),
    }


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
