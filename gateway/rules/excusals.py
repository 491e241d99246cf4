"""Alerts that a leave typed in late shows were wrong.

A leader may approve a leave by phone before the shift and type it in hours later. Entered
then, a leave approved by the time an ``alert.absent_at_shift_start`` or ``alert.device_silent``
fell, and under which that alert would not have fallen when it did (the absence and the silence
count from the leave's end, ``gateway.rules.deadlines``), withdraws it: ``alert.withdrawn``,
reason ``leave_on_record``, as it withdraws the unreported and overtime alerts of the
departures it covers (``gateway.rules.departures.apply_late_leave``). A leave approved after
the alert fell withdraws nothing: the alert was right when it was raised.

The machine then waits for the deadline the leave sets: a guard still not on post, or a
terminal still quiet, after the leave and its grace is raised again then, under a key of its
own. An alert stands when what it said held past the leave and its grace anyway: the guard came
on post (or the terminal was heard) only after them, or the leave is entered after them with
the guard still away (or the terminal still quiet). It fell early, not wrongly.

An extension (续假, a second leave running on from the first) approved before the first
ended, typed in after its ``alert.leave_overrun`` fell, withdraws that overrun the same way.

A cancellation (销假) typed in late, and the cancellation owed by a leave typed in after it was
used, are decided in :mod:`gateway.rules.cancellations`.
"""

from __future__ import annotations

from datetime import datetime

from .copying import replace
from .coverage import following_leave
from .deadlines import absence_due, silence_due
from .entries import Departure, Leave, iso
from .events import (
    ALERT_ABSENT_AT_SHIFT_START,
    ALERT_DEVICE_SILENT,
    ALERT_LEAVE_OVERRUN,
    Json,
    event_key,
)
from .machine import Run
from .offpost import overrun_episode

__all__ = ["withdraw_excused"]


def withdraw_excused(run: Run, leave: Leave) -> None:
    """Withdraw the absence and silence alerts of ``run``'s state that ``leave`` (already on
    record in it) shows were wrong; see the module docstring."""
    why: dict[str, Json] = {"leave_id": leave.leave_id, "approved_at": iso(leave.approved_at)}
    _absence(run, leave, why)
    _silences(run, leave, why)
    _extension(run, leave, why)


def _absence(run: Run, leave: Leave, why: dict[str, Json]) -> None:
    state = run.state
    raised = state.absent_raised_at
    if raised is None or leave.approved_at > raised:
        return
    due = absence_due(state, run.policy)
    if due <= raised or not _excused(state.arrived_at, due, run.now, state.duty_end):
        return
    key = event_key(state.shift_id, ALERT_ABSENT_AT_SHIFT_START, state.absence_episode)
    # Not yet on post: the absence is decided again at the leave's end (a new deadline).
    run.state = replace(
        state,
        absent_raised_at=None,
        absences_withdrawn=state.absences_withdrawn + 1,
        absent_checked=state.arrived_at is not None,
        absent_open=False,
    )
    run.withdraw(key, ALERT_ABSENT_AT_SHIFT_START, "leave_on_record", dict(why))


def _silences(run: Run, leave: Leave, why: dict[str, Json]) -> None:
    for silence in run.state.silences:
        if leave.approved_at > silence.raised_at:
            continue
        due = silence_due(run.state, silence.since, run.policy)
        if due <= silence.raised_at:
            continue
        if not _excused(silence.resumed_at, due, run.now, run.state.duty_end):
            continue
        state = run.state
        current = state.silent_since == silence.since
        run.state = replace(
            state,
            silences=tuple(s for s in state.silences if s is not silence),
            # Still quiet: the silence is decided again after the leave (a new deadline).
            silent_since=None if current else state.silent_since,
        )
        key = silence.alert_key(state.shift_id)
        data: dict[str, Json] = {"silent_since": iso(silence.since), **why}
        run.withdraw(key, ALERT_DEVICE_SILENT, "leave_on_record", data)


def _extension(run: Run, leave: Leave, why: dict[str, Json]) -> None:
    """An extension (续假) typed in after the leave it extends ran out with the guard still
    out: the ``alert.leave_overrun`` raised then is withdrawn when he was back by the
    extension's end (or is still within it), and the outing goes on under the extension: a
    new overrun at its end, a cancellation owed for it."""
    state = run.state
    for dep in state.departures:
        extended = state.leave(dep.leave_id)
        if not dep.overrun_done or extended is None:
            continue
        after = following_leave(state.leaves, extended.leave_id, extended.ends_at, run.policy)
        if after is None or after.leave_id != leave.leave_id:
            continue
        key = event_key(state.shift_id, ALERT_LEAVE_OVERRUN, overrun_episode(state, dep))
        if key in dep.withdrawn or not _excused(
            dep.returned_at, after.ends_at, run.now, state.duty_end
        ):
            continue
        run.withdraw(
            key,
            ALERT_LEAVE_OVERRUN,
            "leave_on_record",
            {
                "departure_id": dep.departure_id,
                **why,
            },
            device_id=dep.first_fix.device_id,
        )
        moved = replace(
            dep,
            leave_id=after.leave_id,
            withdrawn=(*dep.withdrawn, key),
            open_alerts=tuple(k for k in dep.open_alerts if k != key),
            overrun_done=dep.returned_at is not None,
        )
        _keep(run, moved, extended.leave_id)


def _keep(run: Run, dep: Departure, extended_id: str) -> None:
    """Store ``dep`` (the open departure, or an ended one), its return's pending cancellation
    moved to the extension it came back from."""
    state = run.state
    # An open departure has no pending cancellation yet: its return will ask the extension's.
    pending = tuple(
        replace(p, leave_id=dep.leave_id)
        if p.departure_id == dep.departure_id and p.leave_id == extended_id and p.alert_key is None
        else p
        for p in state.pending_cancels
    )
    run.state = replace(state.with_departure(dep), pending_cancels=pending)


def _excused(ended_at: datetime | None, due: datetime, now: datetime, duty_end: datetime) -> bool:
    """Whether a condition (absence, silence, an outing past a leave) that ended at
    ``ended_at`` (``None``: it still holds at ``now``) is wholly excused by a leave that puts
    its deadline at ``due``: ``due`` falls after his duty (the shift's end, or a relief before
    it: no alert at all), or the condition ended by then, or it still holds but ``due`` is not
    yet reached. Past ``due`` it was the guard's own, and the alert raised early stands: it is
    late in coming, not wrong."""
    if due > duty_end:
        return True
    if ended_at is None:
        return now < due
    return ended_at <= due
