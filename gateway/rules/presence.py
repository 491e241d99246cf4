"""The presence rules (DOMAIN.md, articles 10.1 and 5.3) as a pure state machine per guard shift.

``step(state, input, now, policy) -> (state, events)`` is a pure function: the same state and
input give the same result, and nothing but its arguments is read (time comes from ``now``, the
injected clock's reading). The runtime persists the returned state with the events in one
transaction, and calls ``step(state, Tick(), now, policy)`` whenever ``now >= state.next_deadline``.

Ordering. Every input has a time of its own (a fix its device time, a report its filing time, a
leave its approval or cancellation time). Deadlines due by that time fire first, in time order,
because they happened before it; then the input is applied. A ``Tick`` fires everything due by
``now``. Deadlines are therefore decided on the clock even when a terminal is silent, and after a
restart the ones that passed fire marked ``late``: at once when a fix the broker kept for the
gateway reaches them, or on a tick once the broker had ``RESTART_GRACE_S`` to hand that backlog
over (a tick must not decide before the data that was waiting, nor a report or leave typed in
meanwhile). A terminal's blind-area upload, and the shift's end while a terminal is quiet,
hold them the same way (:mod:`gateway.rules.holds`).

Decisions, in the terms of ``SitePolicy``:

* a guard's devices are fused as :mod:`gateway.rules.tracks` says: order is kept per device; a
  departure is confirmed by one worn device's outside run (two fixes or more spanning
  ``departure_confirm_s``: one outside fix never confirms anything), an inside fix of another
  device does not undo it, and a device sitting still on the post meanwhile raises
  ``alert.device_left_behind``; a fix with UNCERTAIN membership changes no position (it still
  counts as data from the terminal); evidence from fixed equipment (a scan or punch with the
  guard's own tag, card or PIN) places him at the post;
* only a guard who has arrived can depart; a return needs inside evidence for
  ``return_confirm_s`` from a device that is with him (see ``departures.returns_with``); a
  candidate return that began by a deadline holds back that deadline's off-post alert;
* the unreported decision is taken at start + max(report_grace_s, departure_confirm_s), even
  when that falls after the shift end; a report or leave entered later whose own time covers
  the departure withdraws the alert (``alert.withdrawn``); a report covers the one departure
  it was made for (:mod:`gateway.rules.coverage`);
* overtime at start + verbal_report_limit_s, unless a leave covers that instant; a departure
  under a leave is limited by the leave's end instead (``alert.leave_overrun``), not twice;
  limits reached only after the shift end are not raised (inside the shift they were not);
* ``alert.leave_not_cancelled`` at return + leave_cancel_limit_s for a leave still not
  cancelled, even after the shift end (for a leave typed in after the return, not before
  report_grace_s after its entry: :mod:`gateway.rules.cancellations`);
* silence: no fix received for device_silent_s, counted from the shift start; after a silence,
  old data (a blind-area upload) is replayed first and ``presence.device_resumed`` follows it;
* the shift end stops tracking (the guard is off duty; it waits for a quiet terminal's upload,
  ``holds.end_wait``): a departure still open then is leaving early (``alert.left_early``,
  unless a leave reaches the end or it began within ``early_leave_tolerance_s`` of it); the
  machine closes once nothing is owed;
* a check-out (签退) at the post's terminal punched before the end opens a departure at the
  punch, which the rules above then decide (:mod:`gateway.rules.check_out`).

A fix that arrives after a departure was confirmed, dated before the confirmation, starts a return
instead of undoing the departure. A leave cancelled while the guard is still out keeps covering
that outing. ``alert.sos`` is not decided here: :mod:`gateway.rules.alarms` raises it from every
message, whatever its position or the guard's duty.

Besides the catalogue types, two events carry resolutions: ``presence.arrived`` (his first
inside evidence in the shift, confirmed as a return is: :mod:`gateway.rules.arrival`; ends
``alert.absent_at_shift_start``) and ``leave.cancelled`` (a leave used this
shift was cancelled, in time or not; ends ``alert.leave_not_cancelled``).
"""

from __future__ import annotations

from datetime import datetime

from gateway.clock import utc
from gateway.policy import SitePolicy
from geofence.membership import Membership

from . import check_out, devices, holds, silence
from .arrival import after_the_end, arrive, placed_by
from .cancellations import apply_cancel, owe_after_entry
from .copying import replace
from .deadlines import pending_deadlines
from .departures import (
    apply_late_leave,
    apply_late_report,
    confirm_departure,
    held_inside,
    note_left_behind,
    returns_with,
)
from .entries import FixEvidence, Leave, Report
from .events import (
    BACKFILL_AFTER_S,
    RuleEvent,
)
from .excusals import withdraw_excused
from .handover import take_over
from .holds import note_backfill
from .inputs import (
    DevicesAssigned,
    DutyContinued,
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
from .tracks import DeviceTrack, observe

__all__ = ["due_sooner", "scheduled", "step"]


def step(
    state: PresenceState, event: RuleInput, now: datetime, policy: SitePolicy
) -> tuple[PresenceState, list[RuleEvent]]:
    """Apply one input at clock time ``now``; return the new state and the events, in order.

    After the shift end (``ended``) fixes are not judged (the guard is off duty): one dated
    inside his duty that places him on post before his absence fell, or back from the outing
    open at the end before the end, only withdraws the alerts it shows wrong
    (``arrival.after_the_end``). A closed state takes only those, reports,
    leaves and cancellations (which may withdraw an alert, or resolve a not-cancelled one) and
    returns unchanged for anything else. The roster's devices (``DevicesAssigned``) fire
    nothing (``gateway.rules.devices``).
    """
    now = utc(now)
    if isinstance(event, FixObserved) and state.ended:
        return after_the_end(state, event, now, policy)
    if isinstance(event, FixObserved) and _ignored(state, event):
        return state, []
    if state.closed and not isinstance(event, ReportFiled | LeaveApproved | LeaveCancelled):
        return state, []
    if isinstance(event, DevicesAssigned):
        return devices.assign(state, event, now, policy)
    run = Run(state, now, policy)
    # A relief told again (the roster read after a restart) while the machine waits for a
    # quiet terminal's upload is a tick: its END, at the relief, fires as the end's wait lets it.
    if isinstance(event, Tick) or (
        isinstance(event, ShiftEnded) and state.relieved_at is not None and not state.ended
    ):
        for device_id in holds.due_for_release(run.state, now):
            _release(run, device_id)
        run.fire_due(run.tick_horizon())
    elif isinstance(event, FixObserved):
        _on_fix_or_hold(run, event)
    elif isinstance(event, ReportFiled):
        run.fire_due(min(utc(event.reported_at), run.tick_horizon()))
        _on_report(run, event)
    elif isinstance(event, LeaveApproved):
        run.fire_due(min(utc(event.approved_at), run.tick_horizon()))
        _on_leave(run, event)
    elif isinstance(event, LeaveCancelled):
        run.fire_due(min(utc(event.cancelled_at), run.tick_horizon()))
        apply_cancel(run, event)
    elif isinstance(event, DutyContinued):
        run.fire_due(run.tick_horizon())
        take_over(run, event)
    elif isinstance(event, ShiftEnded):
        for device_id in holds.due_for_release(run.state, run.state.duty_end):
            _release(run, device_id)
        ended_at = now if event.ended_at is None else min(utc(event.ended_at), now)
        run.fire_due(ended_at)
        run.relieved(ended_at, wait_for_upload=True)
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(f"not a presence rule input: {event!r}")
    return run.finish()


def scheduled(state: PresenceState, now: datetime, policy: SitePolicy) -> PresenceState:
    """A new state with its first real deadline, as a ``Tick`` at ``now`` that finds nothing
    due would leave it (``next_deadline`` the earliest pending, ``stepped_at`` ``now``), without
    the tick: ``PresenceState.start`` knows no policy, so it waits for the shift start.

    Unchanged when the state has stepped already, or when a deadline is due by ``now`` (a
    machine started after its grace, the gateway having been down): its first tick fires that
    deadline, late when it is, as it would have."""
    now = utc(now)
    if state.stepped_at is not None or state.closed:
        return state
    run = Run(state, now, policy)
    pending = run.pending()
    if pending and pending[0].due <= now:
        return state
    return run.finish()[0]


def due_sooner(state: PresenceState, policy: SitePolicy) -> bool:
    """Whether ``policy`` puts a deadline of ``state`` before its ``next_deadline``: the state
    last stepped under other limits (a site load changed them since), and waiting for the
    deadline it holds would fire late. Its next ``Tick`` sets the deadline again (and fires it
    when it is due already). A deadline the new limits put later needs nothing: the tick at the
    old one finds nothing due and sets the new one."""
    if state.closed:
        return False
    pending = pending_deadlines(state, policy)
    if not pending:
        return False
    return state.next_deadline is None or pending[0].due < state.next_deadline


def _ignored(state: PresenceState, fix: FixObserved) -> bool:
    """A fix from a device not on this shift, or older than the last one processed of its own
    device (order is kept per device: the runtime keeps the old fix as history; replaying it
    would rewrite decisions already taken). Evidence from fixed equipment older than the newest
    input is history too."""
    if fix.device_id not in state.device_ids:
        return True
    fix_time = utc(fix.fix_time)
    if not fix.worn:
        return state.last_fix_time is not None and fix_time < state.last_fix_time
    track = state.track(fix.device_id)
    return track is not None and fix_time < track.last_fix_time


def _on_fix_or_hold(run: Run, fix: FixObserved) -> None:
    """Apply ``fix``, after its device's fix held back if it is newer (``gateway.rules.holds``);
    or hold it back, a fix after a gap in its device's fixes. Another device's fix (a badge
    heard all along) leaves a held one waiting."""
    held_fix = run.state.held_of(fix.device_id) if run.state.held else None
    if held_fix is not None and utc(fix.fix_time) > held_fix.evidence.fix_time:
        _release(run, fix.device_id)
        if run.state.ended or _ignored(run.state, fix):
            return
    if holds.holds_back(run.state, fix):
        run.state = holds.hold_back(run.state, fix)
        _heard(run, run.state.held[-1].evidence)
        return
    _on_fix(run, fix)


def _heard(run: Run, evidence: FixEvidence) -> None:
    """The silent terminal heard: at once when ``evidence`` is live; when it is old (an
    upload, a backlog the broker kept), once the events it reveals are out (``resume_pending``,
    as ``_note_heard``)."""
    if run.state.silent_since is None:
        return
    if (evidence.received_at - evidence.fix_time).total_seconds() > BACKFILL_AFTER_S:
        if run.state.resume_pending is None:
            run.state = replace(run.state, resume_pending=evidence)
        return
    run.state = replace(run.state, resume_pending=None)
    silence.resumed(run, evidence)


def _release(run: Run, device_id: str) -> None:
    if run.state.held_of(device_id) is None:
        return  # dropped by an end an earlier release fired (fires_until keeps it from now)
    run.state, fix = holds.released(run.state, device_id)
    if not (run.state.ended or _ignored(run.state, fix)):
        _on_fix(run, fix)


def _on_fix(run: Run, fix: FixObserved) -> None:
    fix_time = utc(fix.fix_time)
    run.revealed_by = fix_time
    evidence = FixEvidence.of(fix)
    run.state = note_backfill(run.state, fix_time, run.now, run.policy)
    _note_outside_evidence(run, fix, evidence)
    until = min(fix_time, run.now)
    if run.state.held:  # asked for every fix: the call only when it may cap
        until = holds.fires_until(run.state, fix.device_id, until)
    run.fire_due(until)
    if run.state.ended:
        return
    track = None
    if fix.worn:
        known, arriving = run.state.track(fix.device_id), run.state.arrived_at is None
        track = observe(known, evidence, fix.membership, run.policy, arriving=arriving)
    _note_heard(run, evidence, track)
    if fix.checks_out and check_out.leaves_before_the_end(run.state, fix_time, run.policy):
        check_out.check_out(run, evidence)
    elif fix.membership is Membership.INSIDE:
        _inside(run, evidence, fixed=not fix.worn)
    elif fix.membership is Membership.OUTSIDE:
        _outside(run, evidence)
    dep = run.state.departure
    if dep is not None and dep.leave_id is None and run.state.leaves:
        # A leave typed in while his terminal was in a blind area takes the outing the upload
        # shows over once its fixes reach that moment, as typing it did live (``_on_leave``).
        run.attach_leave(dep.started_at, approved_by=fix_time, entered_by=fix_time)
    # A fix that confirmed a departure, or reset a candidate return, may leave decisions due.
    run.fire_due(until)


def _note_outside_evidence(run: Run, fix: FixObserved, evidence: FixEvidence) -> None:
    """Record an outside fix as the departure's latest evidence before deadlines fire, so an
    alert due by its time carries it."""
    state = run.state
    if fix.membership is Membership.OUTSIDE and fix.worn and state.departure is not None:
        run.state = replace(state, departure=replace(state.departure, last_fix=evidence))


def _note_heard(run: Run, evidence: FixEvidence, track: DeviceTrack | None) -> None:
    """Record that the terminal was heard and, for a worn device, its new ``track``, in one copy
    of the state (the copy is most of what an ordinary fix costs here)."""
    state = run.state
    received = evidence.received_at
    if state.last_received_at is not None and state.last_received_at > received:
        received = state.last_received_at
    newest = evidence.fix_time
    if state.last_fix_time is not None and state.last_fix_time > newest:
        newest = state.last_fix_time
    if track is None:
        run.state = replace(
            state,
            last_fix_time=newest,
            last_received_at=received,
            last_device_id=evidence.device_id,
        )
    else:
        run.state = replace(
            state,
            last_fix_time=newest,
            last_received_at=received,
            last_device_id=evidence.device_id,
            tracks=state.tracks_with(track),
        )
    _heard(run, evidence)


def _inside(run: Run, evidence: FixEvidence, *, fixed: bool) -> None:
    state = run.state
    if state.arrived_at is None:
        # A worn device's inside run waits for ``deadlines.arrival_due``; a scan places him.
        if fixed:
            arrive(run, placed_by(state, evidence))
        return
    if fixed:
        # The guard stood at the post at this instant: runs begun before it were wrong.
        run.state = replace(
            state,
            tracks=tuple(
                t.ended_run()
                if t.run_first is not None and t.run_first.fix_time <= evidence.fix_time
                else t
                for t in state.tracks
            ),
        )
    dep = run.state.departure
    if dep is None:
        return
    if not dep.left_behind or evidence.device_id not in dep.left_behind:
        note_left_behind(run)
    dep = run.state.departure
    assert dep is not None
    if dep.inside_first is None and returns_with(run.state, dep, evidence, fixed=fixed):
        run.state = replace(run.state, departure=replace(dep, inside_first=evidence))


def _outside(run: Run, evidence: FixEvidence) -> None:
    state = run.state
    if state.arrived_at is None:
        return
    dep = state.departure
    if dep is not None:
        track = state.track(evidence.device_id)
        away = dep.away_devices
        if track is not None and track.run_confirms(run.policy) and track.device_id not in away:
            away = (*away, track.device_id)
        run.state = replace(state, departure=replace(dep, inside_first=None, away_devices=away))
        return
    track = state.track(evidence.device_id)
    if track is not None and track.run_confirms(run.policy) and not held_inside(state, track):
        confirm_departure(run, track)


def _on_report(run: Run, report: ReportFiled) -> None:
    state = run.state
    if any(r.report_id == report.report_id for r in state.reports):
        return
    reported_at = utc(report.reported_at)
    entered_at = run.now if report.entered_at is None else utc(report.entered_at)
    record = Report(
        report_id=report.report_id,
        reported_at=reported_at,
        expected_return_at=None
        if report.expected_return_at is None
        else utc(report.expected_return_at),
        destination=report.destination,
        reason=report.reason,
        entered_at=entered_at if entered_at > reported_at else None,
    )
    run.state = replace(state, reports=(*state.reports, record))
    apply_late_report(run, record)


def _on_leave(run: Run, leave: LeaveApproved) -> None:
    known = run.state.leave(leave.leave_id)
    approved_at = utc(leave.approved_at)
    entered = run.now if known is None else known.entered
    record = Leave(
        leave_id=leave.leave_id,
        starts_at=utc(leave.starts_at),
        ends_at=utc(leave.ends_at),
        approved_by=leave.approved_by,
        approved_at=approved_at,
        cancelled_at=None if known is None else known.cancelled_at,
        entered_at=entered if entered > approved_at else None,
    )
    run.state = run.state.with_leave(record)
    apply_late_leave(run, record)
    withdraw_excused(run, record)
    owe_after_entry(run, record)
    dep = run.state.departure
    if dep is not None and not run.state.ended:
        run.attach_leave(dep.started_at)
