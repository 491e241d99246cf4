"""A double shift (连班) is one duty: an outing under way at the change is handed on.

A guard on the night shift 20:00-08:00 and the day shift 08:00-20:00 at the same post who is
out at 08:00 has not left early, and the day shift does not find him absent at its start: his
duty goes on. The night shift's machine hands the outing over at its end
(``PresenceState.handover``, ``Run._finish_shift``) and the day shift's machine takes it when
it starts (``DutyContinued``, fed by ``gateway.pipeline.presence_stage``): the day shift then
judges it as an outing of its own, from when it began: the unreported decision if not taken
yet, the 15 minutes off post, the leave's end, his return and the cancellation (销假) a leave
then owes. The day shift counts him on duty from its start (``presence.arrived`` with
``continued_from``): the daily ledger's time on post runs on across the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .copying import replace
from .entries import iso
from .events import PRESENCE_ARRIVED
from .inputs import DutyContinued

if TYPE_CHECKING:
    from .machine import Run
    from .state import PresenceState

__all__ = ["settled", "take_over"]


def take_over(run: Run, handed: DutyContinued) -> None:
    """Take the outing ``handed`` over from the shift before: on duty from this shift's start
    (``presence.arrived`` at it, with ``continued_from`` and the outing's ``departure_id`` and
    ``away_since``), the outing open as this shift's, with the reports and leaves it was under.
    Nothing when the guard was seen on post in this shift already, or it has ended."""
    state = run.state
    if state.arrived_at is not None or state.departure is not None or state.ended:
        return
    dep = handed.departure
    known_reports = {r.report_id for r in state.reports}
    known_leaves = {lv.leave_id for lv in state.leaves}
    start = state.expected_at
    run.state = replace(
        state,
        arrived_at=start,
        absent_checked=True,
        departure=dep,
        reports=(*state.reports, *(r for r in handed.reports if r.report_id not in known_reports)),
        leaves=(*state.leaves, *(lv for lv in handed.leaves if lv.leave_id not in known_leaves)),
    )
    run.emit(
        PRESENCE_ARRIVED,
        start,
        iso(state.shift_start),
        {
            "arrived_at": iso(start),
            "shift_start": iso(state.shift_start),
            "after_shift_start_s": 0.0,
            "continued_from": handed.previous_shift_id,
            "departure_id": dep.departure_id,
            "away_since": iso(dep.started_at),
        },
        device_id=dep.last_fix.device_id,
    )


def settled(state: PresenceState, *, taken: bool) -> PresenceState:
    """``state``, the shift that handed an outing on, once the next shift had it: forgotten
    here when ``taken``; else (the guard was seen on post there first, a restart having held
    this shift's end back) it is this shift's again, an outing open at its end: a closed
    machine is reopened while its unreported decision is still owed (the next ``Tick``
    schedules it)."""
    dep = state.handover
    if dep is None:
        return state
    if taken:
        return replace(state, handover=None)
    closed = state.closed and dep.unreported_done
    return replace(state, departure=dep, handover=None, closed=closed)
