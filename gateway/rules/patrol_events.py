"""Event types of the patrol and attendance rules, their inputs, and the unknown-id reports.

Catalogue (the ``data`` of every event also carries ``site_id``, ``detected_at`` and
``backfilled``; the machines add ``guard_id``, ``post_id``, ``shift_id``):

======================================  ==================================================
``patrol.checkpoint_scanned``           a checkpoint scan; ``counted`` for a round or not
                                        (``reason``: ``outside_window`` | ``repeat``);
                                        ``late`` (after the window, within the tolerance),
                                        ``out_of_order`` (ordered route walked backwards),
                                        ``resolved_missed`` (it resolved a missed alert)
``alert.checkpoint_missed``             at the window's end, on the clock, with no scan;
                                        resolved by a late scan within the tolerance; for
                                        a round walked with a wand, at its download
                                        (``judged_on``: ``clock`` | ``download`` |
                                        ``wait_ran_out``); raised later by a leave's
                                        cancellation dated before the window ended
                                        (``reason``: ``leave_cancelled``, ``leave_id``,
                                        ``cancelled_at``, ``raised_again``)
``patrol.round_completed``              every checkpoint of a round settled; counts;
                                        ``judged_on`` as the missed alert's
``patrol.unknown_tag``                  a tag no checkpoint carries (recorded, reported)
``attendance.punch``                    every punch of a known person (kind, verify, terminal)
``alert.late_clock_in``                 shift started, no check-in within the grace;
                                        resolved by the check-in
``attendance.unknown_person``           a punch or card no guard is mapped to
======================================  ==================================================

Unknown tags and persons have no guard and no shift, so they are not produced by a machine but
by :func:`unknown_tag_event` / :func:`unknown_person_event`, keyed by the record itself so the
same record seen twice gives the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.clock import utc
from gateway.records import CheckpointScan, Punch

from .entries import iso
from .events import BACKFILL_AFTER_S, Json, RuleEvent, event_key, withdrawal
from .patrol_state import MissedCheckpoint, PatrolRound, PatrolState

__all__ = [
    "ALERT_CHECKPOINT_MISSED",
    "ALERT_LATE_CLOCK_IN",
    "ATTENDANCE_EVENT_TYPES",
    "ATTENDANCE_PUNCH",
    "ATTENDANCE_UNKNOWN_PERSON",
    "PATROL_CHECKPOINT_SCANNED",
    "PATROL_EVENT_TYPES",
    "PATROL_ROUND_COMPLETED",
    "PATROL_UNKNOWN_TAG",
    "ScanObserved",
    "punch_key",
    "round_counts",
    "unknown_person_event",
    "unknown_tag_event",
]

PATROL_CHECKPOINT_SCANNED = "patrol.checkpoint_scanned"
ALERT_CHECKPOINT_MISSED = "alert.checkpoint_missed"
PATROL_ROUND_COMPLETED = "patrol.round_completed"
PATROL_UNKNOWN_TAG = "patrol.unknown_tag"
ATTENDANCE_PUNCH = "attendance.punch"
ALERT_LATE_CLOCK_IN = "alert.late_clock_in"
ATTENDANCE_UNKNOWN_PERSON = "attendance.unknown_person"

PATROL_EVENT_TYPES: tuple[str, ...] = (
    PATROL_CHECKPOINT_SCANNED,
    ALERT_CHECKPOINT_MISSED,
    PATROL_ROUND_COMPLETED,
    PATROL_UNKNOWN_TAG,
)
ATTENDANCE_EVENT_TYPES: tuple[str, ...] = (
    ATTENDANCE_PUNCH,
    ALERT_LATE_CLOCK_IN,
    ATTENDANCE_UNKNOWN_PERSON,
)


@dataclass(frozen=True, slots=True)
class ScanObserved:
    """A checkpoint scan whose tag the caller resolved to ``checkpoint_id``.

    ``scanned_at`` is device time (a wand's corrected for skew); ``raw`` is the evidence.
    """

    checkpoint_id: str
    reader_id: str
    tag_id: str
    scanned_at: datetime
    received_at: datetime
    raw: str = ""

    @classmethod
    def from_scan(cls, scan: CheckpointScan, checkpoint_id: str) -> ScanObserved:
        return cls(
            checkpoint_id=checkpoint_id,
            reader_id=scan.reader_id,
            tag_id=scan.tag_id,
            scanned_at=utc(scan.scanned_at),
            received_at=utc(scan.received_at),
            raw=scan.raw,
        )


def round_counts(rnd: PatrolRound, at: datetime) -> dict[str, Json]:
    """The counts of ``patrol.round_completed`` for ``rnd`` settled at ``at``: a checkpoint
    not scanned whose window had not ended by then is ``not_due``, one a leave excused is
    ``excused``, any other ``missed``."""
    scanned = [v for v in rnd.visits if v.scanned_at is not None]
    unscanned = [v for v in rnd.visits if v.scanned_at is None]
    not_due = [v for v in unscanned if v.window_end > at]
    excused = [v for v in unscanned if v.excused]
    missed = [v for v in unscanned if v.window_end <= at and not v.excused]
    return {
        "round_start": iso(rnd.started_at),
        "round_end": iso(max(v.window_end for v in rnd.visits)),
        "checkpoints": len(rnd.visits),
        "scanned": len(scanned),
        "on_time": sum(1 for v in scanned if not v.late),
        "late": sum(1 for v in scanned if v.late),
        "missed": len(missed),
        "out_of_order": sum(1 for v in scanned if v.out_of_order),
        "not_due": len(not_due),
        "missed_checkpoints": [v.checkpoint_id for v in missed],
        "excused": len(excused),
        "excused_checkpoints": [v.checkpoint_id for v in excused],
    }


def punch_key(punch: Punch) -> str:
    """The identity of a punch: terminal, person, time and kind (a double push is one punch)."""
    return f"{punch.terminal_id}|{punch.person_id}|{iso(punch.punched_at)}|{punch.kind.value}"


def _backfilled(when: datetime, now: datetime) -> bool:
    return (utc(now) - utc(when)).total_seconds() > BACKFILL_AFTER_S


def unknown_tag_event(scan: CheckpointScan, now: datetime, site_id: str | None = None) -> RuleEvent:
    """``patrol.unknown_tag`` for a scan whose tag no checkpoint carries."""
    at = utc(scan.scanned_at)
    return RuleEvent(
        type=PATROL_UNKNOWN_TAG,
        time=at,
        key=event_key(f"reader:{scan.reader_id}", PATROL_UNKNOWN_TAG, f"{scan.tag_id}@{iso(at)}"),
        data={
            "site_id": site_id,
            "reader_id": scan.reader_id,
            "tag_id": scan.tag_id,
            "technology": scan.technology.value,
            "ndef_text": scan.ndef_text,
            "scanned_at": iso(at),
            "received_at": iso(scan.received_at),
            "source_format": scan.source_format,
            "raw": scan.raw,
            "detected_at": iso(now),
            "backfilled": _backfilled(at, now),
        },
    )


def unknown_person_event(punch: Punch, now: datetime, site_id: str | None = None) -> RuleEvent:
    """``attendance.unknown_person`` for a punch (PIN or card) no guard is mapped to."""
    at = utc(punch.punched_at)
    return RuleEvent(
        type=ATTENDANCE_UNKNOWN_PERSON,
        time=at,
        key=event_key(
            f"terminal:{punch.terminal_id}",
            ATTENDANCE_UNKNOWN_PERSON,
            f"{punch.person_id}@{iso(at)}:{punch.kind.value}",
        ),
        data={
            "site_id": site_id,
            "terminal_id": punch.terminal_id,
            "person_id": punch.person_id,
            "kind": punch.kind.value,
            "verify": punch.verify.value,
            "punched_at": iso(at),
            "received_at": iso(punch.received_at),
            "source_format": punch.source_format,
            "raw": punch.raw,
            "detected_at": iso(now),
            "backfilled": _backfilled(at, now),
        },
    )


def missed_withdrawn(
    state: PatrolState, missed: MissedCheckpoint, reason: str, now: datetime, details: Json
) -> RuleEvent:
    """The ``alert.withdrawn`` of ``missed``'s alert, dated ``now``, for ``reason``: its guard,
    post, shift and route, its round and window, and ``details`` (what shows it wrong)."""
    assert isinstance(details, dict)
    data: dict[str, Json] = {
        "guard_id": state.guard_id,
        "post_id": state.post_id,
        "site_id": state.site_id,
        "shift_id": state.shift_id,
        "route_id": state.route_id,
        "detected_at": iso(now),
        **details,
        "checkpoint_id": missed.checkpoint_id,
        "round_start": iso(missed.round_start),
        "window_start": iso(missed.window_start),
        "window_end": iso(missed.window_end),
    }
    alert_key = event_key(state.machine_id, ALERT_CHECKPOINT_MISSED, missed.episode)
    return withdrawal(state.machine_id, alert_key, ALERT_CHECKPOINT_MISSED, reason, now, data)
