"""The delivery worker: takes due outbox rows and hands them to a sender, in order per subject.

Guarantees
----------
* **Nothing is lost.** A row is marked delivered only after the sender returned, in its own
  transaction. Failures are retried for ever with exponential back-off (``retry_initial_s``,
  doubling, capped at ``retry_max_s``); a non-retryable answer is retried on ``retry_max_s``.
* **At-least-once on the wire, exactly-once by id at the core.** If the process dies between the
  POST and the commit of ``delivered_at``, the row is sent again after restart with the *same* bytes
  and the *same* CloudEvents ``id``; the core must de-duplicate on ``id`` (the stub does).
* **Order per subject** (guard): a subject's later event waits while an earlier one is undelivered
  (failing or backing off); other subjects carry on, so one guard's trouble does not stall the site.
* **An event refused for itself does not stall its guard.** When the destination refuses one
  event's content (``DeliveryFailed.refused``: the core's 400, 413, 415 or 422, say a type newer
  than its catalogue), the row is marked ``refused_at`` with the answer in ``last_error``,
  logged at ERROR once, and left out of the order: the subject's later events go on, in order
  among themselves. An alarm must not wait for an operator to notice that the core is a version
  behind; the refused row is kept, counted (``delivery.refused`` on /health and /metrics) and
  sent again, same id and bytes, by ``guard-gateway outbox retry`` (``gateway.outbox.refused``).
  A refusal of the destination itself (401, 403, 404: wrong secret or URL) would refuse every
  event alike: it is retried like an outage, the subject waiting.

``attempts`` on a row counts every try, the successful one included; ``last_error`` keeps the
latest failure for the record.

Several workers (threads, processes) on one destination need ``shared=True``, on PostgreSQL:
each pass then locks, in one transaction, the *head* row (earliest undelivered) of a few
subjects whose head is due, ``FOR UPDATE SKIP LOCKED``; it sends those subjects' rows in order,
marks each delivered or failed, and commits. A head locked by another worker is skipped, and a
subject's next row becomes its head only once the commit marks the previous ones delivered, so
no two workers ever work the same subject: no event is sent twice by two workers and each
subject's order is kept.
A worker killed mid-pass leaves its rows undelivered (its locks go with its connection): they
are sent again, same ids, as after any crash. Without ``shared`` (SQLite, one worker) a pass
reads every due row at once, as before: run one such worker per destination only. Time comes
from the injected clock only; real waits are divided by ``clock.rate`` so an accelerated demo
retries in step.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Subquery, Update, func, select, update

from gateway.clock import Clock
from gateway.outbox.backlog import Backlog, backlog
from gateway.outbox.passes import DeliveryStats, PassRunner
from gateway.outbox.senders import (
    DeliveryFailed,
    HttpCoreSender,
    OutboundEvent,
    PendingEvent,
    Sender,
)
from gateway.outbox.tables import OutboxRow

__all__ = [
    "Backlog",
    "DeliveryFailed",
    "DeliveryStats",
    "DeliveryWorker",
    "HttpCoreSender",
    "OutboundEvent",
    "PendingEvent",
    "Sender",
    "backlog",
    "backoff_s",
]

log = logging.getLogger(__name__)

SUBJECTS_PER_SHARED_PASS = 8
"""Subjects one shared pass takes (their heads stay locked until its commit). Few enough that
the other workers find subjects of their own at once; each subject's rows behind its head go
in the same pass, so a guard's backlog costs one lock, not one pass a row. Measured with 5,000
events of 100 subjects, PostgreSQL, the core stub on the same two cores: 2 shared workers in
one process delivered 131 events/s taking one head a pass, 263/s this way; one unshared
worker 476/s (the workers share one interpreter, and the stub answers without network delay:
a second worker pays where the core is far or runs in another process)."""

_PENDING_COLUMNS = (
    OutboxRow.seq,
    OutboxRow.event_id,
    OutboxRow.destination,
    OutboxRow.subject,
    OutboxRow.type,
    OutboxRow.body,
    OutboxRow.attempts,
)


def backoff_s(attempts: int, initial_s: float, max_s: float) -> float:
    """Delay after the ``attempts``-th failed try: ``initial_s * 2**(attempts-1)``, capped."""
    if attempts < 1:
        return 0.0
    return min(max_s, initial_s * 2.0 ** min(attempts - 1, 62))


class DeliveryWorker(PassRunner):
    """Delivers outbox rows of one ``destination`` through ``sender``.

    Call :meth:`run_once` for one pass (tests, CLI), or :meth:`start` / :meth:`stop` for a
    background thread that runs a pass whenever something is due, at least every
    ``poll_interval_s`` wall seconds, and at once after :meth:`notify`.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        sender: Sender,
        *,
        destination: str = "core",
        batch_size: int = 100,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 300.0,
        poll_interval_s: float = 1.0,
        shared: bool = False,
    ) -> None:
        if shared and engine.dialect.name != "postgresql":
            raise ValueError("shared delivery (several workers) needs PostgreSQL")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if retry_initial_s <= 0 or retry_max_s < retry_initial_s:
            raise ValueError("need 0 < retry_initial_s <= retry_max_s")
        super().__init__(clock, destination, poll_interval_s)
        self._engine = engine
        self._sender = sender
        self._batch_size = batch_size
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._shared = shared

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self) -> DeliveryStats:
        """Try every due row once, in ``seq`` order, keeping order per subject.

        Database errors propagate (the caller or the loop retries the pass); sender errors are
        recorded on the row and never propagate.
        """
        if self._shared:
            return self._run_heads()
        now = self._clock.now()
        rows = self._due_rows(now)
        tally = _Tally()
        for row, due_at in rows:
            if self._stopping.is_set():
                break
            if tally.waits(row.subject, due_at, now):
                continue
            failure = self._attempt(row)
            tally.count(row.subject, failure)
            with self._engine.begin() as conn:
                conn.execute(self._outcome(row, failure))
        return DeliveryStats(
            delivered=tally.delivered,
            failed=tally.failed,
            refused=tally.refused,
            held_back=tally.waited,
            batch_full=len(rows) >= self._batch_size,
            next_due=self._next_due(),
        )

    def _run_heads(self) -> DeliveryStats:
        """A shared pass (see the module docstring): lock the due heads of up to
        ``SUBJECTS_PER_SHARED_PASS`` subjects no other worker holds, then send those subjects'
        due rows in order, up to ``batch_size``, marking each, and commit once.

        The locked head is the subject's token: another worker can take the subject only by
        locking its head, so the rows behind it are this pass's alone until the commit. A
        subject whose row fails, or is not due, sends nothing more in this pass.
        """
        now = self._clock.now()
        heads = select(func.min(OutboxRow.seq)).where(*self._pending()).group_by(OutboxRow.subject)
        lock = (
            select(OutboxRow.subject)
            .where(
                OutboxRow.seq.in_(heads),
                # Checked again on the locked row: a head another worker just delivered drops out.
                *self._pending(),
                OutboxRow.next_attempt_at <= now,
            )
            .order_by(OutboxRow.seq)
            .limit(SUBJECTS_PER_SHARED_PASS)
            .with_for_update(skip_locked=True)
        )
        tally = _Tally()
        with self._engine.begin() as conn:
            subjects = list(conn.execute(lock).scalars())
            rows = conn.execute(
                select(*_PENDING_COLUMNS, OutboxRow.next_attempt_at)
                .where(*self._pending(), OutboxRow.subject.in_(subjects))
                .order_by(OutboxRow.seq)
                .limit(self._batch_size)
            ).all()
            for r in rows if subjects else ():
                if self._stopping.is_set():
                    break
                if tally.waits(r.subject, r.next_attempt_at, now):
                    continue
                row = PendingEvent(
                    r.seq, r.event_id, r.destination, r.subject, r.type, r.body, r.attempts
                )
                failure = self._attempt(row)
                tally.count(row.subject, failure)
                conn.execute(self._outcome(row, failure))
        # The subjects' next rows became their heads with this commit: another pass at once.
        # (The rows that waited are the locked subjects' own: none is counted as held back.)
        return DeliveryStats(
            delivered=tally.delivered,
            failed=tally.failed,
            refused=tally.refused,
            batch_full=tally.delivered + tally.refused > 0,
            next_due=self._next_due(),
        )

    def _attempt(self, row: PendingEvent) -> DeliveryFailed | None:
        """Hand ``row`` to the sender: ``None`` once delivered, else why not."""
        try:
            self._sender.send(row)
        except DeliveryFailed as exc:
            return exc
        except Exception as exc:  # a sender bug must not kill delivery nor drop the row
            log.exception("sender raised unexpectedly for event %s", row.event_id)
            return DeliveryFailed(repr(exc), retryable=True)
        return None

    def _outcome(self, row: PendingEvent, failure: DeliveryFailed | None) -> Update:
        if failure is None:
            return self._delivered(row)
        if failure.refused:
            return self._refused(row, failure)
        return self._failed(row, failure)

    def _pending(self) -> tuple[ColumnElement[bool], ...]:
        """Rows still to deliver: undelivered and not set aside as refused."""
        return (
            OutboxRow.destination == self.destination,
            OutboxRow.delivered_at.is_(None),
            OutboxRow.refused_at.is_(None),
        )

    def _heads(self) -> Subquery:
        """Per subject, the seq of its earliest undelivered row."""
        return (
            select(OutboxRow.subject, func.min(OutboxRow.seq).label("head"))
            .where(*self._pending())
            .group_by(OutboxRow.subject)
            .subquery()
        )

    def _due_rows(self, now: datetime) -> list[tuple[PendingEvent, datetime]]:
        heads = self._heads()
        # Subjects whose earliest undelivered row is backing off: nothing of theirs may go now.
        waiting = (
            select(OutboxRow.subject)
            .join(heads, OutboxRow.seq == heads.c.head)
            .where(OutboxRow.next_attempt_at > now)
        )
        stmt = (
            select(*_PENDING_COLUMNS, OutboxRow.next_attempt_at)
            .where(*self._pending(), OutboxRow.subject.not_in(waiting))
            .order_by(OutboxRow.seq)
            .limit(self._batch_size)
        )
        with self._engine.connect() as conn:
            result = conn.execute(stmt).all()
        return [
            (
                PendingEvent(
                    r.seq, r.event_id, r.destination, r.subject, r.type, r.body, r.attempts
                ),
                r.next_attempt_at,
            )
            for r in result
        ]

    def _next_due(self) -> datetime | None:
        heads = self._heads()
        stmt = select(func.min(OutboxRow.next_attempt_at)).join(
            heads, OutboxRow.seq == heads.c.head
        )
        with self._engine.connect() as conn:
            value: datetime | None = conn.execute(stmt).scalar_one_or_none()
        return value

    def _delivered(self, row: PendingEvent) -> Update:
        log.debug("delivered event %s (%s) to %s", row.event_id, row.type, self.destination)
        return (
            update(OutboxRow)
            .where(OutboxRow.seq == row.seq)
            .values(delivered_at=self._clock.now(), attempts=OutboxRow.attempts + 1)
        )

    def _refused(self, row: PendingEvent, exc: DeliveryFailed) -> Update:
        """Set ``row`` aside: its subject's later rows no longer wait for it (module docstring).
        Logged here, once per refusal, with the destination's answer."""
        log.error(
            "%s refused event %s (%s) of %s for its content; it is kept aside and the later "
            "events go on; after fixing the %s, send it again with "
            "'guard-gateway outbox retry --type %s': %s",
            self.destination,
            row.event_id,
            row.type,
            row.subject,
            self.destination,
            row.type,
            exc.reason,
        )
        return (
            update(OutboxRow)
            .where(OutboxRow.seq == row.seq)
            .values(
                attempts=row.attempts + 1,
                refused_at=self._clock.now(),
                last_error=exc.reason[:2000],
            )
        )

    def _failed(self, row: PendingEvent, exc: DeliveryFailed) -> Update:
        attempts = row.attempts + 1
        if exc.retryable:
            delay = backoff_s(attempts, self._retry_initial_s, self._retry_max_s)
        else:
            delay = self._retry_max_s
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self._retry_max_s))
        now = self._clock.now()
        log.warning(
            "event %s (%s) to %s failed (attempt %d, retry in %.1f s): %s",
            row.event_id,
            row.type,
            self.destination,
            attempts,
            delay,
            exc.reason,
        )
        return (
            update(OutboxRow)
            .where(OutboxRow.seq == row.seq)
            .values(
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=exc.reason[:2000],
            )
        )


class _Tally:
    """The outcomes of one pass's attempts, and the subjects it sends nothing more of: each
    subject's events go in order, so one whose row failed or is not due yet waits."""

    def __init__(self) -> None:
        self.delivered = self.failed = self.refused = self.waited = 0
        self._blocked: set[str] = set()

    def waits(self, subject: str, due_at: datetime, now: datetime) -> bool:
        """Whether a row of ``subject`` due at ``due_at`` is not sent in this pass (behind one
        of its subject that failed or was not due, or not due itself), counted in ``waited``."""
        if subject not in self._blocked and due_at <= now:
            return False
        self._blocked.add(subject)
        self.waited += 1
        return True

    def count(self, subject: str, failure: DeliveryFailed | None) -> None:
        """Count an attempt's outcome (``None``: delivered); a failure blocks its subject."""
        if failure is None:
            self.delivered += 1
        elif failure.refused:
            self.refused += 1
        else:
            self._blocked.add(subject)
            self.failed += 1
