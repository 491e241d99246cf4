"""Small queries and writes over the gateway's tables; each takes the caller's ``Session``.

The caller owns the transaction (commit or roll back); these functions only flush when they must
return generated values. Failures a caller can act on are ``NotFound`` (an unknown guard, leave or
alert), ``Conflict`` (the thing is no longer in a state that allows the change) and
``InvalidRequest`` (the request contradicts itself, e.g. a leave ending before it starts).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from gateway.db.alerts import (
    acknowledge_alert,
    list_alerts,
    open_alerts,
    open_or_update_alert,
    resolve_alert,
)
from gateway.db.models import (
    DeviceRow,
    GuardRow,
    LeaderRow,
    LeaveRow,
    PositionRow,
    PostRow,
    PresenceStateRow,
    ReportRow,
    ShiftRow,
    SiteRow,
)
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.policy import SitePolicy
from gateway.records import PositionFix

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "ShiftContext",
    "acknowledge_alert",
    "active_shifts",
    "add_leave",
    "add_report",
    "cancel_leave",
    "due_states",
    "insert_positions",
    "leaders_for_guard",
    "leaves_overlapping",
    "list_alerts",
    "load_presence_state",
    "open_alerts",
    "open_or_update_alert",
    "position_values",
    "reports_since",
    "resolve_alert",
    "save_presence_state",
    "save_presence_states",
    "shift_context",
    "shift_for_device",
    "site_policy",
    "upsert",
]


@dataclass(frozen=True, slots=True)
class ShiftContext:
    """Everything the pipeline needs about a guard on duty: shift, guard, post, site, policy.

    ``fence`` is the post's fence exactly as drawn, in ``datum`` coordinates. ``device_id`` is the
    terminal the context was looked up by (``None`` when looked up by shift).
    """

    shift_id: str
    starts_at: datetime
    ends_at: datetime
    guard_id: str
    guard_name: str
    team: str | None
    post_id: str
    post_name: str
    post_kind: str
    fence: dict[str, Any]
    datum: str
    site_id: str
    site_timezone: str
    policy: SitePolicy
    device_id: str | None = None


def site_policy(overrides: Mapping[str, Any]) -> SitePolicy:
    """The defaults of ``SitePolicy`` with a site's overrides applied (unknown names ignored)."""
    known = {f.name for f in dataclasses.fields(SitePolicy)}
    return SitePolicy(**{k: float(v) for k, v in overrides.items() if k in known})


# --- shifts ---------------------------------------------------------------------------------


def active_shifts(session: Session, at: datetime) -> list[ShiftRow]:
    """Shifts under way at ``at`` (``starts_at <= at < ends_at``), ordered by guard."""
    stmt = (
        select(ShiftRow)
        .where(ShiftRow.starts_at <= at, ShiftRow.ends_at > at)
        .order_by(ShiftRow.guard_id, ShiftRow.starts_at)
    )
    return list(session.scalars(stmt))


def shift_for_device(session: Session, device_id: str, at: datetime) -> ShiftContext | None:
    """The duty of the guard wearing ``device_id`` at ``at``; ``None`` when off duty or unbound.

    Off duty means no tracking (the rules' privacy promise), so the caller drops such fixes from
    the rules.
    """
    guard_id = session.scalar(select(DeviceRow.guard_id).where(DeviceRow.id == device_id))
    if guard_id is None:
        return None
    stmt = (
        select(ShiftRow.id)
        .where(ShiftRow.guard_id == guard_id, ShiftRow.starts_at <= at, ShiftRow.ends_at > at)
        .order_by(ShiftRow.starts_at)
        .limit(1)
    )
    shift_id = session.scalar(stmt)
    if shift_id is None:
        return None
    context = shift_context(session, shift_id)
    return None if context is None else dataclasses.replace(context, device_id=device_id)


def shift_context(session: Session, shift_id: str) -> ShiftContext | None:
    """The full context of one shift (for timers firing with no fix at hand)."""
    row = session.execute(
        select(ShiftRow, GuardRow, PostRow, SiteRow)
        .join(GuardRow, GuardRow.id == ShiftRow.guard_id)
        .join(PostRow, PostRow.id == ShiftRow.post_id)
        .join(SiteRow, SiteRow.id == ShiftRow.site_id)
        .where(ShiftRow.id == shift_id)
    ).one_or_none()
    if row is None:
        return None
    shift, guard, post, site = row._tuple()
    return ShiftContext(
        shift_id=shift.id,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        guard_id=guard.id,
        guard_name=guard.name,
        team=guard.team,
        post_id=post.id,
        post_name=post.name,
        post_kind=post.kind,
        fence=dict(post.fence),
        datum=post.datum,
        site_id=site.id,
        site_timezone=site.timezone,
        policy=site_policy(site.policy),
    )


def leaders_for_guard(session: Session, guard_id: str) -> list[LeaderRow]:
    """The leaders alerted about ``guard_id``: those listed for him, else his team's at his site."""
    guard = session.get(GuardRow, guard_id)
    if guard is None:
        raise NotFound(f"unknown guard {guard_id!r}")
    if guard.leader_ids:
        stmt = select(LeaderRow).where(LeaderRow.id.in_(guard.leader_ids))
    else:
        stmt = select(LeaderRow).where(
            LeaderRow.site_id == guard.site_id, LeaderRow.team == guard.team
        )
    return list(session.scalars(stmt.order_by(LeaderRow.id)))


# --- presence state -------------------------------------------------------------------------


def load_presence_state(session: Session, shift_id: str) -> dict[str, Any] | None:
    """The rules' saved state for ``shift_id``, or ``None`` before the first save."""
    row = session.get(PresenceStateRow, shift_id)
    return None if row is None else dict(row.state)


def upsert(session: Session, model: type[Any], key: str, values: Mapping[str, Any]) -> None:
    """Insert a row of ``model`` with primary key ``key`` and ``values``, or update the one
    there (in the caller's transaction). For the rule machines' saved states."""
    row = session.get(model, key)
    if row is None:
        session.add(model(**values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()


def save_presence_state(
    session: Session,
    *,
    shift_id: str,
    guard_id: str,
    state: Mapping[str, Any],
    next_deadline: datetime | None,
    now: datetime,
) -> None:
    """Insert or replace the state of ``shift_id``. ``state`` must be JSON-serialisable."""
    upsert(
        session,
        PresenceStateRow,
        shift_id,
        {
            "shift_id": shift_id,
            "guard_id": guard_id,
            "state": dict(state),
            "next_deadline": next_deadline,
            "updated_at": now,
        },
    )


def save_presence_states(
    session: Session, rows: Sequence[Mapping[str, Any]], *, stored: Container[str]
) -> None:
    """Insert or update many states in two statements (the pipeline's per-batch save).

    Each row has ``shift_id, guard_id, state, next_deadline, updated_at``; rows whose
    ``shift_id`` is in ``stored`` (already in the table) are updated, the others inserted.
    """
    table: Table = PresenceStateRow.__table__  # type: ignore[assignment]
    updates = [
        {"b_shift_id": r["shift_id"], **{k: v for k, v in r.items() if k != "shift_id"}}
        for r in rows
        if r["shift_id"] in stored
    ]
    inserts = [dict(r) for r in rows if r["shift_id"] not in stored]
    if updates:
        session.execute(
            update(table)
            .where(table.c.shift_id == bindparam("b_shift_id"))
            .values(
                guard_id=bindparam("guard_id"),
                state=bindparam("state"),
                next_deadline=bindparam("next_deadline"),
                updated_at=bindparam("updated_at"),
            ),
            updates,
        )
    if inserts:
        session.execute(insert(table), inserts)


def due_states(session: Session, now: datetime) -> list[PresenceStateRow]:
    """States whose ``next_deadline`` is at or before ``now``, earliest first."""
    stmt = (
        select(PresenceStateRow)
        .where(PresenceStateRow.next_deadline.is_not(None), PresenceStateRow.next_deadline <= now)
        .order_by(PresenceStateRow.next_deadline, PresenceStateRow.shift_id)
    )
    return list(session.scalars(stmt))


# --- reports and leaves ---------------------------------------------------------------------


def _require_guard(session: Session, guard_id: str) -> None:
    if session.get(GuardRow, guard_id) is None:
        raise NotFound(f"unknown guard {guard_id!r}")


def add_report(
    session: Session,
    *,
    guard_id: str,
    reported_at: datetime,
    received_at: datetime,
    expected_return_at: datetime | None = None,
    destination: str | None = None,
    reason: str | None = None,
    reported_to: str | None = None,
    report_id: str | None = None,
) -> ReportRow:
    """Record a verbal report (口头报备). Raises ``NotFound`` for an unknown guard,
    ``InvalidRequest`` when the expected return is before the report."""
    _require_guard(session, guard_id)
    if expected_return_at is not None and expected_return_at < reported_at:
        raise InvalidRequest("expected return is before the report was made")
    row = ReportRow(
        id=report_id or str(uuid.uuid4()),
        guard_id=guard_id,
        reported_at=reported_at,
        expected_return_at=expected_return_at,
        destination=destination,
        reason=reason,
        reported_to=reported_to,
        received_at=received_at,
    )
    session.add(row)
    session.flush()
    return row


def reports_since(session: Session, guard_id: str, since: datetime) -> list[ReportRow]:
    """A guard's verbal reports made at or after ``since``, oldest first."""
    stmt = (
        select(ReportRow)
        .where(ReportRow.guard_id == guard_id, ReportRow.reported_at >= since)
        .order_by(ReportRow.reported_at)
    )
    return list(session.scalars(stmt))


def add_leave(
    session: Session,
    *,
    guard_id: str,
    starts_at: datetime,
    ends_at: datetime,
    approved_by: str,
    approved_at: datetime,
    destination: str | None = None,
    reason: str | None = None,
    leave_id: str | None = None,
) -> LeaveRow:
    """Record an approved leave (请假). Raises ``NotFound`` for an unknown guard,
    ``InvalidRequest`` when it does not end after it starts."""
    _require_guard(session, guard_id)
    if ends_at <= starts_at:
        raise InvalidRequest("a leave must end after it starts")
    row = LeaveRow(
        id=leave_id or str(uuid.uuid4()),
        guard_id=guard_id,
        starts_at=starts_at,
        ends_at=ends_at,
        destination=destination,
        reason=reason,
        approved_by=approved_by,
        approved_at=approved_at,
        status="approved",
        cancelled_at=None,
    )
    session.add(row)
    session.flush()
    return row


def cancel_leave(session: Session, leave_id: str, at: datetime) -> LeaveRow:
    """Cancel a leave (销假) at ``at``; ``NotFound`` if unknown, ``Conflict`` if cancelled."""
    row = session.get(LeaveRow, leave_id)
    if row is None:
        raise NotFound(f"unknown leave {leave_id!r}")
    if row.status == "cancelled":
        raise Conflict(f"leave {leave_id!r} was already cancelled at {row.cancelled_at}")
    row.status = "cancelled"
    row.cancelled_at = at
    session.flush()
    return row


def leaves_overlapping(
    session: Session, guard_id: str, start: datetime, end: datetime
) -> list[LeaveRow]:
    """A guard's leaves (approved or cancelled) overlapping ``[start, end)``, oldest first."""
    stmt = (
        select(LeaveRow)
        .where(LeaveRow.guard_id == guard_id, LeaveRow.starts_at < end, LeaveRow.ends_at > start)
        .order_by(LeaveRow.starts_at)
    )
    return list(session.scalars(stmt))


# --- positions ------------------------------------------------------------------------------


def position_values(
    fix: PositionFix,
    *,
    guard_id: str | None = None,
    shift_id: str | None = None,
    membership: str | None = None,
    distance_m: float | None = None,
    drop_reason: str | None = None,
) -> dict[str, Any]:
    """One ``positions`` row as a dict for ``insert_positions``."""
    return {
        "device_id": fix.device_id,
        "guard_id": guard_id,
        "shift_id": shift_id,
        "fix_time": fix.fix_time,
        "received_at": fix.received_at,
        "lat": fix.lat,
        "lon": fix.lon,
        "accuracy_m": fix.accuracy_m,
        "speed_mps": fix.speed_mps,
        "course_deg": fix.course_deg,
        "altitude_m": fix.altitude_m,
        "satellites": fix.satellites,
        "battery_pct": fix.battery_pct,
        "alarms": sorted(str(a) for a in fix.alarms),
        "source_format": fix.source_format,
        "membership": membership,
        "distance_m": distance_m,
        "drop_reason": drop_reason,
        "raw": fix.raw,
    }


def insert_positions(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append many positions in one executemany statement (the hot path); returns the count.

    Every row must carry every column (build them with ``position_values``): one statement
    needs one shape.
    """
    if not rows:
        return 0
    # The Core table, not the ORM entity: no per-row ORM bookkeeping on the hot path.
    table: Table = PositionRow.__table__  # type: ignore[assignment]
    session.execute(insert(table), [dict(r) for r in rows])
    return len(rows)
