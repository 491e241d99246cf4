"""Events a destination refused for their content: listed, and sent again once it is fixed.

The delivery worker sets such a row aside (``refused_at``, the answer in ``last_error``:
``gateway.outbox.delivery``) so that the guard's later events, his SOS included, are not held
behind it. The row is kept until it is delivered: an operator lists it
(``guard-gateway outbox refused``) and, once the core takes it (say, upgraded to the gateway's
event catalogue), sends it again (``guard-gateway outbox retry``). It then goes out with its
stored bytes and its CloudEvents ``id``, so a core that did take it after all de-duplicates it.

Sending again is safe while the gateway runs, with several workers too: the row becomes its
guard's earliest undelivered row, his *head*, and a worker sharing the outbox owns a guard by
holding his head's row lock (``gateway.outbox.delivery``). So :func:`retry_refused` first takes
the guard's current head lock itself, waiting for a worker that holds it to commit, and puts the
row back only while holding it: no worker is then sending that guard's rows, and the next one to
take him starts at the row put back. Without a shared outbox (SQLite, one worker) the row is
simply sent in the next pass, after the rows that pass already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select, update
from sqlalchemy.orm import Session

from gateway.outbox.cloudevents import rfc3339
from gateway.outbox.tables import OutboxRow

__all__ = ["RefusedEvent", "list_refused", "retry_refused"]


@dataclass(frozen=True, slots=True)
class RefusedEvent:
    """One refused row, as an operator reads it."""

    event_id: str
    destination: str
    type: str
    subject: str
    event_time: datetime
    refused_at: datetime | None
    """Never ``None`` as listed; typed as its column."""
    attempts: int
    answer: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "destination": self.destination,
            "type": self.type,
            "subject": self.subject,
            "time": rfc3339(self.event_time),
            "refused_at": None if self.refused_at is None else rfc3339(self.refused_at),
            "attempts": self.attempts,
            "answer": self.answer,
        }


def _refused(
    types: tuple[str, ...], event_ids: tuple[str, ...], destination: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        OutboxRow.refused_at.is_not(None),
        OutboxRow.delivered_at.is_(None),
    ]
    if types:
        conditions.append(OutboxRow.type.in_(types))
    if event_ids:
        conditions.append(OutboxRow.event_id.in_(event_ids))
    if destination is not None:
        conditions.append(OutboxRow.destination == destination)
    return conditions


def list_refused(
    engine: Engine,
    *,
    types: tuple[str, ...] = (),
    destination: str | None = None,
    limit: int | None = None,
) -> list[RefusedEvent]:
    """The refused rows (of ``types`` and ``destination`` when given), oldest first."""
    stmt = (
        select(
            OutboxRow.event_id,
            OutboxRow.destination,
            OutboxRow.type,
            OutboxRow.subject,
            OutboxRow.event_time,
            OutboxRow.refused_at,
            OutboxRow.attempts,
            OutboxRow.last_error,
        )
        .where(*_refused(types, (), destination))
        .order_by(OutboxRow.seq)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [RefusedEvent(*row) for row in conn.execute(stmt).tuples()]


def retry_refused(
    engine: Engine,
    *,
    types: tuple[str, ...] = (),
    event_ids: tuple[str, ...] = (),
    destination: str | None = None,
) -> int:
    """Put the refused rows matching the filters (every one when none is given) back in their
    guard's order, due at once; returns how many. One transaction; see the module docstring
    for why it first holds each guard's head."""
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(OutboxRow.seq, OutboxRow.destination, OutboxRow.subject)
            .where(*_refused(types, event_ids, destination))
            .order_by(OutboxRow.seq)
            .with_for_update()
        ).all()
        for queue in sorted({(r.destination, r.subject) for r in rows}):
            _hold_head(session, *queue)
        if rows:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_([r.seq for r in rows]))
                # Due at once whatever clock the running gateway keeps: it wrote the row then.
                .values(refused_at=None, next_attempt_at=OutboxRow.created_at)
                .execution_options(synchronize_session=False)
            )
    return len(rows)


def _hold_head(session: Session, destination: str, subject: str) -> None:
    """Lock the subject's earliest undelivered row, waiting for a worker holding it: until
    this transaction ends, no worker sends the subject's rows. A head delivered while waited
    for is no head any more: the next is locked in its place, until none is left."""
    while True:
        head = session.scalar(
            select(func.min(OutboxRow.seq)).where(
                OutboxRow.destination == destination,
                OutboxRow.subject == subject,
                OutboxRow.delivered_at.is_(None),
                OutboxRow.refused_at.is_(None),
            )
        )
        if head is None:
            return
        locked = session.scalar(
            select(OutboxRow.seq)
            .where(
                OutboxRow.seq == head,
                OutboxRow.delivered_at.is_(None),
                OutboxRow.refused_at.is_(None),
            )
            .with_for_update()
        )
        if locked is not None:
            return
