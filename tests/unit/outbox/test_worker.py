"""The delivery worker's schedule and ordering, on a ManualClock with an in-process sender."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.outbox.delivery import (
    DeliveryFailed,
    DeliveryWorker,
    OutboundEvent,
    backlog,
    backoff_s,
)
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class ScriptedSender:
    """Records every event it is handed; ``decide(event)`` raises to refuse it."""

    def __init__(self, decide: Callable[[OutboundEvent], None] = lambda e: None) -> None:
        self.sent: list[str] = []
        self.decide = decide

    def send(self, event: OutboundEvent) -> None:
        self.sent.append(event.event_id)
        self.decide(event)


def _put(engine: Engine, clock: ManualClock, key: str, subject: str) -> str:
    with Session(engine) as session, session.begin():
        return enqueue(
            session,
            key=key,
            type="presence.departed",
            subject=subject,
            time=clock.now(),
            data={},
            now=clock.now(),
        )


def _row(engine: Engine, event_id: str) -> OutboxRow:
    with Session(engine) as session:
        return session.scalars(select(OutboxRow).where(OutboxRow.event_id == event_id)).one()


def _refuse(exc: DeliveryFailed) -> Callable[[OutboundEvent], None]:
    def decide(_event: OutboundEvent) -> None:
        raise exc

    return decide


def test_backoff_doubles_from_initial_and_is_capped() -> None:
    assert [backoff_s(n, 1.0, 60.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_s(10_000, 1.0, 300.0) == 300.0


def test_failing_event_is_retried_on_the_backoff_schedule_and_not_before(engine: Engine) -> None:
    clock = ManualClock(T0)
    sender = ScriptedSender(_refuse(DeliveryFailed("HTTP 503", retryable=True)))
    worker = DeliveryWorker(engine, clock, sender, retry_initial_s=1.0, retry_max_s=60.0)
    event_id = _put(engine, clock, "e1", "g1")

    delays = []
    for _ in range(8):
        tried_at = clock.now()
        stats = worker.run_once()
        assert stats.failed == 1
        row = _row(engine, event_id)
        delays.append((row.next_attempt_at - tried_at).total_seconds())
        # Just before it is due, a pass leaves it alone.
        clock.set(row.next_attempt_at - timedelta(milliseconds=1))
        assert worker.run_once().failed == 0
        clock.set(row.next_attempt_at)

    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert len(sender.sent) == 8
    row = _row(engine, event_id)
    assert row.attempts == 8 and row.last_error == "HTTP 503" and row.delivered_at is None


def test_non_retryable_refusal_is_retried_on_the_longest_backoff(engine: Engine) -> None:
    clock = ManualClock(T0)
    sender = ScriptedSender(_refuse(DeliveryFailed("HTTP 401", retryable=False)))
    worker = DeliveryWorker(engine, clock, sender, retry_initial_s=1.0, retry_max_s=300.0)
    event_id = _put(engine, clock, "e1", "g1")
    worker.run_once()
    assert _row(engine, event_id).next_attempt_at == T0 + timedelta(seconds=300)
    sender.decide = lambda e: None
    clock.advance(300)
    assert worker.run_once().delivered == 1
    assert _row(engine, event_id).delivered_at == T0 + timedelta(seconds=300)


def test_retry_after_hint_is_honoured_up_to_the_cap(engine: Engine) -> None:
    clock = ManualClock(T0)
    hint = DeliveryFailed("HTTP 429", retryable=True, retry_after_s=30)
    worker = DeliveryWorker(
        engine, clock, ScriptedSender(_refuse(hint)), retry_initial_s=1.0, retry_max_s=20.0
    )
    event_id = _put(engine, clock, "e1", "g1")
    worker.run_once()
    assert _row(engine, event_id).next_attempt_at == T0 + timedelta(seconds=20)


def test_a_failing_subject_holds_its_later_events_while_others_proceed(engine: Engine) -> None:
    clock = ManualClock(T0)
    a1 = _put(engine, clock, "a1", "guard-a")
    b1 = _put(engine, clock, "b1", "guard-b")
    a2 = _put(engine, clock, "a2", "guard-a")
    b2 = _put(engine, clock, "b2", "guard-b")

    def refuse_a1(event: OutboundEvent) -> None:
        if event.event_id == a1:
            raise DeliveryFailed("HTTP 503", retryable=True)

    sender = ScriptedSender(refuse_a1)
    worker = DeliveryWorker(engine, clock, sender)
    stats = worker.run_once()
    assert sender.sent == [a1, b1, b2]
    assert (stats.delivered, stats.failed, stats.held_back) == (2, 1, 1)
    assert stats.next_due == T0 + timedelta(seconds=1)

    # Even a later pass leaves a2 waiting until a1 is due again.
    again = worker.run_once()
    assert (again.delivered, again.failed) == (0, 0)
    assert sender.sent == [a1, b1, b2]

    sender.decide = lambda e: None
    clock.advance(1)
    worker.run_once()
    assert sender.sent == [a1, b1, b2, a1, a2]
    assert worker.run_once().next_due is None


def test_a_sender_bug_is_recorded_as_a_failure_not_a_lost_event(engine: Engine) -> None:
    clock = ManualClock(T0)

    def explode(_event: OutboundEvent) -> None:
        raise KeyError("oops")

    worker = DeliveryWorker(engine, clock, ScriptedSender(explode))
    event_id = _put(engine, clock, "e1", "g1")
    assert worker.run_once().failed == 1
    row = _row(engine, event_id)
    assert row.delivered_at is None and row.attempts == 1 and "oops" in (row.last_error or "")


def test_batch_size_limits_one_pass(engine: Engine) -> None:
    clock = ManualClock(T0)
    for i in range(5):
        _put(engine, clock, f"e{i}", f"g{i}")
    sender = ScriptedSender()
    worker = DeliveryWorker(engine, clock, sender, batch_size=3)
    first = worker.run_once()
    assert (first.delivered, first.batch_full) == (3, True)
    second = worker.run_once()
    assert (second.delivered, second.batch_full) == (2, False)


def test_backlog_reports_pending_failing_and_oldest_age(engine: Engine) -> None:
    clock = ManualClock(T0)
    assert backlog(engine, now=T0) == {
        "pending": 0,
        "failing": 0,
        "refused": 0,
        "oldest_pending_at": None,
        "oldest_pending_age_s": None,
    }
    _put(engine, clock, "e1", "g1")
    clock.advance(10)
    _put(engine, clock, "e2", "g2")
    worker = DeliveryWorker(
        engine, clock, ScriptedSender(_refuse(DeliveryFailed("down", retryable=True)))
    )
    worker.run_once()
    report = backlog(engine, now=T0 + timedelta(seconds=70), destination="core")
    assert report == {
        "pending": 2,
        "failing": 2,
        "refused": 0,
        "oldest_pending_at": "2026-03-01T08:00:00Z",
        "oldest_pending_age_s": 70.0,
    }
    assert backlog(engine, now=T0, destination="wecom")["pending"] == 0


def test_invalid_settings_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError):
        DeliveryWorker(engine, ManualClock(T0), ScriptedSender(), retry_initial_s=0)
    with pytest.raises(ValueError):
        DeliveryWorker(engine, ManualClock(T0), ScriptedSender(), batch_size=0)
