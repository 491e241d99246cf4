"""Commands the API runs on the pipeline's owner thread: reports, leaves, a patrol wand's
download, a reader's device lost or regained (alerts acknowledged and resolved by hand are in
``gateway.pipeline.alert_commands``).

Each command records the fact and feeds it to the guard's rule machine in one transaction, so a
report and the events it prevents or resolves are never out of step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.db import alerts
from gateway.db import patrol_repository as prepo
from gateway.db import repository as repo
from gateway.db.models import DeviceRow, ReportRow
from gateway.db.resent import leave_sent_again, report_sent_again
from gateway.db.tag_aliases import ambiguous_scans
from gateway.pipeline.processor import Processor
from gateway.pipeline.stored_inputs import report_filed
from gateway.rules import LeaveApproved, LeaveCancelled, RuleEvent
from gateway.wand import import_wand_batch, parse_wand_csv

__all__ = [
    "ApproveLeave",
    "CancelLeave",
    "FileReport",
    "ImportWandDownload",
    "ReportReaderState",
    "leave_json",
]

logger = logging.getLogger(__name__)


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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
