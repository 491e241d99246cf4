"""Checkpoints reported missed while the guard was on a leave typed in only afterwards, and
checkpoints excused by a leave whose cancellation, typed in afterwards, shows them missed.

A window the guard spent wholly on an approved leave is excused, not missed
(``PatrolState.on_leave``), when the leave is on record as the window runs out. A leader who
approved it by phone and types it in later finds ``alert.checkpoint_missed`` raised meanwhile:
the leave, approved by the time the window ran out, withdraws it (``alert.withdrawn``, reason
``leave_on_record``), and a round still under way counts the checkpoint excused. A round
already completed keeps the counts its ``patrol.round_completed`` gave (they are final); the
ledger takes the withdrawal off its missed checkpoints. A leave approved after the window ran
out withdraws nothing: the alert was right when raised.

The other way round: a leave cancelled (销假) as of a time before the end of a window it excused
(on the clock, or by withdrawing its alert) did not cover that window; he was back on post and
did not scan. When the cancellation is entered (``LeaveCancelled``, the caller having cut the
leave in ``PatrolState.on_leave``), each such window no leave on record still excuses is missed
after all (``owed_again``): ``alert.checkpoint_missed`` is raised for it, a new alert with an
episode of its own when one was withdrawn before (``raised_again``), with ``reason``
``leave_cancelled``, the ``leave_id`` and its ``cancelled_at``; a round under way counts it
missed, a completed one keeps its counts (the ledger counts the alert).

Both hold as much for a machine closed since (the shift cut short by a relief, its route taken
off the site): a leader often types the papers in the next morning. A closed machine takes the
leave or the cancellation, gives what it shows, and stays closed (``patrol.step``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .entries import iso
from .events import Json, RuleEvent
from .inputs import LeaveCancelled
from .patrol_events import missed_withdrawn
from .patrol_state import MISSED_KEPT, CheckpointVisit, MissedCheckpoint, PatrolState

__all__ = [
    "LeaveEntered",
    "cancellation_data",
    "owed_again",
    "scanned_window",
    "withdraw_missed",
]


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
        details: Json = {"leave_id": leave.leave_id, "approved_at": iso(leave.approved_at)}
        withdrawn = missed_withdrawn(state, missed, "leave_on_record", now, details)
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
    withdrawn = replace(missed, withdrawals=missed.withdrawals + 1)
    return replace(
        state,
        rounds=rounds,
        missed=tuple(m for m in state.missed if m is not missed),
        excused_windows=(*state.excused_windows, withdrawn)[-MISSED_KEPT:],
    )


def owed_again(state: PatrolState) -> tuple[PatrolState, list[tuple[MissedCheckpoint, int]]]:
    """``state`` with the excused windows that no leave in ``state.on_leave`` excuses any more
    (one was cancelled as of a time before the window ended) missed again: kept with the
    missed alerts, and counted missed in a round under way. Returns each with its position on
    the route, for its ``alert.checkpoint_missed`` (module docstring)."""
    owed = [m for m in state.excused_windows if not state.excuses(m)]
    if not owed:
        return state, []
    out: list[tuple[MissedCheckpoint, int]] = []
    rounds = state.rounds
    for missed in owed:
        rnd = next((r for r in rounds if r.started_at == missed.round_start), None)
        visit = None if rnd is None else _visit(rnd.visits, missed.checkpoint_id)
        if rnd is not None and visit is not None:
            changed = replace(visit, excused=False, missed_alerted=True)
            rounds = tuple(r.with_visit(changed) if r is rnd else r for r in rounds)
            out.append((missed, visit.position))
        else:
            ids = state.checkpoint_ids
            out.append(
                (missed, ids.index(missed.checkpoint_id) if missed.checkpoint_id in ids else -1)
            )
    return replace(
        state,
        rounds=rounds,
        missed=(*state.missed, *owed)[-MISSED_KEPT:],
        excused_windows=tuple(m for m in state.excused_windows if m not in owed),
    ), out


def cancellation_data(cancelled: LeaveCancelled, missed: MissedCheckpoint) -> dict[str, Json]:
    """What an ``alert.checkpoint_missed`` raised by ``cancelled`` adds to the usual data."""
    return {
        "raised_again": missed.withdrawals > 0,
        "reason": "leave_cancelled",
        "leave_id": cancelled.leave_id,
        "cancelled_at": iso(cancelled.cancelled_at),
    }


def scanned_window(state: PatrolState, episode: str) -> tuple[PatrolState, str]:
    """``state`` once the window of ``episode`` (``episode_of``) was scanned: neither missed
    nor excused any more; and the episode of the missed alert a late scan of it resolves (one
    raised again has its own)."""
    alert = next((m.episode for m in state.missed if m.base_episode == episode), episode)
    return replace(
        state,
        missed=tuple(m for m in state.missed if m.base_episode != episode),
        excused_windows=tuple(m for m in state.excused_windows if m.base_episode != episode),
    ), alert


def _visit(visits: tuple[CheckpointVisit, ...], checkpoint_id: str) -> CheckpointVisit | None:
    return next((v for v in visits if v.checkpoint_id == checkpoint_id), None)
