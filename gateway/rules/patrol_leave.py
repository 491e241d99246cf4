"""Checkpoints reported missed while the guard was on a leave typed in only afterwards.

A window the guard spent wholly on an approved leave is excused, not missed
(``PatrolState.on_leave``), when the leave is on record as the window runs out. A leader who
approved it by phone and types it in later finds ``alert.checkpoint_missed`` raised meanwhile:
the leave, approved by the time the window ran out, withdraws it (``alert.withdrawn``, reason
``leave_on_record``), and a round still under way counts the checkpoint excused. A round
already completed keeps the counts its ``patrol.round_completed`` gave (they are final); the
ledger takes the withdrawal off its missed checkpoints. A leave approved after the window ran
out withdraws nothing: the alert was right when raised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .entries import iso
from .events import Json, RuleEvent, event_key, withdrawal
from .patrol_events import ALERT_CHECKPOINT_MISSED
from .patrol_state import MissedCheckpoint, PatrolState

__all__ = ["LeaveEntered", "withdraw_missed"]


@dataclass(frozen=True, slots=True)
class LeaveEntered:
    """A leave of the guard entered now: ``[starts_at, until)`` (its end, or its cancellation
    if sooner), approved at ``approved_at``."""

    leave_id: str
    starts_at: datetime
    until: datetime
    approved_at: datetime

    def excused(self, missed: MissedCheckpoint) -> bool:
        """Whether this leave, on record then, would have excused the checkpoint."""
        return (
            self.approved_at <= missed.window_end
            and self.starts_at <= missed.window_start
            and missed.window_end <= self.until
        )


def withdraw_missed(
    state: PatrolState, leave: LeaveEntered, now: datetime
) -> tuple[PatrolState, list[RuleEvent]]:
    """``state`` without the missed alerts ``leave`` excuses (their visits in rounds under way
    excused), and the ``alert.withdrawn`` of each, dated ``now``."""
    events: list[RuleEvent] = []
    for missed in state.missed:
        if not leave.excused(missed):
            continue
        alert_key = event_key(state.machine_id, ALERT_CHECKPOINT_MISSED, missed.episode)
        data: dict[str, Json] = {
            "guard_id": state.guard_id,
            "post_id": state.post_id,
            "site_id": state.site_id,
            "shift_id": state.shift_id,
            "route_id": state.route_id,
            "detected_at": iso(now),
            "leave_id": leave.leave_id,
            "approved_at": iso(leave.approved_at),
            "checkpoint_id": missed.checkpoint_id,
            "round_start": iso(missed.round_start),
            "window_start": iso(missed.window_start),
            "window_end": iso(missed.window_end),
        }
        withdrawn = withdrawal(
            state.machine_id, alert_key, ALERT_CHECKPOINT_MISSED, "leave_on_record", now, data
        )
        events.append(withdrawn)
        state = _excuse(state, missed)
    return state, events


def _excuse(state: PatrolState, missed: MissedCheckpoint) -> PatrolState:
    rounds = tuple(
        replace(
            rnd,
            visits=tuple(
                replace(v, missed_alerted=False, excused=True)
                if v.checkpoint_id == missed.checkpoint_id
                else v
                for v in rnd.visits
            ),
        )
        if rnd.started_at == missed.round_start
        else rnd
        for rnd in state.rounds
    )
    return replace(state, rounds=rounds, missed=tuple(m for m in state.missed if m is not missed))
