"""Reading one site's stored records of one local day: shifts, rule events, alerts, leaves,
reports and punches, grouped per guard.

The day is the site's local calendar day; a shift belongs to the day it **starts** on (a night
shift 20:00-08:00 is in the ledger of its first evening). Rule events are read from the outbox
(destination ``core``, one row per event) by the shifts' ids, so an event decided after the day
(a leave cancelled at 00:30) still counts for the shift it concerns. Nothing is re-decided here.

A guard's reports, leaves and punches go with his shifts the same way (``_Reach``): those in
a shift of the day are the day's even after midnight (a report at 02:00 of the night shift, its
check-out at 08:01, which the rules gave that shift), and those in his previous night's shift
are that night's day's, not this one's. Outside his shifts, the calendar day decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.models import (
    AlertRow,
    GuardRow,
    LeaveRow,
    PunchRow,
    ReportRow,
    ShiftRow,
    SiteRow,
)
from gateway.db.repository import site_policy
from gateway.db.slices import slices
from gateway.ledger.carried import note_returns_later
from gateway.ledger.lines import LedgerScope, ledger_lines, may_hold
from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow
from gateway.pipeline.punch_duty import EARLY_CHECK_IN, LATE_CHECK_OUT, OVERTIME_AFTER
from gateway.policy import SitePolicy

__all__ = [
    "EVENTS_AFTER_DAY",
    "DayOutOfRange",
    "DayRecords",
    "GuardRecords",
    "LedgerEvent",
    "ShiftEvents",
    "UnknownSite",
    "day_window",
    "read_day",
    "read_events",
    "run_events",
]

FIRST_YEAR, LAST_YEAR = 2000, 2099
EVENTS_AFTER_DAY = timedelta(days=3)
"""How long after the day an event of one of its shifts may be dated: a shift that started late
in the day ends the next one, and obligations (the hour to cancel a leave) outlive it."""
EVENT_FIELDS = (
    "shift_id",
    "departure_id",
    "started_at",
    "returned_at",
    "report_id",
    "leave_id",
    "reason",
    "in_time",
    "counted",
    "late",
    "excused",
    "resolved_missed",
    "withdrawn_type",
    "punched_at",
    "terminal_id",
    "kind",
    "checked_out",
    "continued_from",
    "away_since",
)
"""The fields of an event's ``data`` the ledger reads; the rest (fixes, raw evidence) is left
in the store, so a month of events fits in memory."""
_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit
PUNCH_MARGIN = max(EARLY_CHECK_IN, LATE_CHECK_OUT, OVERTIME_AFTER)
"""How far outside the day (and its shifts) a punch the rules gave one of its shifts may lie:
in an hour early, out an hour late, overtime up to ``OVERTIME_AFTER`` after its end
(``gateway.pipeline.punch_duty``)."""


class DayOutOfRange(ValueError):
    """A day outside the years the gateway takes times in."""


class UnknownSite(LookupError):
    """The site asked for is not stored."""


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One stored rule event: type, its own time, and its ``data`` as sent to the core."""

    type: str
    time: datetime
    data: dict[str, Any]


ShiftEvents = dict[str, list[LedgerEvent]]
"""Rule events by shift id, in time order."""


@dataclass(slots=True)
class GuardRecords:
    """Everything stored about one guard that the ledger of the day reads."""

    guard: GuardRow
    shifts: list[ShiftRow] = field(default_factory=list)
    events: list[LedgerEvent] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    leaves: list[LeaveRow] = field(default_factory=list)
    reports: list[ReportRow] = field(default_factory=list)
    punches: list[PunchRow] = field(default_factory=list)
    punch_shifts: dict[int, str] = field(default_factory=dict)
    """Punch row id → the shift the rules gave it (``attendance.punch``), when they did."""
    returned_later: dict[str, datetime] = field(default_factory=dict)
    """Departure id → its return in a later day's shift that took the outing over (``carried``)."""
    kept: bool = False
    """A line of shifts a load ended with the guard moved or taken out: under the name and team
    they kept (``gateway.ledger.lines``)."""


@dataclass(frozen=True, slots=True)
class DayRecords:
    """A site's day: its window in UTC, its policy, and the records of each line in scope (a
    guard's, or a kept shift's: ``gateway.ledger.lines``)."""

    site: SiteRow
    day: date
    starts_at: datetime
    ends_at: datetime
    policy: SitePolicy
    guards: list[GuardRecords]


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """``[local midnight, next local midnight)`` of ``day`` in ``timezone``, in UTC (23 or 25
    hours long on a daylight-saving change); ``DayOutOfRange`` for a day outside 2000-2099, the
    years every time the gateway takes lies in."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DayOutOfRange(
            f"no ledger for {day.isoformat()}: days from {FIRST_YEAR} to {LAST_YEAR}"
        )
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def read_day(
    session: Session,
    site_id: str,
    day: date,
    scope: LedgerScope | None = None,
    events: ShiftEvents | None = None,
) -> DayRecords:
    """The records of ``site_id``'s guards (only the lines ``scope`` holds, when given) for
    ``day``; ``events``: the rule events already read (``read_events``) over a range covering
    the day and ``EVENTS_AFTER_DAY`` after it, else they are read here.

    Guards are the site's current guards, plus anyone who had a shift that day (a guard since
    removed from the site file keeps his history, under his id); a shift a load ended with its
    guard moved or taken out is a line of its own (``gateway.ledger.lines``)."""
    site = session.get(SiteRow, site_id)
    if site is None:
        raise UnknownSite(f"unknown site {site_id!r}")
    start, end = day_window(day, site.timezone)
    shifts = list(
        session.scalars(
            select(ShiftRow)
            .where(ShiftRow.site_id == site_id, ShiftRow.starts_at >= start)
            .where(ShiftRow.starts_at < end)
            .order_by(ShiftRow.starts_at, ShiftRow.id)
        )
    )
    guards = {
        row.id: GuardRecords(row)
        for row in session.scalars(select(GuardRow).where(GuardRow.site_id == site_id))
    }
    for shift in shifts:
        if shift.guard_id not in guards:
            guards[shift.guard_id] = GuardRecords(GuardRow(id=shift.guard_id, name="", team=None))
        guards[shift.guard_id].shifts.append(shift)
    if scope is not None:
        guards = {g: rec for g, rec in guards.items() if may_hold(scope, g, rec.shifts)}
    ids = sorted(guards)
    shift_ids = [s.id for rec in guards.values() for s in rec.shifts]
    if events is None:
        events = read_events(session, ids, start - PUNCH_MARGIN, end + EVENTS_AFTER_DAY)
    for records in guards.values():
        for shift in records.shifts:
            records.events.extend(events.get(shift.id, ()))
        records.events.sort(key=lambda event: event.time)
    note_returns_later(guards.values(), events)
    reach = _Reach.of(session, guards, ids, start, end, events)
    _read_records(session, guards, ids, shift_ids, reach)
    lines = ledger_lines(guards, site_id, scope)
    return DayRecords(site, day, start, end, site_policy(site.policy), lines)


def read_events(
    session: Session, guard_ids: list[str], since: datetime, until: datetime
) -> ShiftEvents:
    """The rule events about ``guard_ids`` dated in ``[since, until)`` that name a shift, from
    the outbox rows that are the event history: those bound for the core, or kept as the record
    by a gateway without one (``EVENT_DESTINATIONS``), each event once. A run of days reads
    them once for the whole run: the outbox has no index on subject or time, so each read is a
    scan of it."""
    found: ShiftEvents = {}
    seen: set[str] = set()
    for chunk in slices(sorted(guard_ids), _IN_CHUNK):
        rows = session.execute(
            select(OutboxRow.event_id, OutboxRow.type, OutboxRow.event_time, OutboxRow.body)
            .where(OutboxRow.destination.in_(EVENT_DESTINATIONS), OutboxRow.subject.in_(chunk))
            .where(OutboxRow.event_time >= since, OutboxRow.event_time < until)
            .order_by(OutboxRow.event_time, OutboxRow.seq)
        )
        for event_id, type_, event_time, body in rows:
            if event_id in seen:  # written again after the core came or went
                continue
            seen.add(event_id)
            full = json.loads(body).get("data") or {}
            data = {key: full[key] for key in EVENT_FIELDS if key in full}
            shift_id = data.get("shift_id")
            if isinstance(shift_id, str):
                found.setdefault(shift_id, []).append(LedgerEvent(type_, utc(event_time), data))
    return found


def run_events(session: Session, site_id: str, first: date, last: date) -> ShiftEvents:
    """The rule events of every guard of ``site_id`` for the days ``first``..``last``, read
    once (``read_day``'s ``events``); raises ``UnknownSite``."""
    site = session.get(SiteRow, site_id)
    if site is None:
        raise UnknownSite(f"unknown site {site_id!r}")
    since, _ = day_window(first, site.timezone)
    _, until = day_window(last, site.timezone)
    guard_ids = set(session.scalars(select(GuardRow.id).where(GuardRow.site_id == site_id)))
    guard_ids |= set(
        session.scalars(
            select(ShiftRow.guard_id)
            .where(ShiftRow.site_id == site_id, ShiftRow.starts_at >= since)
            .where(ShiftRow.starts_at < until)
            .distinct()
        )
    )
    return read_events(session, sorted(guard_ids), since - PUNCH_MARGIN, until + EVENTS_AFTER_DAY)


@dataclass(frozen=True, slots=True)
class _Reach:
    """Which of a guard's timed records are the day's: those in his shifts of the day, and
    those of the calendar day outside his other shifts (the night before's, or one at another
    site after a transfer); punches as the rules attributed them (``attendance.punch``
    events), when they did."""

    start: datetime
    end: datetime
    own: dict[str, list[tuple[datetime, datetime]]]
    other: dict[str, list[tuple[datetime, datetime]]]
    punch_shift: dict[tuple[str, str, datetime, str], str]
    """(guard, terminal, instant, kind) of a punch → the shift the rules gave it."""
    day_shifts: frozenset[str]

    @classmethod
    def of(
        cls,
        session: Session,
        guards: dict[str, GuardRecords],
        ids: list[str],
        start: datetime,
        end: datetime,
        events: ShiftEvents,
    ) -> _Reach:
        own = {
            g: [(utc(s.starts_at), utc(s.ends_at)) for s in rec.shifts] for g, rec in guards.items()
        }
        day_shifts = frozenset(s.id for rec in guards.values() for s in rec.shifts)
        other: dict[str, list[tuple[datetime, datetime]]] = {}
        for chunk in slices(ids, _IN_CHUNK):
            # His other shifts in the calendar day: the night before's, or one at another site.
            overlapping = select(
                ShiftRow.id, ShiftRow.guard_id, ShiftRow.starts_at, ShiftRow.ends_at
            ).where(
                ShiftRow.guard_id.in_(chunk), ShiftRow.starts_at < end, ShiftRow.ends_at > start
            )
            for shift_id, guard_id, starts_at, ends_at in session.execute(overlapping):
                if shift_id not in day_shifts:
                    other.setdefault(guard_id, []).append((utc(starts_at), utc(ends_at)))
        punch_shift = {}
        for shift_id, shift_events in events.items():
            for event in shift_events:
                data = event.data
                when = data.get("punched_at")
                if event.type == "attendance.punch" and isinstance(when, str):
                    guard_id = shift_id.split("/", 1)[0]
                    key = (
                        guard_id,
                        str(data.get("terminal_id")),
                        utc(datetime.fromisoformat(when)),
                    )
                    punch_shift[(*key, str(data.get("kind")))] = shift_id
        return cls(start, end, own, other, punch_shift, day_shifts)

    def until(self) -> datetime:
        """The end of the reads: the day, or the end of its last shift and the time after it
        in which a check-out or an overtime punch still belongs to that shift."""
        ends = [e for spans in self.own.values() for _, e in spans]
        return max([self.end, *ends]) + PUNCH_MARGIN

    def holds(self, guard_id: str, at: datetime) -> bool:
        """Whether a record of ``guard_id`` at ``at`` is the day's."""
        at = utc(at)
        if any(s <= at < e for s, e in self.own.get(guard_id, ())):
            return True
        if any(s <= at < e for s, e in self.other.get(guard_id, ())):
            return False
        return self.start <= at < self.end

    def holds_span(self, guard_id: str, since: datetime, until: datetime) -> bool:
        """Whether ``[since, until)`` of ``guard_id`` (a leave) lies partly in the day."""
        since, until = utc(since), utc(until)
        if any(s < until and since < e for s, e in self.own.get(guard_id, ())):
            return True
        a, b = max(since, self.start), min(until, self.end)
        return a < b and not any(s <= a and b <= e for s, e in self.other.get(guard_id, ()))

    def shift_of(self, punch: PunchRow) -> str | None:
        """The shift the rules gave a punch (its ``attendance.punch`` event), if any."""
        key = (str(punch.guard_id), punch.terminal_id, utc(punch.punched_at), punch.kind)
        return self.punch_shift.get(key)

    def holds_punch(self, punch: PunchRow) -> bool:
        """Whether a punch is the day's: by the shift the rules gave it, else by its time."""
        guard_id = str(punch.guard_id)
        shift_id = self.shift_of(punch)
        if shift_id is not None:
            return shift_id in self.day_shifts
        return self.holds(guard_id, punch.punched_at)


def _read_records(
    session: Session,
    guards: dict[str, GuardRecords],
    ids: list[str],
    shift_ids: list[str],
    reach: _Reach,
) -> None:
    """Alerts, leaves, reports and punches of the guards for the day (``_Reach``)."""
    start, end, until = reach.start, reach.end, reach.until()
    for chunk in slices(ids, _IN_CHUNK):
        by_shift = [AlertRow.shift_id.in_(shift_ids)] if shift_ids else []
        off_shift = (AlertRow.shift_id.is_(None)) & (AlertRow.opened_at >= start)
        alerts = select(AlertRow).where(
            AlertRow.guard_id.in_(chunk),
            or_(*by_shift, off_shift & (AlertRow.opened_at < end)),
        )
        for alert in session.scalars(alerts.order_by(AlertRow.opened_at, AlertRow.id)):
            guards[alert.guard_id].alerts.append(alert)
        leaves = select(LeaveRow).where(
            LeaveRow.guard_id.in_(chunk), LeaveRow.starts_at < until, LeaveRow.ends_at > start
        )
        for leave in session.scalars(leaves.order_by(LeaveRow.starts_at, LeaveRow.id)):
            if reach.holds_span(leave.guard_id, leave.starts_at, leave.ends_at):
                guards[leave.guard_id].leaves.append(leave)
        reports = select(ReportRow).where(
            ReportRow.guard_id.in_(chunk),
            ReportRow.reported_at >= start,
            ReportRow.reported_at < until,
        )
        for report in session.scalars(reports.order_by(ReportRow.reported_at, ReportRow.id)):
            if reach.holds(report.guard_id, report.reported_at):
                guards[report.guard_id].reports.append(report)
        punches = select(PunchRow).where(
            PunchRow.guard_id.in_(chunk),
            PunchRow.punched_at >= start - PUNCH_MARGIN,
            PunchRow.punched_at < until,
        )
        for punch in session.scalars(punches.order_by(PunchRow.punched_at, PunchRow.id)):
            if reach.holds_punch(punch):
                records = guards[str(punch.guard_id)]
                records.punches.append(punch)
                shift_id = reach.shift_of(punch)
                if shift_id is not None:
                    records.punch_shifts[punch.id] = shift_id
