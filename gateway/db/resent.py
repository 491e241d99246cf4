"""A report or leave entered a second time: the same request sent again, not a new fact.

A leader's phone app that loses the answer to ``POST /reports`` sends the report again. Kept
as a second report, the copy covers a second outing that no one reported (an unreported
departure never raised). A request is taken for one already stored when it says the same
thing of the same guard (every field the person typed) and its time (``reported_at``,
``approved_at``) is within ``RESENT_WITHIN_S`` of the stored one's: the app's own retry, or a
time left to default to "now" and so a few seconds later on the second try. Two different
reports of one guard with the same destination, return time and reason within two minutes
are one outing's report whichever way they came.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import LeaveRow, ReportRow

__all__ = ["RESENT_WITHIN_S", "leave_sent_again", "report_sent_again"]

RESENT_WITHIN_S = 120


def report_sent_again(
    session: Session,
    *,
    guard_id: str,
    reported_at: datetime,
    expected_return_at: datetime | None,
    destination: str | None,
    reason: str | None,
    reported_to: str | None,
) -> ReportRow | None:
    """The stored report this one repeats (module docstring), else ``None``."""
    window = timedelta(seconds=RESENT_WITHIN_S)
    candidates = session.scalars(
        select(ReportRow)
        .where(
            ReportRow.guard_id == guard_id,
            ReportRow.reported_at >= reported_at - window,
            ReportRow.reported_at <= reported_at + window,
        )
        .order_by(ReportRow.received_at)
    )
    wanted = (expected_return_at, destination, reason, reported_to)
    for row in candidates:
        if (row.expected_return_at, row.destination, row.reason, row.reported_to) == wanted:
            return row
    return None


def leave_sent_again(
    session: Session,
    *,
    guard_id: str,
    starts_at: datetime,
    ends_at: datetime,
    approved_by: str,
    approved_at: datetime,
    destination: str | None,
    reason: str | None,
) -> LeaveRow | None:
    """The stored leave this one repeats (same guard, span, approver, destination and reason,
    approved within ``RESENT_WITHIN_S``), else ``None``; a cancelled one included: the
    cancellation stands."""
    window = timedelta(seconds=RESENT_WITHIN_S)
    candidates = session.scalars(
        select(LeaveRow)
        .where(
            LeaveRow.guard_id == guard_id,
            LeaveRow.starts_at == starts_at,
            LeaveRow.ends_at == ends_at,
            LeaveRow.approved_at >= approved_at - window,
            LeaveRow.approved_at <= approved_at + window,
        )
        .order_by(LeaveRow.approved_at)
    )
    wanted = (approved_by, destination, reason)
    for row in candidates:
        if (row.approved_by, row.destination, row.reason) == wanted:
            return row
    return None
