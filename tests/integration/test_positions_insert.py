"""The hot write of positions (``gateway.db.positions``) on SQLite and PostgreSQL: multi-row
statements over chunks, duplicates reported row by row, and stored values identical to what
SQLAlchemy's own insert writes for the same fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from gateway.db.models import PositionRow
from gateway.db.positions import CHUNK_ROWS, insert_positions, position_values
from gateway.records import Alarm, PositionFix

NOW = datetime(2026, 3, 2, 3, 0, 0, 250_000, tzinfo=UTC)


def _fix(device: str, second: int, **extra: object) -> PositionFix:
    return PositionFix(
        device_id=device,
        fix_time=NOW + timedelta(seconds=second),
        received_at=NOW + timedelta(seconds=second, milliseconds=300),
        lat=30.6047 + second * 1e-7,
        lon=114.2946,
        raw=f'{{"n":{second}}}',
        **extra,  # type: ignore[arg-type]
    )


def test_duplicates_across_chunks_are_reported_row_by_row(engine: Engine) -> None:
    total = CHUNK_ROWS * 2 + 7  # three statements, the last a short one
    already = {0, 5, CHUNK_ROWS - 1, CHUNK_ROWS, CHUNK_ROWS + 500, total - 1}
    with Session(engine) as session, session.begin():
        assert insert_positions(session, [position_values(_fix("d-1", s)) for s in already]) == [
            True
        ] * len(already)
    rows = [position_values(_fix("d-1", s), membership="inside") for s in range(total)]
    with Session(engine) as session, session.begin():
        new = insert_positions(session, rows)
    assert new == [s not in already for s in range(total)]
    assert new.count(False) == 6
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(PositionRow)) == total
        # The copies stored first stayed as they were (no membership).
        kept = session.scalars(
            select(PositionRow.membership).where(PositionRow.fix_time == NOW)
        ).all()
        assert kept == [None]


def test_a_batch_rolled_back_stores_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        session.begin()
        assert insert_positions(session, [position_values(_fix("d-1", s)) for s in range(3)]) == [
            True,
            True,
            True,
        ]
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(PositionRow)) == 0


def test_stored_values_equal_those_of_sqlalchemys_insert(engine: Engine) -> None:
    """Same fix through the fast path (device a) and through the ORM's insert (device b): every
    column reads back the same, and on the wire the times are stored in the same text/type."""
    fix = _fix(
        "a",
        1,
        accuracy_m=8,  # an int where the column is a float
        speed_mps=1.25,
        course_deg=270.0,
        altitude_m=23.5,
        satellites=9,
        battery_pct=81.0,
        alarms=frozenset({Alarm.SOS, Alarm.LOW_BATTERY}),
        source_format="owntracks",
    )
    fast = position_values(fix, guard_id="g", shift_id="s", membership="outside", distance_m=4.5)
    orm = fast._replace(device_id="b")
    with Session(engine) as session, session.begin():
        assert insert_positions(session, [fast]) == [True]
        session.execute(insert(PositionRow), [orm._asdict()])
    columns = [c for c in PositionRow.__table__.columns if c.name not in ("id", "device_id")]
    with Session(engine) as session:
        a, b = (
            session.scalars(select(PositionRow).where(PositionRow.device_id == d)).one()
            for d in ("a", "b")
        )
        assert [getattr(a, c.name) for c in columns] == [getattr(b, c.name) for c in columns]
        assert a.alarms == ["low_battery", "sos"]
        assert a.fix_time == NOW + timedelta(seconds=1)
        raw = session.execute(
            text(
                "SELECT device_id, CAST(fix_time AS TEXT), CAST(received_at AS TEXT),"
                " CAST(alarms AS TEXT), accuracy_m FROM positions ORDER BY device_id"
            )
        ).all()
    assert raw[0][1:] == raw[1][1:]
    assert raw[0][4] == 8.0
