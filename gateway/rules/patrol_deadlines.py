"""A patrol machine's deadlines: when each pending decision falls.

A checkpoint not scanned is judged missed at its window's end; a round settles when the last
tolerance of its unscanned checkpoints runs out. For a shift walked with offline wands both
wait for the download (``gateway.rules.patrol_wands.judged_at``), and a relieved one closes
once the scans up to the relief are in. Which of those windows a scan can still fill:
``open_visits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .patrol_policy import PatrolPolicy
from .patrol_state import CheckpointVisit, PatrolRound, PatrolState
from .patrol_wands import judged_at

__all__ = [
    "CLOSE",
    "MISSED",
    "SETTLE",
    "PatrolDeadline",
    "next_patrol_deadline",
    "open_visits",
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


def open_visits(
    state: PatrolState, checkpoint_id: str, at: datetime, late_for: timedelta
) -> tuple[list[tuple[bool, PatrolRound, CheckpointVisit]], bool]:
    """The visits of ``checkpoint_id`` not scanned yet that a scan at ``at`` can take (in
    their window, or within ``late_for`` after it), best first: on time before late, then the
    earliest round; each with whether the scan is late for it. And whether a visit it could
    have taken was scanned already (the scan is a repeat)."""
    candidates: list[tuple[bool, datetime, PatrolRound, CheckpointVisit]] = []
    repeat = False
    for rnd in state.rounds:
        for visit in rnd.visits:
            if visit.checkpoint_id != checkpoint_id:
                continue
            if not visit.window_start <= at <= visit.window_end + late_for:
                continue
            if visit.scanned_at is not None:
                repeat = True
                continue
            candidates.append((at > visit.window_end, rnd.started_at, rnd, visit))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return [(late, rnd, visit) for late, _, rnd, visit in candidates], repeat
