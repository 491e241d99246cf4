"""The live feed: the pipeline's committed events pushed to open pages as server-sent events.

``LiveFeed.publish`` is a ``Processor`` listener: it runs on the pipeline's owner thread after a
commit, so a page never hears of an event that could still roll back. Each open stream is a
``Subscription`` with a bounded queue on the server's event loop; an event goes to a stream only
when its principal covers the guard it concerns, or the shift it belongs to when a site load
ended that shift with its guard moved (``gateway.api.shift_scope``); a device's own events:
unscoped tokens only.
A stream that falls too far behind is ended with a ``resync`` event rather than letting memory
grow: the page reconnects and re-reads ``/whereabouts`` and ``/alerts``, the truth.

Each event's SSE id is where a page cut after it resumes (``gateway.web.resume``): the event's
own id, and in a partitioned gateway also a resume floor, ``<event id>@<seq>``: every event at
or below that ``seq`` the stream's token covers and committed while it was open was sent on the
stream before this one (the other processes' by the outbox's reader, ``OutboxTail.handed_on``;
this process's own right after their commit, before the reader's next read). The event data's
``id`` is the bare event id, by which a client dedupes what a resume sends again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.shift_scope import EventScopes, read_event_scopes
from gateway.api.tokens import Principal
from gateway.pipeline.context import EmittedEvent
from gateway.web.resume import BEGINNING, Missed, resume_id
from gateway.web.tail import OutboxTail

__all__ = ["QUEUE_LIMIT", "LiveFeed", "Subscription"]

log = logging.getLogger(__name__)

QUEUE_LIMIT = 512
"""Events a stream may have waiting; beyond, it is ended with ``resync``."""

_MINE_KEPT = 65536
"""Ids of this process's latest events, which the outbox's reader must not send again: more
than a pipeline commits between two of its reads, even at a city's shift change."""

Outgoing = tuple[dict[str, Any], str | None]
"""An event as queued for a stream: the message and its SSE id (``None``: the message's id)."""

_KEEPALIVE: Outgoing = ({}, None)
"""Stands for a quiet ``keepalive_s`` in ``event_stream``'s loop (compared by identity)."""


@dataclass(eq=False)
class Subscription:
    """One open stream: whose it is and the queue its events wait in (``None``: end it)."""

    principal: Principal
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Outgoing | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )

    def offer(self, message: dict[str, Any], ident: str | None = None) -> None:
        """Queue ``message`` (SSE id ``ident``, by default its own id) from any thread; the
        stream sends what is offered in the order it was offered."""
        self.loop.call_soon_threadsafe(self._put, (message, ident))

    def _put(self, outgoing: Outgoing) -> None:
        try:
            self.queue.put_nowait(outgoing)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(({"type": "resync", "data": {"reason": "too far behind"}}, None))
            self.queue.put_nowait(None)


class LiveFeed:
    """Fans the pipeline's committed events out to the open streams, each within its scope.

    ``others``: in a partitioned gateway, the events the other processes commit are read from
    the outbox while a stream is open (``gateway.web.tail``) and sent as this process's own,
    so a stream carries every event its token covers, whichever process decided it."""

    def __init__(self, engine: Engine, *, others: bool = False) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._mine: deque[str] = deque(maxlen=_MINE_KEPT)
        self._mine_ids: set[str] = set()
        self._tail = OutboxTail(engine, self.relay, self.has_streams) if others else None

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def has_streams(self) -> bool:
        return self.open_streams > 0

    @property
    def reads_others(self) -> bool:
        return self._tail is not None

    def resume_floor(self) -> int | None:
        """The ``seq`` at or below which every event committed while a stream was open went to
        it (module docstring); ``None`` with one process, or before the outbox's first read."""
        return None if self._tail is None else self._tail.handed_on

    def subscribe(self, principal: Principal) -> Subscription:
        """A new stream for ``principal`` on the running event loop."""
        subscription = Subscription(principal, asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
        if self._tail is not None:  # outside the lock: the reader asks has_streams under its own
            self._tail.ensure_running()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def publish(self, events: Sequence[EmittedEvent]) -> None:
        """Hand a committed batch to every stream whose principal covers each event's guard."""
        # Taken before sending: what the reader handed on up to now is queued ahead of these.
        floor = self.resume_floor()
        if self._tail is not None:
            with self._lock:
                for event in events:
                    self._remember_mine(event.event_id)
        self._send(
            [
                {
                    "id": event.event_id,
                    "type": event.type,
                    "subject": event.subject,
                    "time": event.time.isoformat(),
                    "data": event.data,
                }
                for event in events
            ],
            floor,
        )

    def relay(self, messages: list[dict[str, Any]], floor: int) -> None:
        """Hand events read back from the outbox to the streams as ``publish`` does, but for
        those this process's pipeline committed itself (published already); ``floor``: every
        row at or below was handed on with these or before (``OutboxTail.handed_on``)."""
        with self._lock:
            others = [message for message in messages if message["id"] not in self._mine_ids]
        self._send(others, floor)

    def _remember_mine(self, event_id: str) -> None:
        if len(self._mine) == self._mine.maxlen:
            self._mine_ids.discard(self._mine[0])
        self._mine.append(event_id)
        self._mine_ids.add(event_id)

    def _send(self, messages: list[dict[str, Any]], floor: int | None) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        if not subscriptions or not messages:
            return
        scopes = self._scopes_of(messages)
        for message in messages:
            site_id, team = scopes.of(message["subject"], message["data"].get("shift_id"))
            for subscription in subscriptions:
                if subscription.principal.covers(site_id, team):
                    subscription.offer(message, resume_id(message["id"], floor))

    def _scopes_of(self, messages: list[dict[str, Any]]) -> EventScopes:
        """The site and team of each message's guard as stored now (a device, or a guard
        unknown to the store: ``NO_SCOPE``), or of its shift when a site load ended that shift
        with him moved or taken out (``gateway.api.shift_scope``). Read for every batch, never
        remembered: a site file loaded while the gateway runs moves a guard to another team,
        and from then on his new shifts' events are his new leader's, as their alerts are
        (``/alerts``), while his ended shift's stay with its own."""
        pairs = ((m["subject"], m["data"].get("shift_id")) for m in messages)
        with Session(self._engine) as session:
            return read_event_scopes(session, pairs)


async def event_stream(
    feed: LiveFeed,
    subscription: Subscription,
    keepalive_s: float,
    in_force: Callable[[], bool] = lambda: True,
    missed: Callable[[], Missed] | None = None,
) -> AsyncGenerator[str, None]:
    """The ``text/event-stream`` body of ``subscription``: a ``hello``, then each event as
    ``event: <type>`` with its JSON, and a comment line every ``keepalive_s`` of quiet so that
    proxies and the browser keep the connection open.

    ``missed`` (``gateway.web.resume``) is read once the subscription is open. For a page come
    back with ``Last-Event-ID``, its events follow the ``hello``, and an event both read back
    and queued since is sent once; when it cannot tell (an unknown id, too many events), a
    ``resync`` follows the ``hello`` and the stream goes on: the page re-reads everything. For a
    stream opened afresh, the ``hello`` carries the newest event's id, where a page cut before
    its first event resumes. In a partitioned gateway these ids carry a resume floor too
    (module docstring): the feed's, taken before the history is read (every row at or below was
    committed by then, so is read back if it is after the id resumed from), and for the events
    read back never below where the read began (``Missed.after``).

    ``in_force`` (the token's, read from the database) is asked before each event and each
    keep-alive: a token revoked while its page is open gets nothing more, and the stream ends
    (the browser's reconnection is then refused, 401)."""
    try:
        floor, found = await asyncio.to_thread(_look_back, feed, missed)
        if found.newest is None:
            newest = ""
        elif found.newest == BEGINNING:
            newest = f"id: {BEGINNING}\n"
        else:
            newest = f"id: {resume_id(found.newest, floor)}\n"
        yield f"retry: 3000\n{newest}event: hello\ndata: {{}}\n\n"
        if not found.known:
            yield _block(_RESYNC_UNKNOWN)
        if feed.reads_others and found.after is not None:
            floor = found.after if floor is None else max(found.after, floor)
        sent: set[str] = set()
        for event in found.events:
            sent.add(event["id"])
            yield _block(event, resume_id(event["id"], floor))
        while True:
            try:
                outgoing = await asyncio.wait_for(subscription.queue.get(), keepalive_s)
            except TimeoutError:
                outgoing = _KEEPALIVE
            if outgoing is None or not await asyncio.to_thread(in_force):
                return
            if outgoing is _KEEPALIVE:
                yield ": keep-alive\n\n"
                continue
            message, ident = outgoing
            if message.get("id") in sent:
                sent.discard(message["id"])
                continue
            yield _block(message, ident)
    finally:
        feed.unsubscribe(subscription)


_RESYNC_UNKNOWN: dict[str, Any] = {
    "type": "resync",
    "data": {"reason": "the last event received is not in the history, or too far back"},
}


def _look_back(feed: LiveFeed, missed: Callable[[], Missed] | None) -> tuple[int | None, Missed]:
    """The feed's resume floor, then what the page missed: in this order (``event_stream``)."""
    floor = feed.resume_floor()
    return floor, Missed(known=True) if missed is None else missed()


def _block(message: dict[str, Any], ident: str | None = None) -> str:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    if ident is None:
        ident = message.get("id")
    line = "" if ident is None else f"id: {ident}\n"
    return f"{line}event: {message['type']}\ndata: {body}\n\n"
