"""Attendance (考勤) as a pure state machine per guard shift, and punches as presence inputs.

``step(state, input, now, policy) -> (state, events)`` with inputs ``Punch`` (the caller mapped
the terminal's person id or card to this shift's guard), ``Tick``, ``ShiftEnded`` and
``LeaveExcuses`` (a leave entered). Event types are listed in :mod:`gateway.rules.patrol_events`.

Decisions, in the terms of :class:`~gateway.rules.patrol_policy.PatrolPolicy`:

* every punch gives one ``attendance.punch`` (kind, verify mode, terminal, evidence); the same
  punch fed twice (a terminal pushing its log again) gives it once;
* ``alert.late_clock_in`` fires on the clock at shift start + ``clock_in_grace_s`` when no
  check-in (punch kind ``check_in``) came by then; a later check-in resolves it and is marked
  ``late``. A check-in dated before the deadline counts even if it reaches the gateway later
  (a terminal that was offline), as deadlines due by a punch's time fire only after it; when
  the alert fell on the clock meanwhile, the check-in withdraws it (``alert.withdrawn``, reason
  ``checked_in_before``) and is not late; so does one dated within the grace a leave entered
  meanwhile excused (``leave_on_record``, below);
* a leave over the time he was expected moves the grace to its end (``excused_until``); one
  entered after the alert fell, but approved before, withdraws it (``alert.withdrawn``,
  reason ``leave_on_record``) when its excused grace ran past that time, unless he was late
  after that grace too;
* the machine does not close by itself at the shift's end (a check-out just after the end
  still belongs to the shift); ``ShiftEnded`` (a relief) closes it: it decides nothing more,
  but a punch made before it closed that a terminal that was offline pushes later is still
  reported (and a check-in among them still withdraws a late clock-in it shows wrong), and a
  leave typed in afterwards still withdraws a late clock-in it excused (it stays closed);
* on a double shift (连班: the next shift at the same post starts at this one's end) a guard
  clocked in for the first and not clocked out since is clocked in for the second: no new
  check-in is asked (``AttendanceState.continuing``), and so across a move to another post
  by a site load; a punch of the first pushed late that changes it is carried over to the
  second (``carried_over``).

Punches and the presence rules (``gateway.rules.patrol_presence.punch_presence_inputs``): a
**break-out punch is the verbal report (报备) of a departure** and becomes a ``ReportFiled`` dated
at the punch; a **break-in is the return**: at a terminal standing at the guard's post it
becomes an INSIDE fix (see :mod:`gateway.rules.patrol_presence`), which starts the return. Any
punch at a terminal at the guard's post is likewise evidence that he is there. A punch at a
terminal elsewhere says nothing about the post, so only the break-out's report remains.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from gateway.clock import utc
from gateway.records import Punch, PunchKind

from .attendance_state import AttendanceState, LeaveExcuses, late_clock_in_key
from .entries import iso, opt_iso
from .events import (
    BACKFILL_AFTER_S,
    LATE_AFTER_S,
    Json,
    RuleEvent,
    event_key,
    withdrawal,
)
from .inputs import ShiftEnded, Tick
from .patrol_events import ALERT_LATE_CLOCK_IN, ATTENDANCE_PUNCH, punch_key
from .patrol_policy import PatrolPolicy

__all__ = [
    "AttendanceInput",
    "AttendanceState",
    "LeaveExcuses",
    "carried_over",
    "due_sooner",
    "late_clock_in_key",
    "scheduled",
    "step",
]

AttendanceInput = Punch | Tick | ShiftEnded | LeaveExcuses
"""Anything the attendance ``step`` accepts."""


def _late_due(state: AttendanceState, policy: PatrolPolicy) -> datetime | None:
    if state.closed or state.late_checked or state.checked_in_at is not None:
        return None
    expected = state.shift_start if state.known_from is None else state.known_from
    if state.excused_until is not None and state.excused_until > expected:
        expected = state.excused_until
    due = expected + timedelta(seconds=policy.clock_in_grace_s)
    return due if due <= state.shift_end else None


def _excused_due(
    state: AttendanceState, then: datetime | None, policy: PatrolPolicy
) -> datetime | None:
    """When he was due to clock in had the leaves excused him until ``then`` (not yet in);
    ``None`` when it falls past the shift's end, or past the relief that closed the machine
    (it was owed no more: a leave typed in after it judges the shift as it ran)."""
    owed = replace(state, closed=False, late_checked=False, checked_in_at=None, excused_until=then)
    due = _late_due(owed, policy)
    closed_at = state.stepped_at if state.closed else None
    return None if due is not None and closed_at is not None and due > closed_at else due


def due_sooner(state: AttendanceState, policy: PatrolPolicy) -> bool:
    """Whether ``policy`` puts the clock-in deadline before the state's ``next_deadline`` (it
    last stepped under other limits: see ``gateway.rules.presence.due_sooner``)."""
    due = _late_due(state, policy)
    return due is not None and (state.next_deadline is None or due < state.next_deadline)


def scheduled(state: AttendanceState, now: datetime, policy: PatrolPolicy) -> AttendanceState:
    """A new state with its clock-in deadline, as a ``Tick`` at ``now`` that finds nothing due
    would leave it, without the tick (``AttendanceState.start`` knows no policy). Unchanged
    when it has stepped, or when the deadline is due by ``now``: its first tick decides."""
    now = utc(now)
    if state.stepped_at is not None or state.closed:
        return state
    due = _late_due(state, policy)
    if due is not None and due <= now:
        return state
    return replace(state, next_deadline=due, stepped_at=now)


def step(
    state: AttendanceState, event: AttendanceInput, now: datetime, policy: PatrolPolicy
) -> tuple[AttendanceState, list[RuleEvent]]:
    """Apply one input at clock time ``now``; return the new state and the events, in order."""
    now = utc(now)
    events: list[RuleEvent] = []
    if state.closed:
        # Its shift cut short by a relief, it decides nothing more; a punch made before it
        # closed that a terminal that was offline pushes late is still reported, and still
        # shows a late clock-in wrong.
        closed_at = state.stepped_at
        if isinstance(event, Punch) and closed_at is not None and utc(event.punched_at) < closed_at:
            return _on_punch(state, event, now, policy, events), events
        if isinstance(event, LeaveExcuses):
            # Typed in after the shift was cut short (the next morning, as a rule): it still
            # withdraws the late clock-in it shows wrong; nothing falls due any more.
            return _on_leave(state, event, now, policy, events), events
        return state, events
    if isinstance(event, Tick):
        state = _fire_due(state, now, now, policy, events)
    elif isinstance(event, ShiftEnded):
        # Told late (a site load that cut the shift while the gateway was down): a clock-in
        # that fell due after the cut was owed no more.
        ended = now if event.ended_at is None else min(utc(event.ended_at), now)
        state = _fire_due(state, ended, now, policy, events)
        state = replace(state, closed=True)
    elif isinstance(event, LeaveExcuses):
        state = _on_leave(state, event, now, policy, events)
    elif isinstance(event, Punch):
        at = utc(event.punched_at)
        state = _fire_due(state, min(at, now), now, policy, events)
        state = _on_punch(state, event, now, policy, events)
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(f"not an attendance rule input: {event!r}")
    state = replace(state, next_deadline=_late_due(state, policy), stepped_at=now)
    return state, events


def carried_over(
    state: AttendanceState, before: AttendanceState, now: datetime, policy: PatrolPolicy
) -> tuple[AttendanceState, list[RuleEvent]]:
    """``state``, the machine of the shift the guard's duty goes on in from ``before``'s (a
    double shift, a move: ``AttendanceState.continuing``), once a punch of ``before`` that a
    terminal kept while offline changed whether he was clocked in across: in since before and
    not out, he is in for this shift too, and a late clock-in it raised meanwhile is withdrawn
    (``checked_in_before``: he was in before it fell); out after all, the check-in carried over
    is taken back, and a late clock-in due by ``now`` falls (dated at its deadline)."""
    now = utc(now)
    events: list[RuleEvent] = []
    if state.closed:
        return state, events
    checked_in, out = before.checked_in_at, before.checked_out_at
    across = checked_in is not None and (out is None or out < checked_in)
    if across and state.checked_in_at is None and checked_in is not None:
        withdrawn = _late_withdrawal(state, checked_in, now, policy)
        state = replace(
            state,
            checked_in_at=checked_in,
            late_checked=True,
            late_open=state.late_open and withdrawn is None,
            late_raised_at=state.late_raised_at if withdrawn is None else None,
        )
        if withdrawn is not None:
            events.append(withdrawn)
    elif not across and checked_in is not None and state.checked_in_at == checked_in:
        state = replace(state, checked_in_at=None, late_checked=False)
        state = _fire_due(state, now, now, policy, events)
    else:
        return state, events
    return replace(state, next_deadline=_late_due(state, policy)), events


def _base(state: AttendanceState, now: datetime, backfilled: bool) -> dict[str, Json]:
    return {
        "guard_id": state.guard_id,
        "post_id": state.post_id,
        "site_id": state.site_id,
        "shift_id": state.shift_id,
        "shift_start": iso(state.shift_start),
        "detected_at": iso(now),
        "backfilled": backfilled,
    }


def _fire_due(
    state: AttendanceState,
    until: datetime,
    now: datetime,
    policy: PatrolPolicy,
    events: list[RuleEvent],
) -> AttendanceState:
    due = _late_due(state, policy)
    if due is None or due > until:
        return state
    fired_late = (now - due).total_seconds() > LATE_AFTER_S and (
        state.stepped_at is None or due > state.stepped_at
    )
    state = replace(state, late_checked=True, late_open=True, late_raised_at=due)
    key = late_clock_in_key(state)
    data = _base(state, now, fired_late or (now - due).total_seconds() > BACKFILL_AFTER_S)
    data.update(
        {
            "fired_late": fired_late,
            "grace_s": policy.clock_in_grace_s,
            "excused_until": opt_iso(state.excused_until),
            # The grace ran from the load that made the shift known, not from its start.
            "known_from": opt_iso(state.known_from),
        }
    )
    events.append(RuleEvent(type=ALERT_LATE_CLOCK_IN, time=due, key=key, data=data, alert_key=key))
    return state


def _on_leave(
    state: AttendanceState,
    leave: LeaveExcuses,
    now: datetime,
    policy: PatrolPolicy,
    events: list[RuleEvent],
) -> AttendanceState:
    """Take the excusal a leave entered now brings. A late clock-in raised before the leave
    was approved stands (it was right then); one raised after, which the excusal of the leaves
    approved by then puts later than it fell, is withdrawn (reason ``leave_on_record``), unless
    he was late after the excused grace too (he clocked in after it, or it ran out before the
    leave was entered). Not clocked in yet, he is raised again when the excused grace of every
    leave entered runs out."""
    state = replace(state, excused_until=leave.until)
    raised = state.late_raised_at
    if raised is None or leave.approved_at > raised:
        return state
    then = leave.until_approved_by(raised)
    due = _excused_due(state, then, policy)
    if due is not None and due <= raised:
        return state
    checked_in = state.checked_in_at
    if due is not None and checked_in is not None and checked_in > due:
        return state  # late after the leave's grace too: raised early, not wrongly
    if due is not None and checked_in is None and now >= due:
        # Not known to be in by the excused grace's end: it stands, unless a check-in a
        # terminal kept while offline shows him in by then (``_late_withdrawal``).
        return replace(
            state,
            excused_by=leave.leave_id,
            excused_approved_at=leave.approved_at,
            excused_then=then,
        )
    key = late_clock_in_key(state)
    data = _base(state, now, False)
    data.update(
        leave_id=leave.leave_id,
        approved_at=iso(leave.approved_at),
        excused_until=opt_iso(then),
    )
    events.append(
        withdrawal(state.shift_id, key, ALERT_LATE_CLOCK_IN, "leave_on_record", now, data)
    )
    return replace(
        state,
        late_raised_at=None,
        lates_withdrawn=state.lates_withdrawn + 1,
        late_checked=checked_in is not None,
        late_open=False,
    )


def _on_punch(
    state: AttendanceState,
    punch: Punch,
    now: datetime,
    policy: PatrolPolicy,
    events: list[RuleEvent],
) -> AttendanceState:
    ident = punch_key(punch)
    if ident in state.punch_keys:
        return state
    at = utc(punch.punched_at)
    state = replace(state, punch_keys=(*state.punch_keys, ident))
    resolves: tuple[str, ...] = ()
    check_in = punch.kind is PunchKind.CHECK_IN
    first_check_in = check_in and state.checked_in_at is None
    late = False
    withdrawn: RuleEvent | None = None
    if first_check_in:
        withdrawn = _late_withdrawal(state, at, now, policy)
        late = state.late_checked and withdrawn is None
        if withdrawn is None and state.late_open:
            resolves = (late_clock_in_key(state),)
        state = replace(
            state,
            checked_in_at=at,
            late_checked=True,
            late_open=False,
            late_raised_at=state.late_raised_at if withdrawn is None else None,
            excused_by=None,
            excused_approved_at=None,
            excused_then=None,
        )
    elif punch.kind is PunchKind.CHECK_OUT and (
        state.checked_out_at is None or at > state.checked_out_at
    ):
        state = replace(state, checked_out_at=at)
    data = _base(state, now, (now - at).total_seconds() > BACKFILL_AFTER_S)
    data.update(
        {
            "terminal_id": punch.terminal_id,
            "person_id": punch.person_id,
            "kind": punch.kind.value,
            "verify": punch.verify.value,
            "punched_at": iso(at),
            "received_at": iso(punch.received_at),
            "first_check_in": first_check_in,
            "late": late,
            "after_shift_start_s": (at - state.shift_start).total_seconds(),
            "source_format": punch.source_format,
            "raw": punch.raw,
        }
    )
    events.append(
        RuleEvent(
            type=ATTENDANCE_PUNCH,
            time=at,
            key=event_key(state.shift_id, ATTENDANCE_PUNCH, ident),
            data=data,
            resolves=resolves,
        )
    )
    if withdrawn is not None:
        events.append(withdrawn)
    return state


def _late_withdrawal(
    state: AttendanceState, at: datetime, now: datetime, policy: PatrolPolicy
) -> RuleEvent | None:
    """The withdrawal of the late clock-in raised, for a check-in punched at ``at`` and pushed
    after it fell (a terminal that was offline); ``None`` when none is raised or it stands.

    Wrong when punched before it fell (``checked_in_before``); live, a punch fires what was due
    by its own time first, so one dated at the deadline itself comes after the alert. Wrong too
    when the leaves approved before it fell, one of them entered after the excused grace had
    run out with him not known to be in, excused him past ``at`` (``leave_on_record``, as
    ``_on_leave``)."""
    fell_at = state.late_raised_at if state.late_open else None
    if fell_at is None:
        return None
    data = _base(state, now, False)
    data.update(checked_in_at=iso(at), fell_at=iso(fell_at))
    key = late_clock_in_key(state)
    if at < fell_at:
        return withdrawal(state.shift_id, key, ALERT_LATE_CLOCK_IN, "checked_in_before", now, data)
    approved = state.excused_approved_at
    if state.excused_by is None or approved is None or approved > fell_at:
        return None
    then = state.excused_then
    due = _excused_due(state, then, policy)
    if due is not None and (due <= fell_at or at > due):
        return None
    data.update(
        leave_id=state.excused_by,
        approved_at=iso(approved),
        excused_until=opt_iso(then),
    )
    return withdrawal(state.shift_id, key, ALERT_LATE_CLOCK_IN, "leave_on_record", now, data)
