"""A patrol machine's deadlines: when each pending decision falls.

A checkpoint not scanned is judged missed at its window's end; a round settles when the last
tolerance of its unscanned checkpoints runs out. For a shift walked with offline wands both
wait for the download (``gateway.rules.patrol_wands.judged_at``), and a relieved one closes
once the scans up to the relief are in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .patrol_policy import PatrolPolicy
from .patrol_state import PatrolState
from .patrol_wands import judged_at

__all__ = [
    "CLOSE",
    "MISSED",
    "SETTLE",
    "PatrolDeadline",
    "next_patrol_deadline",
    "pending",
    "tolerance",
]

MISSED, SETTLE, CLOSE = 0, 1, 2


@dataclass(frozen=True, slots=True, order=True)
class PatrolDeadline:
    """A decision pending: ``kind`` (``MISSED``, ``SETTLE``, ``CLOSE``) of the round starting
    at ``round_start`` (``position``: the checkpoint's, -1 for the round), due at ``due``."""

    due: datetime
    kind: int
    round_start: datetime
    position: int
    point: datetime
    """The time the decision is about (``due`` is later while it waits for a wand)."""


def tolerance(policy: PatrolPolicy) -> timedelta:
    """How long after its window a scan still counts (late)."""
    return timedelta(seconds=policy.patrol_late_tolerance_s)


def pending(state: PatrolState, policy: PatrolPolicy) -> list[PatrolDeadline]:
    """Every decision ``state`` still owes, earliest first (none once closed)."""
    if state.closed:
        return []
    late_for = tolerance(policy)
    ended = state.ended_at
    out: list[PatrolDeadline] = []
    for rnd in state.rounds:
        unscanned = [v for v in rnd.visits if v.scanned_at is None]
        for v in unscanned:
            if v.missed_alerted or v.excused:
                continue
            if ended is not None and v.window_end > ended:
                continue  # closing after he went off duty: not due (``_complete``)
            if not state.wands:
                out.append(
                    PatrolDeadline(v.window_end, MISSED, rnd.started_at, v.position, v.window_end)
                )
            else:
                point = _cut(v.window_end + late_for, ended)
                due = judged_at(state, policy, point)
                out.append(PatrolDeadline(due, MISSED, rnd.started_at, v.position, point))
        if unscanned:
            point = _cut(max(v.window_end for v in unscanned) + late_for, ended)
            due = judged_at(state, policy, point)
            out.append(PatrolDeadline(due, SETTLE, rnd.started_at, -1, point))
    if ended is not None and not state.rounds:
        # Relieved and every round judged: closed once the scans up to the relief are in.
        out.append(PatrolDeadline(judged_at(state, policy, ended), CLOSE, ended, -1, ended))
    return sorted(out)


def _cut(point: datetime, ended: datetime | None) -> datetime:
    """``point``, or the relief if that came first: nothing after it is the guard's."""
    return point if ended is None or point <= ended else ended


def next_patrol_deadline(state: PatrolState, policy: PatrolPolicy) -> datetime | None:
    """The earliest pending deadline, or ``None`` when nothing is left to decide."""
    owed = pending(state, policy)
    return owed[0].due if owed else None
