"""The other processes' events for this process's open streams: the outbox read as it grows.

In a partitioned gateway each process runs its own guards' rules, and its ``LiveFeed`` hears
its own pipeline's commits only. A leader's page talks to one process, but his guards are
spread over every partition: his stream must carry his guards' events whichever process
decided them (his token's scope, not the process's). The history is shared (the outbox), so
while streams are open this process reads the event rows the others commit and hands them to
the feed (``LiveFeed.relay``), which sends each to the streams whose token covers its guard.

Contract:

* An event another process commits while a stream is open reaches it once, one to two reads
  (``interval_s`` each) after its commit; this process's own events come from its pipeline
  (``LiveFeed.publish``) and are not sent again. A row read is held back one read before it
  is handed on: the pipeline names its events to the feed right after its commit, so by then
  an event of this process's own is known as such.
* The outbox's ``seq`` is drawn when a row is inserted, so with several writers a smaller
  ``seq`` may commit after a larger one. The reader keeps the ``floor`` below which it has seen
  every row, and reads the rows after the newest it has read and those of the gaps between
  (never again the rows read already, however many a burst committed above a gap); a ``seq``
  still missing after ``GAP_READS`` reads was an insert rolled back (a fenced batch, or a
  sequence value PostgreSQL drew and never used) and is passed over.
* While no stream is open, nothing is read. The reader begins at the newest ``seq`` when a
  stream opens, watching the seqs missing among the ``LOOK_BACK_SEQS`` below it as gaps (a row
  another process had under way then is handed on when it commits): a stream opened afresh
  carries what is committed after it opened; a page back after a cut gets what it missed from
  the history (``gateway.web.resume``).
* ``handed_on``: a ``seq`` at or below which every row committed since the reader began was
  handed on (or was this process's own, or passed over), read after read. A batch is relayed
  with the floor of the read that found it (every row at or below was found by then, so it is
  in this batch or an earlier one), and ``handed_on`` takes that floor only once the batch is
  handed on: an event this process publishes after reading it comes after every row below it
  on each stream. The feed gives it in the streams' event ids, where a page resumes from
  (``gateway.web.resume``); ``None`` until the reader's first read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow

__all__ = ["GAP_READS", "LOOK_BACK_SEQS", "READ_EVERY_S", "OutboxTail"]

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0
"""How often the outbox is read while a stream is open."""
GAP_READS = 30
"""Reads after which a ``seq`` still missing is passed over: no pipeline transaction stays
open that long (a batch's budget is a fraction of a second)."""
LOOK_BACK_SEQS = 10_000
"""Seqs below the newest at which the reader begins that it watches as gaps: more than the
other processes' transactions in flight can have drawn (a batch's budget is a fraction of a
second, even at a city's shift change)."""
_ROWS_PER_READ = 5000
_GAPS_PER_READ = 1000
_RELAYED_KEPT = 8192
"""Ids of events handed on lately: an event's rows (core and record) are handed on once."""

Relay = Callable[[list[dict[str, Any]], int], None]
"""Takes a batch of events and the ``seq`` at or below which every row was handed on with it
or before it."""


class OutboxTail:
    """Reads the outbox rows committed after ``floor`` and hands their events to ``relay``
    (one read later, with the floor of the read that found them); ``has_streams()`` says
    whether any stream is open. ``read`` runs on
    one thread at a time: the reader thread (``ensure_running``) or a test."""

    def __init__(
        self,
        engine: Engine,
        relay: Relay,
        has_streams: Callable[[], bool],
        *,
        interval_s: float = READ_EVERY_S,
    ) -> None:
        self._engine = engine
        self._relay = relay
        self._has_streams = has_streams
        self._interval_s = interval_s
        self._floor: int | None = None
        self.handed_on: int | None = None
        """Every row at or below was handed on (module docstring); set by the reader only."""
        self._seen: set[int] = set()
        """The seqs above ``floor`` read already."""
        self._missing: dict[int, int] = {}
        """A seq above ``floor`` not read yet → the read that first found it missing."""
        self._reads = 0
        self._held: list[dict[str, Any]] = []
        self._relayed: deque[str] = deque(maxlen=_RELAYED_KEPT)
        self._relayed_ids: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        """Start the reader thread unless it runs; it ends by itself once no stream is open."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="outbox-tail", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.read()
            except Exception:  # a database hiccup: read again at the next turn
                log.exception("reading the outbox for the live streams failed")
            with self._lock:
                if not self._has_streams():
                    self._thread = None
                    self._floor = None  # the next stream begins at the newest row
                    self.handed_on = None
                    return
            threading.Event().wait(self._interval_s)

    def read(self) -> None:
        """One read: hand on what the previous read found, take in the rows since."""
        with Session(self._engine) as session:
            if self._floor is None:
                self._begin(session)
                return
            columns = select(
                OutboxRow.seq,
                OutboxRow.destination,
                OutboxRow.event_id,
                OutboxRow.type,
                OutboxRow.subject,
                OutboxRow.event_time,
                OutboxRow.body,
            )
            # The rows after the newest read, and those of the gaps below it: never the rows
            # read already, however many a burst put above a gap.
            top = max(self._seen, default=self._floor)
            rows = list(
                session.execute(
                    columns.where(OutboxRow.seq > top).order_by(OutboxRow.seq).limit(_ROWS_PER_READ)
                ).all()
            )
            gaps = sorted(self._missing)[:_GAPS_PER_READ]
            if gaps:
                rows += session.execute(columns.where(OutboxRow.seq.in_(gaps))).all()
                rows.sort(key=lambda row: int(row.seq))
        self._reads += 1
        ready, self._held = self._held, []
        found_by = self._floor  # every row at or below was in ``ready`` or handed on before
        for row in rows:
            if row.seq in self._seen:
                continue
            self._seen.add(row.seq)
            self._missing.pop(row.seq, None)
            if row.destination in EVENT_DESTINATIONS:
                self._held.append(
                    {
                        "id": row.event_id,
                        "type": row.type,
                        "subject": row.subject,
                        "time": row.event_time.isoformat(),
                        "data": json.loads(row.body).get("data", {}),
                    }
                )
        self._advance()
        fresh = [message for message in ready if self._first_time(message["id"])]
        if fresh:
            self._relay(fresh, found_by)
        self.handed_on = found_by

    def _begin(self, session: Session) -> None:
        """Begin at the newest row, with the seqs missing among the ``LOOK_BACK_SEQS`` below it
        as gaps: another process may have drawn one and not committed yet. The rows there,
        committed before the reader began, are taken as read, not handed on."""
        newest = select(func.max(OutboxRow.seq)).scalar_subquery()
        # One statement, one snapshot: a row committed after it is found by the next read.
        window = session.scalars(
            select(OutboxRow.seq).where(OutboxRow.seq > newest - LOOK_BACK_SEQS)
        )
        self._seen = {int(seq) for seq in window}
        self._floor = max(0, max(self._seen, default=0) - LOOK_BACK_SEQS)
        self._missing.clear()
        self._held = []
        self._advance()
        self.handed_on = self._floor  # nothing held: every row at or below is behind it

    def _advance(self) -> None:
        assert self._floor is not None
        top = max(self._seen, default=self._floor)
        for seq in range(self._floor + 1, top):
            if seq not in self._seen:
                self._missing.setdefault(seq, self._reads)
        while True:
            after = self._floor + 1
            if after in self._seen:
                self._seen.discard(after)
            elif after in self._missing and self._reads - self._missing[after] >= GAP_READS:
                del self._missing[after]
            else:
                return
            self._floor = after

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._relayed_ids:
            return False
        if len(self._relayed) == self._relayed.maxlen:
            self._relayed_ids.discard(self._relayed[0])
        self._relayed.append(event_id)
        self._relayed_ids.add(event_id)
        return True
