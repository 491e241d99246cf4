"""Enqueueing events: in the caller's transaction, one row per destination, never twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from gateway.outbox.cloudevents import make_event_id
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue, insert_rows, outbox_rows

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
HAPPENED = datetime(2026, 3, 1, 7, 59, 30, tzinfo=UTC)


def _enqueue(session: Session, key: str = "departed:g1:1", **kw: object) -> str:
    args: dict[str, object] = {
        "key": key,
        "type": "presence.departed",
        "subject": "g1",
        "time": HAPPENED,
        "data": {"post": "gate-2"},
        "now": T0,
        "source": "urn:guard-gateway:test",
    }
    args.update(kw)
    return enqueue(session, **args)  # type: ignore[arg-type]


def _rows(engine: Engine) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.seq)))


def test_enqueued_row_holds_the_signed_envelope_and_is_due_now(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        event_id = _enqueue(session)
    [row] = _rows(engine)
    assert event_id == make_event_id("departed:g1:1")
    assert (row.event_id, row.destination, row.subject, row.type) == (
        event_id,
        "core",
        "g1",
        "presence.departed",
    )
    assert row.event_time == HAPPENED
    assert row.created_at == T0 and row.next_attempt_at == T0
    assert row.attempts == 0 and row.delivered_at is None and row.last_error is None
    body = json.loads(row.body)
    assert body["id"] == event_id
    assert body["time"] == "2026-03-01T07:59:30Z"
    assert body["source"] == "urn:guard-gateway:test"


def test_nothing_is_enqueued_when_the_caller_rolls_back(engine: Engine) -> None:
    with Session(engine) as session:
        _enqueue(session)
        session.rollback()
    assert _rows(engine) == []


def test_one_row_per_destination(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        _enqueue(session, destinations=("core", "wecom", "core"))
    rows = _rows(engine)
    assert [r.destination for r in rows] == ["core", "wecom"]
    assert rows[0].body == rows[1].body


def test_enqueueing_the_same_key_twice_keeps_one_row_and_the_transaction_usable(
    engine: Engine,
) -> None:
    with Session(engine) as session, session.begin():
        first = _enqueue(session)
        again = _enqueue(session, data={"post": "changed"})
        other = _enqueue(session, key="departed:g1:2")
    with Session(engine) as session, session.begin():
        # A replay in a later transaction (e.g. after a restart) adds nothing either.
        _enqueue(session)
    rows = _rows(engine)
    assert first == again != other
    assert [r.event_id for r in rows] == [first, other]
    assert json.loads(rows[0].body)["data"] == {"post": "gate-2"}  # the first body stays


def test_count_query_sees_rows_only_after_commit(engine: Engine) -> None:
    with Session(engine) as writer:
        _enqueue(writer)
        with Session(engine) as reader:
            assert reader.scalar(select(func.count(OutboxRow.seq))) == 0
        writer.commit()
    with Session(engine) as reader:
        assert reader.scalar(select(func.count(OutboxRow.seq))) == 1


def test_a_batch_keeps_its_order_skips_repeats_and_stores_what_sqlalchemys_insert_stores(
    engine: Engine,
) -> None:
    """``insert_rows`` binds plain tuples: the rows it writes read back, as values and as stored
    text, exactly as SQLAlchemy's own insert of the same values; ``seq`` follows the list, and
    a row repeated (in the list or already stored) is skipped, the first body kept."""
    beijing = timezone(timedelta(hours=8))
    batch: list[dict[str, Any]] = []
    for n in range(5):
        _, rows = outbox_rows(
            key=f"k{n}",
            type="alert.absent_at_shift_start",
            subject=f"g{n}",
            time=HAPPENED.astimezone(beijing),  # stored as UTC all the same
            data={"n": n, "名": "门岗"},
            now=T0,
            destinations=("core", "robot-a"),
        )
        batch.extend(rows)
    repeat = {**batch[2], "body": "{}"}
    with Session(engine) as session, session.begin():
        insert_rows(session, [batch[0]])
    with Session(engine) as session, session.begin():
        insert_rows(session, [*batch, repeat])  # batch[0] stored already, batch[2] twice
        orm_copy = {**batch[3], "event_id": "orm-copy"}
        session.execute(insert(OutboxRow), [orm_copy])
    stored = _rows(engine)
    assert [(r.event_id, r.destination) for r in stored[:-1]] == [
        (r["event_id"], r["destination"]) for r in batch
    ]
    assert stored[2].body == batch[2]["body"]  # the first body stays
    assert stored[1].event_time == HAPPENED and stored[1].created_at == T0
    with engine.connect() as conn:
        raw = {
            row[0]: row[1:]
            for row in conn.execute(
                text(
                    "SELECT event_id, destination, subject, type, CAST(event_time AS TEXT), body,"
                    " CAST(created_at AS TEXT), attempts, CAST(next_attempt_at AS TEXT),"
                    " delivered_at, last_error FROM outbox WHERE destination = 'robot-a'"
                    " AND (event_id = :fast OR event_id = 'orm-copy')"
                ),
                {"fast": batch[3]["event_id"]},
            )
        }
    assert raw[batch[3]["event_id"]] == raw["orm-copy"]
