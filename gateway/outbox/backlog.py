"""The outbox's health for one destination (or all): what waits, what fails, what was refused."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import ColumnElement, Engine, func, select

from gateway.outbox.cloudevents import rfc3339
from gateway.outbox.tables import OutboxRow

__all__ = ["Backlog", "backlog"]


class Backlog(TypedDict):
    """Outbox health for one destination (or all): for health endpoints and metrics.

    ``pending``, ``failing`` and the oldest pending row are of the rows still to deliver;
    ``refused`` counts the rows the destination refused for their content, set aside until an
    operator sends them again (``gateway.outbox.refused``): they neither wait in the order nor
    age the delivery lag, and are counted here so that they are seen.
    """

    pending: int
    failing: int
    refused: int
    oldest_pending_at: str | None
    oldest_pending_age_s: float | None


def backlog(engine: Engine, *, now: datetime, destination: str | None = None) -> Backlog:
    """Pending (undelivered, not refused), failing (of those, tried at least once) and refused
    rows, and the age of the oldest pending row at ``now``; for ``destination`` or, if
    ``None``, all destinations."""
    conditions: list[ColumnElement[bool]] = [OutboxRow.delivered_at.is_(None)]
    if destination is not None:
        conditions.append(OutboxRow.destination == destination)
    waiting = OutboxRow.refused_at.is_(None)
    stmt = select(
        func.count(OutboxRow.seq).filter(waiting),
        func.count(OutboxRow.seq).filter(waiting, OutboxRow.attempts > 0),
        func.count(OutboxRow.seq).filter(OutboxRow.refused_at.is_not(None)),
        func.min(OutboxRow.created_at).filter(waiting),
    ).where(*conditions)
    with engine.connect() as conn:
        pending, failing, refused, oldest = conn.execute(stmt).one()
    return Backlog(
        pending=int(pending),
        failing=int(failing),
        refused=int(refused),
        oldest_pending_at=rfc3339(oldest) if oldest is not None else None,
        oldest_pending_age_s=(now - oldest).total_seconds() if oldest is not None else None,
    )
