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

from sqlalchemy import Table, insert, select
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
    PresenceStateRow,
    ReportRow,
)
from gateway.db.positions import PositionValues, insert_positions, position_values
from gateway.db.state_writes import update_presence_states
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.policy import SitePolicy

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PositionValues",
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
    "position_values",
    "reports_of_guards",
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
    """Insert or update many states in two statements (the pipeline's per-batch save; the
    updates through ``gateway.db.state_writes``).

    Each row has ``shift_id, guard_id, state, next_deadline, updated_at``; rows whose
    ``shift_id`` is in ``stored`` (already in the table) are updated, the others inserted.
    """
    table: Table = PresenceStateRow.__table__  # type: ignore[assignment]
    updates = [r for r in rows if r["shift_id"] in stored]
    if updates:  # nothing to write: no connection taken, so a quiet tick commits nothing
        update_presence_states(session.connection(), updates)
    inserts = [dict(r) for r in rows if r["shift_id"] not in stored]
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
    """Cancel a leave (销假) at ``at``; ``NotFound`` if unknown, ``Conflict`` if cancelled,
    ``InvalidRequest`` if ``at`` comes before the leave was approved (no leave is cancelled
    before it exists)."""
    row = session.get(LeaveRow, leave_id)
    if row is None:
        raise NotFound(f"unknown leave {leave_id!r}")
    if row.status == "cancelled":
        raise Conflict(f"leave {leave_id!r} was already cancelled at {row.cancelled_at}")
    if utc(at) < row.approved_at:
        raise InvalidRequest(
            f"cancelled_at {utc(at).isoformat()} is before leave {leave_id!r} was approved "
            f"({row.approved_at.isoformat()})"
        )
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


def reports_of_guards(
    session: Session, guard_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[ReportRow]]:
    """The verbal reports of ``guard_ids`` made in ``[start, end)``, per guard, oldest first:
    one statement for the shifts the clock starts together."""
    out: dict[str, list[ReportRow]] = {}
    if not guard_ids:
        return out
    stmt = (
        select(ReportRow)
        .where(
            ReportRow.guard_id.in_(guard_ids),
            ReportRow.reported_at >= start,
            ReportRow.reported_at < end,
        )
        .order_by(ReportRow.reported_at, ReportRow.id)
    )
    for row in session.scalars(stmt):
        out.setdefault(row.guard_id, []).append(row)
    return out
