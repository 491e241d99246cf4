"""What the live view reads from memory besides the rule states, and how a start rebuilds it.

``LastFix`` is a guard's newest accepted fix, kept as the pipeline places fixes. The time of
a shift's last arrival, departure or return is kept as the presence events are emitted. Both
live in memory only, so a process that starts (or takes over guards from another) would show
a guard whose terminal has gone quiet without a position, and one back on post "since" his
arrival rather than his return, until his terminal reported again: a silent one never does.
``newest_fixes`` and ``last_change`` rebuild them from what is stored: the ``positions`` rows
and the saved presence states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gateway.db.models import PositionRow, ShiftRow
from gateway.pipeline.duty import DutyIndex
from gateway.records import PositionFix
from gateway.rules import PresenceState

__all__ = ["LastFix", "last_change", "newest_fixes"]


@dataclass(frozen=True, slots=True)
class LastFix:
    """The newest accepted fix of a guard on duty, with the geofence verdict: what the live
    view and an SOS without a position of its own read. Not the ``PositionFix`` itself: its raw
    evidence and readings nobody reads here would be kept for every guard (30 MB at 100,000);
    the fix is stored whole in ``positions``."""

    device_id: str
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    shift_id: str
    membership: str
    distance_m: float

    @classmethod
    def of(cls, fix: PositionFix, shift_id: str, membership: str, distance_m: float) -> LastFix:
        return cls(
            fix.device_id,
            fix.fix_time,
            fix.received_at,
            fix.lat,
            fix.lon,
            fix.accuracy_m,
            shift_id,
            membership,
            distance_m,
        )


def newest_fixes(session: Session, now: datetime, duties: DutyIndex) -> dict[str, LastFix]:
    """Guard id → the newest stored fix that reached the rules for his shift under way at
    ``now``, for the shifts ``duties`` holds (the process's scope) that have one.

    One statement: for each shift under way, the newest of the guard's rows of that shift,
    found by walking his ``(guard_id, fix_time)`` index down from the shift's end, so its cost
    grows with the guards on duty, not with the history stored."""
    newer = aliased(PositionRow)
    newest_id = (
        select(newer.id)
        .where(
            newer.guard_id == ShiftRow.guard_id,
            newer.fix_time >= ShiftRow.starts_at,
            newer.fix_time < ShiftRow.ends_at,
            newer.shift_id == ShiftRow.id,
            newer.drop_reason.is_(None),
        )
        .order_by(newer.fix_time.desc())
        .limit(1)
        .correlate(ShiftRow)
        .scalar_subquery()
    )
    # ends_at first: the index on it finds the few shifts not yet over among a year's.
    under_way = (
        select(newest_id.label("position_id"))
        .where(ShiftRow.ends_at > now, ShiftRow.starts_at <= now)
        .subquery()
    )
    rows = session.execute(
        select(
            PositionRow.guard_id,
            PositionRow.shift_id,
            PositionRow.device_id,
            PositionRow.fix_time,
            PositionRow.received_at,
            PositionRow.lat,
            PositionRow.lon,
            PositionRow.accuracy_m,
            PositionRow.membership,
            PositionRow.distance_m,
        ).join(under_way, PositionRow.id == under_way.c.position_id)
    ).all()
    newest: dict[str, LastFix] = {}
    for row in rows:
        if row.guard_id is None or row.shift_id is None or row.membership is None:
            continue
        if duties.duty(row.shift_id) is None:
            continue  # another process's guard, or a shift this roster no longer has
        held = newest.get(row.guard_id)
        if held is not None and held.fix_time >= row.fix_time:
            continue
        newest[row.guard_id] = LastFix(
            row.device_id,
            row.fix_time,
            row.received_at,
            row.lat,
            row.lon,
            row.accuracy_m,
            row.shift_id,
            row.membership,
            row.distance_m or 0.0,
        )
    return newest


def last_change(state: PresenceState) -> datetime | None:
    """When the guard last arrived, left or came back, as the saved ``state`` tells it (the
    times the presence events carry): his departure's first fix outside, else his latest
    return, else his arrival."""
    if state.departure is not None:
        return state.departure.started_at
    if state.arrived_at is None:
        return None
    returns = [d.returned_at for d in state.past_departures if d.returned_at is not None]
    return max([state.arrived_at, *returns])
