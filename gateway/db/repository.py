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
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.alerts import (
    acknowledge_alert,
    list_alerts,
    open_alerts,
    open_or_update_alert,
    resolve_alert,
)
from gateway.db.models import (
    GuardRow,
    LeaveRow,
    PositionRow,
    PresenceStateRow,
    ReportRow,
)
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.policy import SitePolicy
from gateway.records import PositionFix

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PositionKey",
    "acknowledge_alert",
    "add_leave",
    "add_report",
    "cancel_leave",
    "insert_positions",
    "leaves_of_guards",
    "leaves_overlapping",
    "list_alerts",
    "load_presence_state",
    "open_alerts",
    "open_or_update_alert",
    "position_key",
    "position_values",
    "resolve_alert",
    "save_presence_states",
    "site_policy",
    "upsert",
]


def site_policy(overrides: Mapping[str, Any]) -> SitePolicy:
    """The defaults of ``SitePolicy`` with a site's overrides applied (unknown names ignored)."""
    known = {f.name for f in dataclasses.fields(SitePolicy)}
    return SitePolicy(**{k: float(v) for k, v in overrides.items() if k in known})


# --- shifts ---------------------------------------------------------------------------------


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


def leaves_of_guards(
    session: Session, guard_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[LeaveRow]]:
    """The leaves (approved or cancelled) of ``guard_ids`` overlapping ``[start, end)``, per
    guard, oldest first: one statement for the shifts the clock starts together."""
    out: dict[str, list[LeaveRow]] = {}
    if not guard_ids:
        return out
    stmt = (
        select(LeaveRow)
        .where(LeaveRow.guard_id.in_(guard_ids), LeaveRow.starts_at < end, LeaveRow.ends_at > start)
        .order_by(LeaveRow.starts_at, LeaveRow.id)
    )
    for row in session.scalars(stmt):
        out.setdefault(row.guard_id, []).append(row)
    return out


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


PositionKey = tuple[str, datetime]
"""A stored fix's identity: ``(device_id, fix_time)`` with ``fix_time`` aware UTC."""


def position_key(row: Mapping[str, Any]) -> PositionKey:
    """The identity of a ``positions`` row (as built by ``position_values``)."""
    return str(row["device_id"]), utc(row["fix_time"])


def insert_positions(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[PositionKey]:
    """Store many positions in one statement (the hot path); returns the keys of those that
    were **new**.

    ``(device_id, fix_time)`` is unique in the table: a row whose key is already stored (an
    earlier batch, an earlier run of the gateway) is skipped without an error by ``INSERT ...
    ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL), and its key is not in the result, so the
    caller counts and processes only what is new. On other databases the rows are inserted
    plainly and a repeat fails the transaction on the unique index.

    Every row must carry every column (build them with ``position_values``): one statement
    needs one shape. Keys must be distinct within ``rows`` (the filters see to it).
    """
    if not rows:
        return set()
    params = [dict(r) for r in rows]
    statement = _POSITION_INSERTS.get(session.get_bind().dialect.name)
    if statement is None:
        session.execute(insert(_POSITIONS), params)
        return {position_key(r) for r in rows}
    # RETURNING over many rows: SQLAlchemy batches them into multi-row INSERTs
    # ("insertmanyvalues"); a skipped row returns nothing.
    returned = session.execute(statement, params)
    return {(str(device_id), utc(fix_time)) for device_id, fix_time in returned}


# The Core table, not the ORM entity: no per-row ORM bookkeeping on the hot path.
_POSITIONS: Table = PositionRow.__table__  # type: ignore[assignment]
_POSITION_KEY_COLUMNS = ["device_id", "fix_time"]
_POSITION_INSERTS = {
    "sqlite": sqlite_insert(_POSITIONS)
    .on_conflict_do_nothing(index_elements=_POSITION_KEY_COLUMNS)
    .returning(_POSITIONS.c.device_id, _POSITIONS.c.fix_time),
    "postgresql": pg_insert(_POSITIONS)
    .on_conflict_do_nothing(index_elements=_POSITION_KEY_COLUMNS)
    .returning(_POSITIONS.c.device_id, _POSITIONS.c.fix_time),
}
