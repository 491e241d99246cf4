"""The management core down for six hours: the outbox keeps every event, retries on the back-off
schedule of the injected clock, and delivers all of them in order once the core is back.

10,000 events of 50 guards are written in ten waves over the first five hours of the outage,
while the core stub (real HTTP) answers 500 for three hours and then refuses connections for
three more. The worker runs a pass at every moment something falls due (and at every wave), so
the number of attempts is exactly the back-off schedule's: each guard's oldest event is tried
at 0, 1, 3, 7, ... s, then every 300 s; the others wait behind it and are never tried. Every pass
reads at most one page of the outbox (``batch_size`` rows), whatever the backlog. After the
outage: 10,000 distinct events at the core, each guard's in the order they were written, no
event twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fwsim.core_stub import CoreStub
from gateway.clock import ManualClock
from gateway.outbox.delivery import DeliveryWorker, HttpCoreSender, backoff_s
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import insert_rows, outbox_rows
from tests.e2e.helpers import DAY_START

SECRET = "outage-secret"
GUARDS = 50
WAVES = 10
PER_GUARD_PER_WAVE = 20
WAVE_EVERY = timedelta(minutes=30)
FAILING = timedelta(hours=3)
"""The core answers 500 for this long..."""
DOWN = timedelta(hours=3)
"""...then refuses connections for this long."""
PAGE = 100
RETRY_INITIAL_S, RETRY_MAX_S = 1.0, 300.0


@pytest.fixture
def stub() -> Iterator[CoreStub]:
    core = CoreStub(SECRET)
    core.start()
    try:
        yield core
    finally:
        core.stop()


def write_wave(engine: Engine, wave: int, now: datetime) -> list[str]:
    """One wave: ``PER_GUARD_PER_WAVE`` events for every guard, guards interleaved."""
    ids: list[str] = []
    rows: list[dict[str, Any]] = []
    for n in range(PER_GUARD_PER_WAVE):
        for guard in range(GUARDS):
            event_id, event_rows = outbox_rows(
                key=f"outage:{guard}:{wave}:{n}",
                type="presence.heartbeat",
                subject=f"g-{guard:03d}",
                time=now,
                data={"wave": wave, "n": n},
                now=now,
            )
            ids.append(event_id)
            rows += event_rows
    # One statement per wave, as the pipeline writes a batch's events.
    with Session(engine) as session, session.begin():
        insert_rows(session, rows)
    return ids


def schedule(span_s: float) -> int:
    """Attempts at one row failing from 0 s to ``span_s`` (inclusive) on the back-off."""
    attempts, at = 0, 0.0
    while at <= span_s:
        attempts += 1
        at += backoff_s(attempts, RETRY_INITIAL_S, RETRY_MAX_S)
    return attempts


# 14,000 real HTTP attempts and 10,000 delivery commits: 27 s on SQLite and 41 s on PostgreSQL on
# a quiet 2-core machine, over 120 s on a loaded one.
@pytest.mark.timeout(600)
def test_six_hours_without_the_core_lose_nothing_and_deliver_in_order(
    engine: Engine, stub: CoreStub, mocker: MockerFixture
) -> None:
    clock = ManualClock(DAY_START)
    sender = HttpCoreSender(stub.url, SECRET, timeout_s=5.0)
    worker = DeliveryWorker(
        engine,
        clock,
        sender,
        batch_size=PAGE,
        retry_initial_s=RETRY_INITIAL_S,
        retry_max_s=RETRY_MAX_S,
    )
    pages = mocker.spy(worker, "_due_rows")
    start = clock.now()
    back_at = start + FAILING + DOWN
    waves = [start + i * WAVE_EVERY for i in range(WAVES)]
    written: list[str] = []
    stub.fail_next(10**9, status=500)
    down = False
    passes = 0
    try:
        while clock.now() < back_at:
            while waves and waves[0] <= clock.now():
                written += write_wave(engine, WAVES - len(waves), waves.pop(0))
            if not down and clock.now() >= start + FAILING:
                stub.set_down(True)
                down = True
            stats = worker.run_once()
            passes += 1
            assert stats.delivered == 0
            candidates = [back_at, *waves[:1], *([stats.next_due] if stats.next_due else [])]
            if not down:
                candidates.append(start + FAILING)
            clock.set(max(clock.now(), min(candidates)))

        with Session(engine) as session:
            totals = session.execute(
                select(OutboxRow.subject, func.sum(OutboxRow.attempts)).group_by(OutboxRow.subject)
            )
            attempts = {subject: int(total) for subject, total in totals}
            tried_rows = session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.attempts > 0)
            )
        span = (back_at - start).total_seconds()
        per_guard = schedule(span - 1e-6)  # the pass at back_at itself belongs to the recovery
        assert len(written) == GUARDS * WAVES * PER_GUARD_PER_WAVE == 10_000
        assert tried_rows == GUARDS  # only each guard's oldest event was ever tried
        assert attempts == {f"g-{g:03d}": per_guard for g in range(GUARDS)}
        assert per_guard == 10 + 70  # at 0, 1, 3, ... 511 s (doubling), then every 300 s
        failing_span = FAILING.total_seconds()
        assert stub.failed == GUARDS * schedule(failing_span - 1e-6)
        assert stub.events == []
        assert max(len(call) for call in pages.spy_return_list) == PAGE

        stub.set_down(False)
        stub.fail_next(0)
        while True:
            stats = worker.run_once()
            passes += 1
            if stats.next_due is None:
                break
            clock.set(max(clock.now(), stats.next_due))
    finally:
        sender.close()

    delivered = stub.events
    assert len(delivered) == 10_000
    assert stub.duplicates == []
    assert {e["id"] for e in delivered} == set(written)
    by_guard: dict[str, list[str]] = defaultdict(list)
    for event in delivered:
        by_guard[event["subject"]].append(event["id"])
    written_by_guard: dict[str, list[str]] = defaultdict(list)
    for index, event_id in enumerate(written):
        written_by_guard[f"g-{index % GUARDS:03d}"].append(event_id)
    assert by_guard == written_by_guard  # each guard's events in the order they were written
    with Session(engine) as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
        )
    assert pending == 0
    assert max(len(call) for call in pages.spy_return_list) == PAGE
