"""Delivering the outbox to a management core over real HTTP (the firmware-sim core stub).

The promise under test: every event reaches the core, each id is accepted once, and a guard's
events arrive in the order they happened, whatever the core does in between.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fwsim.core_stub import CoreStub
from gateway.clock import ManualClock
from gateway.outbox.delivery import DeliveryWorker, HttpCoreSender, OutboundEvent, backlog
from gateway.outbox.refused import retry_refused
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue

SECRET = "s3cret-for-tests"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
GUARDS = ("guard-a", "guard-b", "guard-c")


@pytest.fixture
def stub() -> Iterator[CoreStub]:
    with CoreStub(SECRET) as core:
        yield core


@pytest.fixture
def sender(stub: CoreStub) -> Iterator[HttpCoreSender]:
    with HttpCoreSender(stub.url, SECRET, timeout_s=2.0) as http:
        yield http


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _enqueue_interleaved(engine: Engine, clock: ManualClock, per_guard: int) -> list[str]:
    """Events for three guards, interleaved; returns their ids in enqueue order."""
    ids = []
    for n in range(per_guard):
        for guard in GUARDS:
            with Session(engine) as session, session.begin():
                ids.append(
                    enqueue(
                        session,
                        key=f"{guard}:{n}",
                        type="presence.departed" if n % 2 == 0 else "presence.returned",
                        subject=guard,
                        time=clock.now(),
                        data={"n": n, "guard": guard},
                        now=clock.now(),
                    )
                )
            clock.advance(1)
    return ids


def _by_subject(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    for event in events:
        seen[event["subject"]].append(event["data"]["n"])
    return dict(seen)


def _drain(worker: DeliveryWorker, clock: ManualClock, engine: Engine, passes: int = 50) -> None:
    """Run passes, moving the clock to the next retry, until nothing is pending."""
    for _ in range(passes):
        stats = worker.run_once()
        if backlog(engine, now=clock.now())["pending"] == 0:
            return
        if stats.next_due is not None and stats.next_due > clock.now():
            clock.set(stats.next_due)
    raise AssertionError("outbox did not drain")


def _assert_each_once_in_order(stub: CoreStub, ids: list[str], per_guard: int) -> None:
    events = stub.events
    assert sorted(e["id"] for e in events) == sorted(ids)
    assert _by_subject(events) == {g: list(range(per_guard)) for g in GUARDS}


def test_events_reach_the_core_signed_once_each_and_in_order_per_guard(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    ids = _enqueue_interleaved(engine, clock, per_guard=4)
    stats = DeliveryWorker(engine, clock, sender).run_once()
    assert stats.delivered == 12
    _assert_each_once_in_order(stub, ids, per_guard=4)
    assert stub.events[0]["specversion"] == "1.0"
    assert stub.rejected == 0 and stub.duplicates == []
    with Session(engine) as session:
        rows = session.scalars(select(OutboxRow)).all()
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)
    # The bytes on the wire are exactly the stored body.
    assert {eid: body.decode() for eid, body in stub.deliveries} == {
        r.event_id: r.body for r in rows
    }


def test_core_answering_503_for_a_while_loses_and_duplicates_nothing(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    ids = _enqueue_interleaved(engine, clock, per_guard=5)
    stub.fail_next(7, status=503)
    worker = DeliveryWorker(engine, clock, sender, retry_initial_s=2.0, retry_max_s=30.0)
    _drain(worker, clock, engine)
    assert stub.failed == 7
    assert stub.duplicates == []
    _assert_each_once_in_order(stub, ids, per_guard=5)


def test_core_down_then_up_on_the_same_port_delivers_everything(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    ids = _enqueue_interleaved(engine, clock, per_guard=3)
    stub.set_down(True)
    worker = DeliveryWorker(engine, clock, sender, retry_initial_s=1.0, retry_max_s=60.0)
    for _ in range(3):
        stats = worker.run_once()
        # One try per guard: later events of a failing guard wait behind the first.
        assert (stats.delivered, stats.failed) == (0, 3)
        assert stats.next_due is not None
        clock.set(stats.next_due)
    with Session(engine) as session:
        errors = {r.last_error for r in session.scalars(select(OutboxRow)) if r.attempts}
    assert errors and all(e and e.startswith("ConnectError") for e in errors)
    assert backlog(engine, now=clock.now())["failing"] == 3

    stub.set_down(False)
    _drain(worker, clock, engine)
    assert stub.duplicates == []
    _assert_each_once_in_order(stub, ids, per_guard=3)


def test_a_wrong_secret_is_refused_by_the_core_and_the_event_kept(
    engine: Engine, clock: ManualClock, stub: CoreStub
) -> None:
    [event_id] = _enqueue_interleaved(engine, clock, per_guard=1)[:1]
    with HttpCoreSender(stub.url, "not-the-secret") as wrong:
        stats = DeliveryWorker(engine, clock, wrong, retry_max_s=120.0).run_once()
    assert stats.failed == 3 and stub.rejected == 3 and stub.events == []
    with Session(engine) as session:
        row = session.scalars(select(OutboxRow).where(OutboxRow.event_id == event_id)).one()
    assert row.delivered_at is None
    assert row.last_error is not None and row.last_error.startswith("HTTP 401")
    # A 401 will not cure itself soon: the longest back-off, but still retried.
    assert row.next_attempt_at == clock.now() + timedelta(seconds=120)


def test_unsigned_post_is_refused_with_401(stub: CoreStub) -> None:
    body = json.dumps({"id": "x", "specversion": "1.0"}).encode()
    response = httpx.post(stub.url, content=body)
    forged = httpx.post(stub.url, content=body, headers={"X-Signature-256": "sha256=" + "0" * 64})
    assert (response.status_code, forged.status_code) == (401, 401)
    assert stub.rejected == 2 and stub.events == []


def test_409_already_have_it_counts_as_delivered(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    _enqueue_interleaved(engine, clock, per_guard=1)
    stub.fail_next(1, status=409)
    stats = DeliveryWorker(engine, clock, sender).run_once()
    assert (stats.delivered, stats.failed) == (3, 0)
    assert backlog(engine, now=clock.now())["pending"] == 0


def test_other_4xx_is_retried_on_the_long_backoff_never_dropped(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    ids = _enqueue_interleaved(engine, clock, per_guard=1)
    stub.fail_next(1, status=404)
    worker = DeliveryWorker(engine, clock, sender, retry_initial_s=1.0, retry_max_s=300.0)
    stats = worker.run_once()
    assert (stats.delivered, stats.failed) == (2, 1)
    assert stats.next_due == clock.now() + timedelta(seconds=300)
    clock.advance(299)
    assert worker.run_once().delivered == 0
    clock.advance(1)
    assert worker.run_once().delivered == 1
    assert sorted(e["id"] for e in stub.events) == sorted(ids)


def test_crash_between_post_and_commit_resends_the_same_bytes_and_id(
    engine: Engine,
    clock: ManualClock,
    stub: CoreStub,
    sender: HttpCoreSender,
    mocker: MockerFixture,
) -> None:
    ids = _enqueue_interleaved(engine, clock, per_guard=2)
    crashed = DeliveryWorker(engine, clock, sender)
    # The core has the first event, then the process dies before recording it as delivered.
    mocker.patch.object(crashed, "_delivered", side_effect=RuntimeError("power cut"))
    with pytest.raises(RuntimeError, match="power cut"):
        crashed.run_once()
    assert len(stub.events) == 1

    restarted = DeliveryWorker(engine, clock, sender)
    assert restarted.run_once().delivered == 6
    assert stub.duplicates == [ids[0]]
    first, again = (body for eid, body in stub.deliveries if eid == ids[0])
    assert first == again
    _assert_each_once_in_order(stub, ids, per_guard=2)


def test_a_timed_out_post_the_core_did_receive_is_deduplicated_by_id(
    engine: Engine, clock: ManualClock, stub: CoreStub
) -> None:
    [event_id] = _enqueue_interleaved(engine, clock, per_guard=1)[:1]
    stub.delay_s = 0.5
    with HttpCoreSender(stub.url, SECRET, timeout_s=0.1) as impatient:
        worker = DeliveryWorker(engine, clock, impatient, retry_initial_s=1.0)
        assert worker.run_once().failed == 3
        assert stub.wait_for(lambda: len(stub.events) == 3, timeout=5)
        stub.delay_s = 0.0
        clock.advance(1)
        assert worker.run_once().delivered == 3
    assert event_id in stub.duplicates and len(stub.duplicates) == 3
    assert len(stub.events) == 3


def test_background_worker_delivers_when_notified_and_stops(
    engine: Engine, clock: ManualClock, stub: CoreStub, sender: HttpCoreSender
) -> None:
    worker = DeliveryWorker(engine, clock, sender, poll_interval_s=30.0)
    worker.start()
    try:
        ids = _enqueue_interleaved(engine, clock, per_guard=2)
        worker.notify()
        assert stub.wait_for(lambda: len(stub.events) == 6, timeout=5)
    finally:
        worker.stop()
    _assert_each_once_in_order(stub, ids, per_guard=2)
    assert worker._thread is None


def test_shared_workers_on_postgresql_send_each_event_once_in_order_per_guard(
    engine: Engine, stub: CoreStub, clock: ManualClock
) -> None:
    """Three workers (as in three processes) drain one outbox at once: ``FOR UPDATE SKIP
    LOCKED`` on each subject's head row, so no event goes twice and each guard's stay in order."""
    if engine.dialect.name != "postgresql":
        pytest.skip("shared delivery needs PostgreSQL's row locks")
    ids = _enqueue_interleaved(engine, clock, per_guard=20)
    senders = [HttpCoreSender(stub.url, SECRET, timeout_s=2.0) for _ in range(3)]
    workers = [
        DeliveryWorker(engine, clock, sender, shared=True, batch_size=2, poll_interval_s=0.05)
        for sender in senders
    ]
    try:
        for worker in workers:
            worker.start()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while backlog(engine, now=clock.now())["pending"] and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
    finally:
        for worker in workers:
            worker.stop()
        for sender in senders:
            sender.close()
    assert backlog(engine, now=clock.now())["pending"] == 0
    assert stub.duplicates == []  # no id posted twice
    assert sorted(event["id"] for event in stub.events) == sorted(ids)
    assert _by_subject(stub.events) == {guard: list(range(20)) for guard in GUARDS}
    with Session(engine) as session:
        attempts = session.scalars(select(OutboxRow.attempts)).all()
    assert attempts == [1] * len(ids)


def test_a_shared_pass_sends_a_guards_backlog_in_order_and_stops_him_at_a_failure(
    engine: Engine, stub: CoreStub, sender: HttpCoreSender, clock: ManualClock
) -> None:
    """One shared pass takes each held guard's rows behind his head, in order; the guard whose
    first row fails sends nothing more in that pass, the others carry on, and his rows go in
    order once his head's back-off has passed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("shared delivery needs PostgreSQL's row locks")
    ids = _enqueue_interleaved(engine, clock, per_guard=4)
    worker = DeliveryWorker(engine, clock, sender, shared=True, retry_initial_s=5.0)
    stub.fail_next(1, status=500)  # the first row sent: guard-a's first
    first = worker.run_once()
    assert (first.delivered, first.failed) == (8, 1)
    assert _by_subject(stub.events) == {"guard-b": [0, 1, 2, 3], "guard-c": [0, 1, 2, 3]}
    assert worker.run_once().delivered == 0  # guard-a's head backs off; nothing behind it goes
    clock.advance(timedelta(seconds=5))
    assert worker.run_once().delivered == 4
    _assert_each_once_in_order(stub, ids, per_guard=4)
    with Session(engine) as session:
        attempts = dict(
            session.execute(select(OutboxRow.event_id, OutboxRow.attempts)).tuples().all()
        )
    assert attempts == {event_id: 2 if event_id == ids[0] else 1 for event_id in ids}


def test_shared_delivery_is_refused_on_sqlite(engine: Engine, clock: ManualClock) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's refusal")
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        DeliveryWorker(engine, clock, HttpCoreSender("http://127.0.0.1:1", SECRET), shared=True)


def test_a_refused_event_sent_again_while_a_shared_worker_holds_its_guard_goes_once(
    engine: Engine, stub: CoreStub, sender: HttpCoreSender, clock: ManualClock
) -> None:
    """``guard-gateway outbox retry`` puts a refused row back *before* its guard's current
    head. Done while a shared worker holds that head mid-pass, another worker would take the
    row put back as the guard's head and send the rows the first is sending: so the retry
    waits for the head's lock, and every event reaches the core once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("shared delivery needs PostgreSQL's row locks")

    def put(n: int, event_type: str) -> str:
        with Session(engine) as session, session.begin():
            return enqueue(
                session,
                key=f"guard-a:{n}",
                type=event_type,
                subject="guard-a",
                time=clock.now(),
                data={"n": n, "guard": "guard-a"},
                now=clock.now(),
            )

    refused = put(0, "alert.left_early")
    stub.refuse_type("alert.left_early")
    first = DeliveryWorker(engine, clock, sender, shared=True)
    assert (first.run_once().refused, stub.refused) == (1, [refused])
    stub.refuse_type("alert.left_early", None)
    later = [put(n, "presence.returned") for n in (1, 2)]

    in_send, release = threading.Event(), threading.Event()

    class HeldSender:
        def send(self, event: OutboundEvent) -> None:
            in_send.set()
            assert release.wait(10)
            sender.send(event)

    holding = DeliveryWorker(engine, clock, HeldSender(), shared=True)
    pass_done: list[int] = []
    holder = threading.Thread(target=lambda: pass_done.append(holding.run_once().delivered))
    holder.start()
    assert in_send.wait(10)  # guard-a's head is locked by this pass, its rows being sent
    retried: list[int] = []
    retry = threading.Thread(target=lambda: retried.append(retry_refused(engine)))
    retry.start()
    retry.join(1.0)
    assert retry.is_alive()  # waits for the head's lock
    other = DeliveryWorker(engine, clock, sender, shared=True)
    assert other.run_once().delivered == 0  # the guard is held: nothing for another worker
    release.set()
    holder.join(10)
    retry.join(10)
    assert (pass_done, retried) == ([2], [1])
    assert other.run_once().delivered == 1
    assert [e["id"] for e in stub.events] == [*later, refused]
    assert stub.duplicates == []
