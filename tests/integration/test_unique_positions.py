"""A position is stored once per (device, fix time), whatever the process remembers: the
store's unique index is the backstop behind the filters' duplicate check (their memory is lost
on a restart), and migration 0005 removes the copies stored before it existed.

On SQLite, and PostgreSQL when configured. Guard g-001 of the sample Wuhan site keeps the north
gate from 08:00 (local); his terminal is ``gps-001``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.migrate import alembic_config, current, head, upgrade
from gateway.db.models import PositionRow
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points

DEVICE = "gps-001"


def at(minutes: float) -> datetime:
    """``minutes`` after the shift start (08:00 local, 00:00 UTC)."""
    return DAY_START + timedelta(minutes=minutes)


def stored(engine: Engine) -> list[tuple[str, datetime]]:
    with Session(engine) as session:
        rows = session.execute(
            select(PositionRow.device_id, PositionRow.fix_time).order_by(
                PositionRow.device_id, PositionRow.fix_time
            )
        )
        return [(device_id, fix_time) for device_id, fix_time in rows]


def test_a_batch_processed_again_after_a_restart_is_stored_once(engine: Engine) -> None:
    load_sample_site(engine)
    inside = post_points(engine, "jt-gate-north").inside
    batch = [fix_at(DEVICE, at(1) + timedelta(seconds=20 * i), inside) for i in range(6)]
    clock = ManualClock(at(3))

    first = Processor(engine, clock)
    first.process_fixes(batch)
    events = [(r.event_id, r.destination) for r in outbox_rows(engine)]
    assert stored(engine) == [(DEVICE, f.fix_time) for f in batch]
    assert first.counters.snapshot()["fixes.stored"] == 6
    assert events  # the arrival at least

    # A restart: the filters' memory is gone; the broker redelivers the whole batch, plus two
    # fixes the first run never saw.
    second = Processor(engine, clock)
    later = [fix_at(DEVICE, at(3) + timedelta(seconds=20 * i), inside) for i in range(2)]
    clock.set(at(4))
    second.process_fixes([*batch, *later])

    counters = second.counters.snapshot()
    assert counters["fixes.received"] == 8
    assert counters["fixes.stored"] == 2
    assert counters["dropped.duplicate_stored"] == 6
    assert "dropped.duplicate" not in counters  # the filters had forgotten them
    assert stored(engine) == [(DEVICE, f.fix_time) for f in [*batch, *later]]
    # The rules did not see the stored fixes twice: no event was added by the redelivery.
    assert [(r.event_id, r.destination) for r in outbox_rows(engine)] == events


def test_the_filters_still_catch_a_duplicate_before_the_store(engine: Engine) -> None:
    load_sample_site(engine)
    inside = post_points(engine, "jt-gate-north").inside
    processor = Processor(engine, ManualClock(at(2)))
    fix = fix_at(DEVICE, at(1), inside)
    processor.process_fixes([fix])
    processor.process_fixes([fix])

    counters = processor.counters.snapshot()
    assert (counters["fixes.stored"], counters["dropped.duplicate"]) == (1, 1)
    assert "dropped.duplicate_stored" not in counters
    assert stored(engine) == [(DEVICE, at(1))]


def _row(device_id: str, fix_time: datetime, lat: float) -> dict[str, object]:
    return {
        "device_id": device_id,
        "fix_time": fix_time,
        "received_at": fix_time + timedelta(seconds=1),
        "lat": lat,
        "lon": 114.2946,
        "alarms": [],
        "source_format": "json",
        "raw": "{}",
    }


def test_migration_0005_removes_stored_duplicates_keeping_the_earliest(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    assert current(engine) == "0004"
    t0 = datetime(2026, 12, 3, 0, 1, tzinfo=UTC)
    t1 = t0 + timedelta(seconds=30)
    rows = [
        _row("gps-001", t0, 30.1),  # kept: the first stored of three
        _row("gps-001", t0, 30.2),
        _row("gps-001", t1, 30.3),  # kept: the only one
        _row("gps-002", t0, 30.4),  # kept: another device, same instant
        _row("gps-001", t0, 30.5),
        _row("gps-002", t0, 30.6),
    ]
    with engine.begin() as conn:
        for row in rows:  # one by one: ids in this order
            conn.execute(insert(PositionRow.__table__), row)  # type: ignore[arg-type]
        assert conn.scalar(select(func.count()).select_from(PositionRow)) == 6

    upgrade(engine)

    assert current(engine) == head()
    with Session(engine) as session:
        kept = session.execute(
            select(PositionRow.device_id, PositionRow.fix_time, PositionRow.lat).order_by(
                PositionRow.id
            )
        ).all()
    assert [tuple(r) for r in kept] == [
        ("gps-001", t0, 30.1),
        ("gps-001", t1, 30.3),
        ("gps-002", t0, 30.4),
    ]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(PositionRow.__table__), _row("gps-001", t1, 31.0))  # type: ignore[arg-type]

    # And back: the index is non-unique again at 0004.
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with engine.begin() as conn:
        conn.execute(insert(PositionRow.__table__), _row("gps-001", t1, 31.0))  # type: ignore[arg-type]
        assert conn.scalar(select(func.count()).select_from(PositionRow)) == 4
