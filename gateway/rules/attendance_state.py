"""The attendance machine's state (``AttendanceState``), the leave input it takes, and the key of
its late clock-in alert: see :mod:`gateway.rules.attendance` for the rules that step it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.clock import utc

from .entries import iso, opt_dt, opt_iso, to_dt
from .events import Json, event_key
from .patrol_events import ALERT_LATE_CLOCK_IN

__all__ = ["AttendanceState", "LeaveExcuses", "late_clock_in_key"]

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class LeaveExcuses:
    """A leave entered now, approved at ``approved_at``: with it, the approved leaves excuse
    the guard until ``until`` (``None``: none covers the time he was expected; see
    ``gateway.rules.deadlines.leave_excuses_until``). ``approved_by(t)``: until when those
    approved by ``t`` excuse him, what a late clock-in that fell at ``t`` is judged on (a leave
    approved after it fell does not show it wrong); ``None``: every one was approved by then."""

    leave_id: str
    approved_at: datetime
    until: datetime | None
    approved_by: Callable[[datetime], datetime | None] | None = None

    def until_approved_by(self, when: datetime) -> datetime | None:
        """Until when the leaves approved by ``when`` excuse him."""
        return self.until if self.approved_by is None else self.approved_by(when)


@dataclass(frozen=True, slots=True)
class AttendanceState:
    """The attendance machine of one guard shift; build with :meth:`start`.

    ``next_deadline`` is the late-clock-in decision while it is pending, else ``None``.
    ``punch_keys`` are the punches already reported (a handful per shift).
    """

    shift_id: str
    guard_id: str
    post_id: str
    site_id: str
    shift_start: datetime
    shift_end: datetime
    next_deadline: datetime | None
    stepped_at: datetime | None = None
    closed: bool = False
    checked_in_at: datetime | None = None
    late_checked: bool = False
    late_open: bool = False
    punch_keys: tuple[str, ...] = field(default=())
    known_from: datetime | None = None
    """When the gateway learned of the shift, if after its start: the clock-in grace counts
    from here (punches since the shift start still count)."""
    excused_until: datetime | None = None
    """The end of an approved leave covering the time he was expected (the presence rules'
    ``leave_excuses_until``): the clock-in grace counts from here."""
    late_raised_at: datetime | None = None
    """When ``alert.late_clock_in`` fell (``None``: not raised, or withdrawn)."""
    lates_withdrawn: int = 0
    """How many late clock-ins a leave entered later withdrew (one raised after keys itself
    by its own time)."""
    checked_out_at: datetime | None = None
    """His latest check-out (签退) in this shift."""
    excused_by: str | None = None
    excused_approved_at: datetime | None = None
    """The leave entered after the late clock-in fell, approved before, whose excusal could not
    yet show it wrong (he was not known to be in by the excused grace's end): a check-in a
    terminal that was offline pushes later, dated by then, still withdraws it."""
    excused_then: datetime | None = None
    """Until when the leaves approved by the time the late clock-in fell excuse him, with
    ``excused_by`` (``excused_until`` counts the leaves approved since too)."""

    @classmethod
    def start(
        cls,
        shift_id: str,
        guard_id: str,
        post_id: str,
        site_id: str,
        shift_start: datetime,
        shift_end: datetime,
        known_from: datetime | None = None,
    ) -> AttendanceState:
        start, end = utc(shift_start), utc(shift_end)
        if end <= start:
            raise ValueError(f"shift {shift_id} ends ({end}) before it starts ({start})")
        known = None if known_from is None or utc(known_from) <= start else utc(known_from)
        return cls(
            shift_id, guard_id, post_id, site_id, start, end, next_deadline=start, known_from=known
        )

    def to_json(self) -> dict[str, Json]:
        return {
            "version": STATE_VERSION,
            "shift_id": self.shift_id,
            "guard_id": self.guard_id,
            "post_id": self.post_id,
            "site_id": self.site_id,
            "shift_start": iso(self.shift_start),
            "shift_end": iso(self.shift_end),
            "next_deadline": opt_iso(self.next_deadline),
            "stepped_at": opt_iso(self.stepped_at),
            "closed": self.closed,
            "checked_in_at": opt_iso(self.checked_in_at),
            "late_checked": self.late_checked,
            "late_open": self.late_open,
            "punch_keys": list(self.punch_keys),
            "known_from": opt_iso(self.known_from),
            "excused_until": opt_iso(self.excused_until),
            "late_raised_at": opt_iso(self.late_raised_at),
            "lates_withdrawn": self.lates_withdrawn,
            "checked_out_at": opt_iso(self.checked_out_at),
            "excused_by": self.excused_by,
            "excused_approved_at": opt_iso(self.excused_approved_at),
            "excused_then": opt_iso(self.excused_then),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttendanceState:
        """Restore a state stored by :meth:`to_json`. Raises ``ValueError`` on another version."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"attendance state version {data.get('version')!r} is not supported")
        return cls(
            shift_id=str(data["shift_id"]),
            guard_id=str(data["guard_id"]),
            post_id=str(data["post_id"]),
            site_id=str(data["site_id"]),
            shift_start=to_dt(data["shift_start"]),
            shift_end=to_dt(data["shift_end"]),
            next_deadline=opt_dt(data["next_deadline"]),
            stepped_at=opt_dt(data["stepped_at"]),
            closed=bool(data["closed"]),
            checked_in_at=opt_dt(data["checked_in_at"]),
            late_checked=bool(data["late_checked"]),
            late_open=bool(data["late_open"]),
            punch_keys=tuple(str(k) for k in data["punch_keys"]),
            known_from=opt_dt(data.get("known_from")),
            excused_until=opt_dt(data.get("excused_until")),
            late_raised_at=opt_dt(data.get("late_raised_at")),
            lates_withdrawn=int(data.get("lates_withdrawn", 0)),
            checked_out_at=opt_dt(data.get("checked_out_at")),
            excused_by=None if data.get("excused_by") is None else str(data["excused_by"]),
            excused_approved_at=opt_dt(data.get("excused_approved_at")),
            # Stored before it was kept: the excusal of every leave, as it was judged then.
            excused_then=opt_dt(data.get("excused_then", data.get("excused_until"))),
        )

    def continuing(self, before: AttendanceState) -> AttendanceState:
        """This new shift's state when ``before`` is the guard's shift that ends as it starts
        without a break (a double shift, 连班, or a move to another post by a site load):
        clocked in for it and not clocked out since, he is clocked in for this one too (his
        duty goes on), and no late clock-in is due."""
        checked_in, out = before.checked_in_at, before.checked_out_at
        if self.stepped_at is not None or checked_in is None:
            return self
        if out is not None and out >= checked_in:
            return self
        return replace(self, checked_in_at=checked_in, late_checked=True, next_deadline=None)


def late_clock_in_key(state: AttendanceState) -> str:
    """The key (and alert key) of the shift's ``alert.late_clock_in`` raised: its episode is
    the shift start, or its own time for one raised again after a leave withdrew one."""
    episode = state.shift_start
    if state.lates_withdrawn and state.late_raised_at is not None:
        episode = state.late_raised_at
    return event_key(state.shift_id, ALERT_LATE_CLOCK_IN, iso(episode))
