"""Absence and silence alerts that a leave entered late shows were wrong.

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
"""

from __future__ import annotations

from datetime import datetime

from .copying import replace
from .deadlines import absence_due, silence_due
from .entries import Leave, iso
from .events import ALERT_ABSENT_AT_SHIFT_START, ALERT_DEVICE_SILENT, Json, event_key
from .machine import Run

__all__ = ["withdraw_excused"]


def withdraw_excused(run: Run, leave: Leave) -> None:
    """Withdraw the absence and silence alerts of ``run``'s state that ``leave`` (already on
    record in it) shows were wrong; see the module docstring."""
    state = run.state
    if state.absent_raised_at is None and not state.silences:
        return
    why: dict[str, Json] = {"leave_id": leave.leave_id, "approved_at": iso(leave.approved_at)}
    _absence(run, leave, why)
    _silences(run, leave, why)


def _absence(run: Run, leave: Leave, why: dict[str, Json]) -> None:
    state = run.state
    raised = state.absent_raised_at
    if raised is None or leave.approved_at > raised:
        return
    due = absence_due(state, run.policy)
    if due <= raised or not _excused(state.arrived_at, due, run.now, state.shift_end):
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
        if not _excused(silence.resumed_at, due, run.now, run.state.shift_end):
            continue
        state = run.state
        current = state.silent_since == silence.since
        run.state = replace(
            state,
            silences=tuple(s for s in state.silences if s is not silence),
            # Still quiet: the silence is decided again after the leave (a new deadline).
            silent_since=None if current else state.silent_since,
        )
        key = event_key(state.shift_id, ALERT_DEVICE_SILENT, iso(silence.since))
        data: dict[str, Json] = {"silent_since": iso(silence.since), **why}
        run.withdraw(key, ALERT_DEVICE_SILENT, "leave_on_record", data)


def _excused(ended_at: datetime | None, due: datetime, now: datetime, shift_end: datetime) -> bool:
    """Whether a condition (absence, silence) that ended at ``ended_at`` (``None``: it still
    holds at ``now``) is wholly excused by a leave that puts its deadline at ``due``: ``due``
    falls after the shift (no alert at all), or the condition ended by then, or it still holds
    but ``due`` is not yet reached. Past ``due`` it was the guard's own, and the alert raised
    early stands: it is late in coming, not wrong."""
    if due > shift_end:
        return True
    if ended_at is None:
        return now < due
    return ended_at <= due
