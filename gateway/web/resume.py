"""What a page missed while its stream was down: the events committed after the one it names in
``Last-Event-ID``, read back from the outbox (the gateway's event history).

A phone loses its network in a lift, the gateway restarts for an upgrade (and works through the
broker's backlog before any page is back): the events of those seconds were committed, but the
page was not listening. The page sends the id of the last event it received when it reconnects,
and the stream begins with the events after it, within the token's scope (as the live
stream's: ``gateway.api.shift_scope``), oldest first, each once. The scope is the token's,
not the process's: in a partitioned gateway the history is shared, and the events read back
are every process's that the token covers, as on the live stream (``gateway.web.tail``).

In one gateway process the outbox's ``seq`` follows the commits (one pipeline thread writes
them), so "after" is ``seq`` order and the stream's ids are the bare event ids. With several
processes a ``seq`` is drawn at insert time, and an event another process committed just
before the cut may carry a smaller ``seq`` than the last one the page received. So there the
stream's ids carry a resume floor, ``<event id>@<seq>`` (``gateway.web.stream``): every event
the token covers at or below that ``seq``, committed while the stream was open, was sent before
the one named. A page back with such an id gets the events after ``min(floor, the named
event's seq)`` but the named one: nothing committed meanwhile is missed, and some it had
already may come again; a client dedupes by the event's id (the page keeps the last 1024).
A ``Last-Event-ID`` whose floor is not a ``seq`` (digits) is unknown: ``resync``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from gateway.api.shift_scope import kept_guards_in_scope, read_event_scopes, scope_query
from gateway.api.tokens import Principal
from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow

__all__ = ["BEGINNING", "LAST_EVENT_ID_LENGTH", "Missed", "missed_events", "resume_id"]

BEGINNING = "-"
"""The ``hello``'s id while the history holds no event yet: resuming from it gives them all."""

LAST_EVENT_ID_LENGTH = 64
"""Longer than any stream id (a UUID, 36 characters, ``@`` and a ``seq`` of at most 19
digits): a longer ``Last-Event-ID`` is taken as unknown."""

_FLOOR_MARK = "@"
_SEQ_DIGITS = 19
"""A ``seq`` is a 64-bit integer."""


def resume_id(event_id: str, floor: int | None) -> str:
    """The stream's id of ``event_id``: with a resume ``floor`` (a partitioned gateway),
    ``<event id>@<floor>``."""
    return event_id if floor is None else f"{event_id}{_FLOOR_MARK}{floor}"


def _parsed(last_event_id: str) -> tuple[str, int | None] | None:
    """The event id and resume floor of a stream id; ``None``: a floor that is no ``seq``."""
    event_id, mark, floor = last_event_id.rpartition(_FLOOR_MARK)
    if not mark:
        return last_event_id, None
    if not (floor.isascii() and floor.isdigit() and len(floor) <= _SEQ_DIGITS) or not event_id:
        return None
    return event_id, int(floor)


@dataclass(frozen=True, slots=True)
class Missed:
    """The events after ``Last-Event-ID`` (``events``, as the stream sends them), or ``known``
    false: the id is not in the history (purged, or never this gateway's) or more than
    ``limit`` events came after it, and the page must re-read everything (``resync``).
    ``newest``: for a stream opened afresh, the newest event in the history, given with the
    ``hello`` so that a page cut before its first event still names where it left off.
    ``after``: the ``seq`` the events were read after (``None``: none were read)."""

    known: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    newest: str | None = None
    after: int | None = None


def missed_events(
    engine: Engine, principal: Principal, last_event_id: str | None, limit: int
) -> Missed:
    """The events committed after ``last_event_id`` that ``principal`` covers, oldest first, at
    most ``limit``; an event kept both for a core and as the record is given once. With a resume
    floor in ``last_event_id`` (module docstring), those after the floor if it is below the
    named event, but the named event. Without ``last_event_id`` (a stream opened afresh): none,
    and the newest event's id.

    Read once the stream's subscription is open: an event committed since is both read here
    and queued, and the stream sends it once; one committed before is read here."""
    if last_event_id is None:
        with Session(engine) as session:
            newest = session.scalar(
                select(OutboxRow.event_id)
                .where(OutboxRow.destination.in_(EVENT_DESTINATIONS))
                .order_by(OutboxRow.seq.desc())
                .limit(1)
            )
        return Missed(known=True, newest=newest or BEGINNING)
    parsed = None if len(last_event_id) > LAST_EVENT_ID_LENGTH else _parsed(last_event_id)
    if parsed is None:
        return Missed(known=False)
    named, floor = parsed
    with Session(engine) as session:
        after = (
            0
            if named == BEGINNING
            else session.scalar(
                select(OutboxRow.seq)
                .where(
                    OutboxRow.event_id == named,
                    OutboxRow.destination.in_(EVENT_DESTINATIONS),
                )
                .order_by(OutboxRow.seq)
                .limit(1)
            )
        )
        if after is None:
            return Missed(known=False)
        if floor is not None:
            after = min(after, floor)
        stmt = select(
            OutboxRow.event_id,
            OutboxRow.type,
            OutboxRow.subject,
            OutboxRow.event_time,
            OutboxRow.body,
        ).where(OutboxRow.seq > after, OutboxRow.destination.in_(EVENT_DESTINATIONS))
        scope, kept = scope_query(principal), kept_guards_in_scope(principal)
        if scope is not None and kept is not None:
            # A leader: his guards' events, and those of the guards of kept shifts of his
            # (sorted out below, event by event); a device's are no guard's.
            stmt = stmt.where(or_(OutboxRow.subject.in_(scope), OutboxRow.subject.in_(kept)))
        # Twice the limit: an event may have a row under each destination.
        rows = session.execute(stmt.order_by(OutboxRow.seq).limit(2 * limit + 1)).all()
        events: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.event_id not in events and row.event_id != named:
                events[row.event_id] = {
                    "id": row.event_id,
                    "type": row.type,
                    "subject": row.subject,
                    "time": row.event_time.isoformat(),
                    "data": json.loads(row.body).get("data", {}),
                }
        if scope is not None:
            pairs = ((e["subject"], e["data"].get("shift_id")) for e in events.values())
            scopes = read_event_scopes(session, pairs)
            events = {
                event_id: event
                for event_id, event in events.items()
                if principal.covers(*scopes.of(event["subject"], event["data"].get("shift_id")))
            }
    if len(events) > limit or len(rows) > 2 * limit:
        return Missed(known=False)
    return Missed(known=True, events=list(events.values()), after=after)
