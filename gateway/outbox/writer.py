"""Writing events into the outbox, inside the caller's transaction.

The rule engine changes a guard's state and enqueues the resulting events in **one** transaction:
either both are committed or neither, so an event is never lost after a state change nor sent for a
change that was rolled back. Delivery happens later (see :mod:`gateway.outbox.delivery`); after
committing, the caller may call ``DeliveryWorker.notify()`` so delivery starts at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.driver_rows import DriverRows
from gateway.outbox.cloudevents import build_event, canonical_json, make_event_id
from gateway.outbox.tables import RECORD_DESTINATION, OutboxRow

__all__ = ["DEFAULT_EVENT_SOURCE", "enqueue", "insert_rows", "outbox_rows"]

log = logging.getLogger(__name__)

#: Same as the default of ``Settings.event_source``; pass ``settings.event_source`` in production.
DEFAULT_EVENT_SOURCE = "urn:guard-gateway:default"


def enqueue(
    session: Session,
    *,
    key: str,
    type: str,
    subject: str,
    time: datetime,
    data: Mapping[str, Any],
    now: datetime,
    destinations: Iterable[str] = ("core",),
    source: str = DEFAULT_EVENT_SOURCE,
) -> str:
    """Add the event to the outbox, one row per destination, and return its id.

    * Runs in ``session``'s current transaction and does **not** commit: the caller commits it
      together with its state change.
    * Idempotent on ``(event_id, destination)``: enqueueing the same ``key`` again adds nothing
      (``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL, so even a concurrent writer
      cannot make the caller's transaction fail). The first body stays: a repeat never rewrites an
      event that may already be on the wire.
    * ``time`` is when it happened on the device clock (the envelope's ``time``); ``now`` is the
      gateway clock, the row's ``created_at`` and first ``next_attempt_at``.
    """
    event_id, rows = outbox_rows(
        key=key,
        type=type,
        subject=subject,
        time=time,
        data=data,
        now=now,
        destinations=destinations,
        source=source,
    )
    insert_rows(session, rows)
    return event_id


def outbox_rows(
    *,
    key: str,
    type: str,
    subject: str,
    time: datetime,
    data: Mapping[str, Any],
    now: datetime,
    destinations: Iterable[str] = ("core",),
    source: str = DEFAULT_EVENT_SOURCE,
) -> tuple[str, list[dict[str, Any]]]:
    """The event's id and its outbox rows (one per destination, de-duplicated, order kept),
    as ``enqueue`` writes them: for a caller that writes many events with ``insert_rows``. A
    ``record`` row is written settled (``gateway.outbox.tables.RECORD_DESTINATION``)."""
    event_id = make_event_id(key)
    envelope = build_event(
        event_id=event_id, source=source, type=type, subject=subject, time=time, data=data
    )
    body = canonical_json(envelope)
    created = utc(now)
    happened = utc(time)
    rows = [
        {
            "event_id": event_id,
            "destination": destination,
            "subject": subject,
            "type": type,
            "event_time": happened,
            "body": body,
            "created_at": created,
            "attempts": 0,
            "next_attempt_at": created,
            # A record row has nowhere to go: settled as it is written.
            "delivered_at": created if destination == RECORD_DESTINATION else None,
            "last_error": None,
            "refused_at": None,
        }
        for destination in dict.fromkeys(destinations)  # de-duplicated, order kept
    ]
    return event_id, rows


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows (from ``outbox_rows``) in ``session``'s transaction, in their order.

    One statement for all of them (the driver's ``executemany``), so the rows take ascending
    ``seq`` in list order, the order delivery follows. A row whose ``(event_id, destination)``
    is already there, or earlier in ``rows``, is skipped: the first body stays.
    """
    if not rows:
        return
    connection = session.connection()
    prepared = _INSERT.prepared(connection.dialect)
    if prepared is not None:
        # Plain tuples (gateway.db.driver_rows): a shift change writes tens of thousands of
        # rows, and SQLAlchemy's per-row parameter processing cost more than the insert.
        prepared.execute(connection, rows)
        return
    for values in rows:
        _insert_once(session, values)


def _insert_once(session: Session, values: dict[str, Any]) -> None:
    # Other databases: check first. Good enough for a single writer; the unique index still
    # guards against a second row if two writers race.
    exists = session.execute(
        select(OutboxRow.seq).where(
            OutboxRow.event_id == values["event_id"],
            OutboxRow.destination == values["destination"],
        )
    ).first()
    if exists is None:
        session.execute(insert(_TABLE), values)
    else:
        log.debug(
            "event %s for %s already in the outbox", values["event_id"], values["destination"]
        )


_TABLE: Table = OutboxRow.__table__  # type: ignore[assignment]
_COLUMNS = tuple(c.name for c in _TABLE.columns if c.name != "seq")
"""Every column ``outbox_rows`` fills, in the order the statement binds them."""


_INSERT = DriverRows(
    _TABLE,
    _COLUMNS,
    lambda mark, _cast: (
        f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)})"
        f" VALUES ({', '.join([mark] * len(_COLUMNS))})"
        " ON CONFLICT (event_id, destination) DO NOTHING"
    ),
)
