"""The presence rules (DOMAIN.md, articles 10.1 and 5.3) as a pure state machine per guard shift.

``step(state, input, now, policy) -> (state, events)`` is a pure function: the same state and
input give the same result, and nothing but its arguments is read (time comes from ``now``, the
injected clock's reading). The runtime persists the returned state with the events in one
transaction, and calls ``step(state, Tick(), now, policy)`` whenever ``now >= state.next_deadline``.

Ordering. Every input has a time of its own (a fix its device time, a report its filing time, a
leave its approval or cancellation time). Deadlines due by that time fire first, in time order,
because they happened before it; then the input is applied. A ``Tick`` fires everything due by
``now``. Deadlines are therefore decided on the clock even when a terminal is silent, and after a
restart the ones that passed fire at once on the next step, marked ``late``.

Decisions, in the terms of ``SitePolicy``:

* a fix with UNCERTAIN membership changes no position (it still counts as data from the
  terminal, and its SOS alarm is honoured); a fix older than the last one processed is ignored;
* departure: outside with no inside fix in between for ``departure_confirm_s`` of device time,
  confirmed by a later fix or on the clock; only a guard who has arrived can depart;
* return: inside with no outside fix in between for ``return_confirm_s``; a candidate return
  that began by a deadline holds back that deadline's off-post alert until it is settled;
* the unreported decision is taken at start + max(report_grace_s, departure_confirm_s), final;
* overtime at start + verbal_report_limit_s, unless a leave covers that instant; a departure
  under a leave is limited by the leave's end instead (``alert.leave_overrun``), not twice;
* ``alert.leave_not_cancelled`` at return + leave_cancel_limit_s for a leave still not cancelled;
* silence: no fix received for device_silent_s, counted from the shift start;
* the shift end closes the machine: deadlines due after it never fire, an open departure ends
  without a ``presence.returned`` (the guard is off duty), alerts already open stay open.

Decisions are final: a report or leave that reaches the gateway after the decision it would have
changed does not withdraw the alert (a person resolves it); a fix that arrives after a departure
was confirmed on the clock, dated before the confirmation, starts a return instead of undoing the
departure. A leave cancelled while the guard is still out keeps covering that outing.

Besides the catalogue types, two events carry resolutions: ``presence.arrived`` (first fix inside
in the shift; ends ``alert.absent_at_shift_start``) and ``leave.cancelled`` (a leave used this
shift was cancelled, in time or not; ends ``alert.leave_not_cancelled``). An ``alert.sos`` is
never resolved by the rules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gateway.clock import utc
from gateway.policy import SitePolicy
from gateway.records import Alarm
from geofence.membership import Membership

from .entries import FixEvidence, Leave, Report, iso
from .events import (
    ALERT_ABSENT_AT_SHIFT_START,
    ALERT_DEVICE_SILENT,
    ALERT_SOS,
    LEAVE_CANCELLED,
    PRESENCE_ARRIVED,
    PRESENCE_DEVICE_RESUMED,
    RuleEvent,
    event_key,
)
from .inputs import (
    FixObserved,
    LeaveApproved,
    LeaveCancelled,
    ReportFiled,
    RuleInput,
    ShiftEnded,
    Tick,
)
from .machine import Run
from .state import PresenceState

__all__ = ["step"]


def step(
    state: PresenceState, event: RuleInput, now: datetime, policy: SitePolicy
) -> tuple[PresenceState, list[RuleEvent]]:
    """Apply one input at clock time ``now``; return the new state and the events, in order.

    A closed state (past the shift end) returns unchanged with no events.
    """
    now = utc(now)
    if state.closed or (isinstance(event, FixObserved) and _ignored(state, event)):
        return state, []
    run = Run(state, now, policy)
    if isinstance(event, Tick):
        run.fire_due(now)
    elif isinstance(event, FixObserved):
        _on_fix(run, event)
    elif isinstance(event, ReportFiled):
        run.fire_due(min(utc(event.reported_at), now))
        _on_report(run, event)
    elif isinstance(event, LeaveApproved):
        run.fire_due(min(utc(event.approved_at), now))
        _on_leave(run, event)
    elif isinstance(event, LeaveCancelled):
        run.fire_due(min(utc(event.cancelled_at), now))
        _on_cancel(run, event)
    elif isinstance(event, ShiftEnded):
        run.fire_due(now)
        run.close()
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(f"not a presence rule input: {event!r}")
    return run.finish()


def _ignored(state: PresenceState, fix: FixObserved) -> bool:
    """A fix from a terminal not on this shift, or older than the last one processed (the
    runtime keeps it as history; replaying it here would rewrite decisions already taken)."""
    if fix.device_id not in state.device_ids:
        return True
    return state.last_fix_time is not None and utc(fix.fix_time) < state.last_fix_time


def _on_fix(run: Run, fix: FixObserved) -> None:
    fix_time = utc(fix.fix_time)
    run.revealed_by = fix_time
    evidence = FixEvidence.of(fix)
    _note_outside_evidence(run, fix, evidence)
    until = min(fix_time, run.now)
    run.fire_due(until)
    if run.state.closed:
        return
    _note_heard(run, evidence)
    _note_alarms(run, fix, evidence)
    if fix.membership is Membership.INSIDE:
        _inside(run, evidence)
    elif fix.membership is Membership.OUTSIDE:
        _outside(run, evidence)
    # A fix that reset a candidate return may leave an off-post alert already due.
    run.fire_due(until)


def _note_outside_evidence(run: Run, fix: FixObserved, evidence: FixEvidence) -> None:
    """Record an outside fix as the latest evidence before deadlines fire, so a departure it
    confirms, or an alert due by its time, carries it."""
    if fix.membership is not Membership.OUTSIDE:
        return
    state = run.state
    if state.departure is not None:
        run.state = replace(state, departure=replace(state.departure, last_fix=evidence))
    elif state.outside_first is not None:
        run.state = replace(state, outside_last=evidence)


def _note_heard(run: Run, evidence: FixEvidence) -> None:
    state = run.state
    received = evidence.received_at
    if state.last_received_at is not None and state.last_received_at > received:
        received = state.last_received_at
    run.state = replace(
        state,
        last_fix_time=evidence.fix_time,
        last_received_at=received,
        last_device_id=evidence.device_id,
    )
    since = state.silent_since
    if since is None:
        return
    run.state = replace(run.state, silent_since=None)
    silent_key = event_key(state.shift_id, ALERT_DEVICE_SILENT, iso(since))
    # Resuming is about hearing from the terminal again, so its time is the reception time.
    run.emit(
        PRESENCE_DEVICE_RESUMED,
        evidence.received_at,
        iso(since),
        {
            "silent_since": iso(since),
            "silent_s": (evidence.received_at - since).total_seconds(),
            "fix": evidence.to_json(),
        },
        resolves=(silent_key,),
        device_id=evidence.device_id,
    )


def _note_alarms(run: Run, fix: FixObserved, evidence: FixEvidence) -> None:
    """One ``alert.sos`` per episode: consecutive fixes carrying SOS; a fix without it ends the
    episode. An SOS is never resolved automatically: a person must deal with it."""
    if Alarm.SOS not in fix.alarms:
        if run.state.sos_since is not None:
            run.state = replace(run.state, sos_since=None)
        return
    if run.state.sos_since is not None:
        return
    run.state = replace(run.state, sos_since=evidence.fix_time)
    run.emit(
        ALERT_SOS,
        evidence.fix_time,
        iso(evidence.fix_time),
        {"fix": evidence.to_json(), "membership": str(fix.membership)},
        alert=True,
        device_id=evidence.device_id,
    )


def _inside(run: Run, evidence: FixEvidence) -> None:
    state = run.state
    if state.arrived_at is None:
        resolves: tuple[str, ...] = ()
        if state.absent_open:
            resolves = (
                event_key(state.shift_id, ALERT_ABSENT_AT_SHIFT_START, iso(state.shift_start)),
            )
        run.state = replace(
            state, arrived_at=evidence.fix_time, absent_checked=True, absent_open=False
        )
        run.emit(
            PRESENCE_ARRIVED,
            evidence.fix_time,
            iso(state.shift_start),
            {
                "arrived_at": iso(evidence.fix_time),
                "shift_start": iso(state.shift_start),
                "after_shift_start_s": max(
                    0.0, (evidence.fix_time - state.shift_start).total_seconds()
                ),
                "fix": evidence.to_json(),
            },
            resolves=resolves,
            device_id=evidence.device_id,
        )
        return
    dep = state.departure
    if dep is not None:
        if dep.inside_first is None:
            run.state = replace(state, departure=replace(dep, inside_first=evidence))
        return
    if state.outside_first is not None:
        run.state = replace(state, outside_first=None, outside_last=None)


def _outside(run: Run, evidence: FixEvidence) -> None:
    state = run.state
    if state.arrived_at is None:
        return
    dep = state.departure
    if dep is not None:
        if dep.inside_first is not None:
            run.state = replace(state, departure=replace(dep, inside_first=None))
        return
    if state.outside_first is None:
        run.state = replace(state, outside_first=evidence, outside_last=evidence)


def _on_report(run: Run, report: ReportFiled) -> None:
    state = run.state
    if run.state.closed or any(r.report_id == report.report_id for r in state.reports):
        return
    record = Report(
        report_id=report.report_id,
        reported_at=utc(report.reported_at),
        expected_return_at=None
        if report.expected_return_at is None
        else utc(report.expected_return_at),
        destination=report.destination,
        reason=report.reason,
    )
    run.state = replace(state, reports=(*state.reports, record))
    dep = run.state.departure
    if dep is not None and not dep.unreported_done:
        run.attach_report()


def _on_leave(run: Run, leave: LeaveApproved) -> None:
    if run.state.closed:
        return
    known = run.state.leave(leave.leave_id)
    record = Leave(
        leave_id=leave.leave_id,
        starts_at=utc(leave.starts_at),
        ends_at=utc(leave.ends_at),
        approved_by=leave.approved_by,
        approved_at=utc(leave.approved_at),
        cancelled_at=None if known is None else known.cancelled_at,
    )
    run.state = run.state.with_leave(record)
    dep = run.state.departure
    if dep is not None:
        run.attach_leave(dep.started_at)


def _on_cancel(run: Run, cancel: LeaveCancelled) -> None:
    if run.state.closed:
        return
    leave = run.state.leave(cancel.leave_id)
    if leave is None or leave.cancelled_at is not None:
        return
    cancelled_at = utc(cancel.cancelled_at)
    run.state = run.state.with_leave(replace(leave, cancelled_at=cancelled_at))
    pending = next((p for p in run.state.pending_cancels if p.leave_id == leave.leave_id), None)
    if pending is None:
        # Cancelled while still out, or never used this shift: nothing was waiting for it.
        return
    run.state = replace(
        run.state,
        pending_cancels=tuple(p for p in run.state.pending_cancels if p is not pending),
    )
    limit_s = run.policy.leave_cancel_limit_s
    delay_s = (cancelled_at - pending.returned_at).total_seconds()
    run.emit(
        LEAVE_CANCELLED,
        cancelled_at,
        leave.leave_id,
        {
            "leave_id": leave.leave_id,
            "departure_id": pending.departure_id,
            "returned_at": iso(pending.returned_at),
            "cancelled_at": iso(cancelled_at),
            "delay_s": delay_s,
            "in_time": delay_s <= limit_s,
        },
        resolves=() if pending.alert_key is None else (pending.alert_key,),
    )
