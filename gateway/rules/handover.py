"""A double shift (连班) is one duty: what stands at the change is handed on.

A guard on the night shift 20:00-08:00 and the day shift 08:00-20:00 at the same post has not
left early when he is out at 08:00, and the day shift does not find him absent at its start:
his duty goes on. At its end the night shift's machine hands on what stands (a ``Handover`` in
``PresenceState.handover``, ``handed_at_end``): that he was on duty (he had arrived), the
outing under way if any, and his terminal's silence if it is quiet. The day shift's machine
takes it when it starts (``DutyContinued``, fed by ``gateway.pipeline.presence_stage``):

* he is on duty from its start (``presence.arrived`` at it, with ``continued_from``): the
  daily ledger's time on post runs on across the change;
* the outing is its own, judged from when it began: the unreported decision if not taken yet,
  the 15 minutes off post, the leave's end, his return and the cancellation (销假) a leave then
  owes;
* a quiet terminal is the same silence: no second ``alert.device_silent``, and the terminal
  heard again resolves the night's.

A guard who never came in the night is the day shift's to find absent, as ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .copying import replace
from .entries import Departure, iso
from .events import PRESENCE_ARRIVED, Json
from .inputs import DutyContinued
from .silences import Silence

if TYPE_CHECKING:
    from .machine import Run
    from .state import PresenceState

__all__ = ["Handover", "handed_at_end", "settled", "take_over"]


@dataclass(frozen=True, slots=True)
class Handover:
    """What a shift hands on at its end to the next at its post: whether the guard was on
    duty (``on_post``: he had arrived), the outing under way (``departure``) and the silence
    of his terminal still quiet (``silence``, its alert raised by this shift)."""

    on_post: bool
    departure: Departure | None = None
    silence: Silence | None = None

    def to_json(self) -> dict[str, Json]:
        return {
            "on_post": self.on_post,
            "departure": None if self.departure is None else self.departure.to_json(),
            "silence": None if self.silence is None else self.silence.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Handover:
        dep, silence = data.get("departure"), data.get("silence")
        return cls(
            on_post=bool(data["on_post"]),
            departure=None if dep is None else Departure.from_json(dep),
            silence=None if silence is None else Silence.from_json(silence),
        )


def handed_at_end(state: PresenceState) -> PresenceState:
    """``state`` at its scheduled end when the next shift at the post continues it
    (``PresenceState.continued``): what stands is handed on (``handover``), and the outing
    under way is no longer this shift's to decide."""
    dep = state.departure
    quiet = state.silent_since
    silence = next((s for s in state.silences if s.since == quiet), None) if quiet else None
    handover = Handover(
        on_post=state.arrived_at is not None,
        departure=None if dep is None else replace(dep, inside_first=None),
        silence=silence,
    )
    return replace(state, departure=None, handover=handover)


def take_over(run: Run, handed: DutyContinued) -> None:
    """Take over what the shift before handed on (see the module docstring): nothing when the
    guard was not on duty then, or was seen on post in this shift already, or it has ended."""
    state = run.state
    handover = handed.handover
    if not handover.on_post or state.arrived_at is not None or state.ended:
        return
    start = state.expected_at
    data: dict[str, Json] = {
        "arrived_at": iso(start),
        "shift_start": iso(state.shift_start),
        "after_shift_start_s": 0.0,
        "continued_from": handed.previous_shift_id,
    }
    state = replace(state, arrived_at=start, absent_checked=True)
    dep = handover.departure
    if dep is not None:
        reports = {r.report_id for r in state.reports}
        leaves = {lv.leave_id for lv in state.leaves}
        state = replace(
            state,
            departure=dep,
            reports=(*state.reports, *(r for r in handed.reports if r.report_id not in reports)),
            leaves=(*state.leaves, *(lv for lv in handed.leaves if lv.leave_id not in leaves)),
        )
        data.update(
            departure_id=dep.departure_id,
            away_since=iso(dep.started_at),
            report_id=dep.report_id,
            leave_id=dep.leave_id,
        )
    silence = handover.silence
    if silence is not None and state.silent_since is None:
        silence = replace(silence, shift_id=silence.shift_id or handed.previous_shift_id)
        state = replace(state, silent_since=silence.since, silences=(*state.silences, silence))
        data.update(silent_since=iso(silence.since))
    run.state = state
    run.emit(PRESENCE_ARRIVED, start, iso(state.shift_start), data, device_id=state.last_device_id)


def settled(state: PresenceState, *, taken: bool) -> PresenceState:
    """``state``, the shift that handed on, once the next shift had its turn: the handover is
    done with. Not ``taken`` (the guard was seen on post there first, a restart having held
    this shift's end back), an outing handed on is this shift's again, an outing open at its
    end: a closed machine is reopened while its unreported decision is still owed (the next
    ``Tick`` schedules it)."""
    handover = state.handover
    if handover is None:
        return state
    dep = handover.departure
    if taken or dep is None:
        return replace(state, handover=None)
    closed = state.closed and dep.unreported_done
    return replace(state, departure=dep, handover=None, closed=closed)
