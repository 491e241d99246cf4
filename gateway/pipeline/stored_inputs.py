"""The rule inputs of stored records: a verbal report and a leave as the presence rules take
them (``gateway.rules.inputs``), for the machines started after the record was stored and for
the commands that store one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.db.models import LeaveRow, ReportRow
from gateway.rules import LeaveApproved, ReportFiled

__all__ = ["leave_approved", "leave_of", "report_filed"]


def report_filed(row: ReportRow) -> ReportFiled:
    """The rule input of a stored verbal report."""
    return ReportFiled(
        report_id=row.id,
        reported_at=row.reported_at,
        expected_return_at=row.expected_return_at,
        destination=row.destination,
        reason=row.reason,
        entered_at=row.received_at,
    )


def leave_of(session: Session, leave_id: str) -> LeaveApproved | None:
    """The rule input of the stored leave ``leave_id`` (``None``: no such leave)."""
    row = session.get(LeaveRow, leave_id)
    return None if row is None else leave_approved(row)


def leave_approved(row: LeaveRow) -> LeaveApproved:
    """The rule input of a stored leave."""
    return LeaveApproved(
        leave_id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
    )
