"""Delivery to one group robot: its outbox rows as messages, at most N a minute, digests beyond.

Guarantees (besides those of every outbox destination: nothing is lost, a row is marked delivered
only after the robot said ``errcode 0``, in the same transaction for every event a message
carried, so a restart never sends a delivered event again):

* **A cap per group.** At most ``max_per_min`` requests reach the robot in any 60 s of the
  injected clock (attempts that failed count too: the platform counts them). The window is kept
  in memory and, after a restart, seeded from the rows delivered in the last minute (each row
  counted as one message: at worst the gateway waits a little longer than needed).
* **Digests, not floods.** While as many events wait as the window still allows, each goes out
  on its own. When more wait, the earliest are merged, in order, into a digest (as many as fit
  one message), and so on while the window allows; the rest keep waiting. A flapping terminal
  therefore costs its group a few digests a minute, never a flood, and nothing is dropped.
* **SOS first.** An ``alert.sos`` goes out on its own, before anything else waiting, and is never
  merged into a digest. This is the one exception to the order of a guard's events.
* **One group, one queue.** A failure is the group's (its webhook is down, its key is wrong, it
  is rate-limited), so every event of the group waits until the failed message's back-off ends
  (exponential, ``retry_initial_s`` doubling up to ``retry_max_s``; at least a minute after a
  rate-limit answer), then the events go out again in order. Order per guard follows.
* **A message refused for its content does not stall the group.** The platform refusing that
  message itself (``DeliveryFailed.refused``) says nothing of the next: its events are set aside
  (``refused_at``, logged at ERROR once, listed and sent again by ``guard-gateway outbox``), and
  the group's later alerts, an SOS included, go on.

The one window of at-least-once: a process killed between the robot's answer and the commit of
``delivered_at`` sends that message again after restart (a robot cannot de-duplicate).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Row, func, select, update

from gateway.clock import Clock
from gateway.db.models import CheckpointRow
from gateway.outbox.delivery import backoff_s
from gateway.outbox.passes import DeliveryStats, PassRunner
from gateway.outbox.robot_messages import RobotMessage, RobotText, pack_digest, render, single
from gateway.outbox.robots import RobotSender, RobotTarget
from gateway.outbox.senders import DeliveryFailed
from gateway.outbox.tables import OutboxRow

__all__ = ["WINDOW", "RobotCounts", "RobotDeliveryWorker"]

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=60)


@dataclass(slots=True)
class RobotCounts:
    """Totals since the worker was built: events delivered, messages and digests sent, failed
    requests."""

    events: int = 0
    messages: int = 0
    digests: int = 0
    failures: int = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    seq: int
    attempts: int
    text: RobotText


class RobotDeliveryWorker(PassRunner):
    """Delivers the outbox rows of ``target``'s destination through ``sender``.

    :meth:`run_once` for one pass, or :meth:`start` / :meth:`stop` for the background thread.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        sender: RobotSender,
        target: RobotTarget,
        *,
        max_per_min: int = 15,
        batch_size: int = 500,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 300.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        if max_per_min < 1:
            raise ValueError("max_per_min must be at least 1")
        if retry_initial_s <= 0 or retry_max_s < retry_initial_s:
            raise ValueError("need 0 < retry_initial_s <= retry_max_s")
        super().__init__(clock, target.destination, poll_interval_s)
        self._engine = engine
        self._sender = sender
        self.target = target
        self._max_per_min = max_per_min
        self._batch_size = batch_size
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._sent: deque[datetime] | None = None
        self.counts = RobotCounts()

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self) -> DeliveryStats:
        """Send what the window allows (see the module docstring). Database errors propagate;
        robot errors are recorded on the rows and end the pass."""
        now = self._clock.now()
        rows = self._pending_rows()
        if not rows:
            return DeliveryStats()
        backing_off = max(r.next_attempt_at for r in rows)
        if backing_off > now:
            return DeliveryStats(held_back=len(rows), next_due=backing_off)
        sent = self._window(now)
        pending = self._render(rows)
        urgent = [p for p in pending if p.text.urgent]
        queue = [p for p in pending if not p.text.urgent]
        delivered = refused = 0
        while (urgent or queue) and len(sent) < self._max_per_min:
            if self._stopping.is_set():
                break
            slots = self._max_per_min - len(sent)
            if urgent:
                batch, message = [urgent.pop(0)], None
            elif len(queue) <= slots:
                batch, message = [queue.pop(0)], None
            else:
                message = pack_digest([p.text for p in queue])
                batch, queue = queue[: message.count], queue[message.count :]
            if message is None:
                message = single(batch[0].text)
            sent.append(now)
            outcome = self._send(message, batch)
            if outcome is None:
                return DeliveryStats(
                    delivered=delivered,
                    failed=len(batch),
                    refused=refused,
                    next_due=self._next_retry(),
                )
            if outcome:
                delivered += len(batch)
            else:
                refused += len(batch)
        waiting = len(urgent) + len(queue)
        return DeliveryStats(
            delivered=delivered,
            refused=refused,
            held_back=waiting,
            batch_full=len(rows) >= self._batch_size and not waiting,
            next_due=sent[0] + WINDOW if waiting else None,
        )

    def _pending_rows(self) -> list[Row[tuple[int, str, int, datetime]]]:
        stmt = (
            select(OutboxRow.seq, OutboxRow.body, OutboxRow.attempts, OutboxRow.next_attempt_at)
            .where(*self._pending())
            .order_by(OutboxRow.seq)
            .limit(self._batch_size)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(stmt).all())

    def _render(self, rows: list[Row[tuple[int, str, int, datetime]]]) -> list[_Pending]:
        with self._engine.connect() as conn:
            names = dict(
                conn.execute(
                    select(CheckpointRow.id, CheckpointRow.name).where(
                        CheckpointRow.site_id == self.target.site_id
                    )
                )
                .tuples()
                .all()
            )
        return [
            _Pending(
                row.seq, row.attempts, render(json.loads(row.body), self.target.timezone, names)
            )
            for row in rows
        ]

    def _window(self, now: datetime) -> deque[datetime]:
        """Requests in the last 60 s of the clock; seeded from the outbox after a restart."""
        if self._sent is None:
            stmt = (
                select(OutboxRow.delivered_at)
                .where(
                    OutboxRow.destination == self.destination,
                    OutboxRow.delivered_at > now - WINDOW,
                )
                .order_by(OutboxRow.delivered_at.desc())
                .limit(self._max_per_min)
            )
            with self._engine.connect() as conn:
                seeded = [t for t in conn.execute(stmt).scalars() if t is not None]
            self._sent = deque(sorted(seeded))
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        return self._sent

    def _pending(self) -> tuple[ColumnElement[bool], ...]:
        """The group's rows still to deliver: undelivered, not set aside as refused."""
        return (
            OutboxRow.destination == self.destination,
            OutboxRow.delivered_at.is_(None),
            OutboxRow.refused_at.is_(None),
        )

    def _send(self, message: RobotMessage, batch: list[_Pending]) -> bool | None:
        """Post one message: ``True`` delivered, ``False`` refused for its content (its rows
        set aside), ``None`` failed (the group waits)."""
        seqs = [p.seq for p in batch]
        attempts = max(p.attempts for p in batch) + 1
        try:
            self._sender.post(message)
        except DeliveryFailed as exc:
            if exc.refused:
                self._mark_refused(seqs, attempts, exc, message.title)
                return False
            self._mark_failed(seqs, attempts, exc)
            return None
        except Exception as exc:  # a sender bug must not kill delivery nor drop the rows
            log.exception("robot sender raised unexpectedly for %s", self.destination)
            self._mark_failed(seqs, attempts, DeliveryFailed(repr(exc), retryable=True))
            return None
        with self._engine.begin() as conn:
            conn.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_(seqs))
                .values(delivered_at=self._clock.now(), attempts=OutboxRow.attempts + 1)
            )
        self.counts.events += len(batch)
        self.counts.messages += 1
        self.counts.digests += len(batch) > 1
        log.debug("sent %d event(s) to %s: %s", len(batch), self.target.label, message.title)
        return True

    def _mark_refused(
        self, seqs: list[int], attempts: int, exc: DeliveryFailed, title: str
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_(seqs))
                .values(
                    attempts=attempts, refused_at=self._clock.now(), last_error=exc.reason[:2000]
                )
            )
        self.counts.failures += 1
        log.error(
            "%s refused the message %r (%d event(s)) for its content; its events are kept "
            "aside and the group's later alerts go on; send them again with "
            "'guard-gateway outbox retry': %s",
            self.target.label,
            title,
            len(seqs),
            exc.reason,
        )

    def _mark_failed(self, seqs: list[int], attempts: int, exc: DeliveryFailed) -> None:
        delay = (
            backoff_s(attempts, self._retry_initial_s, self._retry_max_s)
            if exc.retryable
            else self._retry_max_s
        )
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self._retry_max_s))
        now = self._clock.now()
        with self._engine.begin() as conn:
            conn.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_(seqs))
                .values(
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=delay),
                    last_error=exc.reason[:2000],
                )
            )
        self.counts.failures += 1
        log.warning(
            "message to %s failed (attempt %d, %d event(s) wait %.1f s): %s",
            self.target.label,
            attempts,
            len(seqs),
            delay,
            exc.reason,
        )

    def _next_retry(self) -> datetime | None:
        stmt = select(func.max(OutboxRow.next_attempt_at)).where(*self._pending())
        with self._engine.connect() as conn:
            value: datetime | None = conn.execute(stmt).scalar_one_or_none()
        return value
