"""``UtcDateTime`` on SQLite binds through ``sqlite_text``: the same text SQLAlchemy's SQLite
``DateTime`` writes after the type's own conversion to UTC, for any instant in any zone, read
back as the same aware instant; a naive datetime is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, insert, select, text
from sqlalchemy.dialects.sqlite.base import DATETIME

from gateway.db import base
from gateway.db.base import UtcDateTime, sqlite_text
from gateway.db.engine import make_engine

ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-12 * 60, 14 * 60)
)
INSTANTS = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)
SQLITE = make_engine("sqlite://").dialect
SQLALCHEMYS = DATETIME().bind_processor(SQLITE)


@given(INSTANTS)
def test_the_text_is_sqlalchemys_sqlite_datetime_of_the_utc_instant(value: datetime) -> None:
    assert sqlite_text(value) == SQLALCHEMYS(value.astimezone(UTC))


def test_the_type_binds_through_it_on_sqlite_only() -> None:
    assert UtcDateTime()._cached_bind_processor(SQLITE) is sqlite_text
    postgres = make_engine("postgresql+psycopg://localhost/none").dialect
    assert UtcDateTime()._cached_bind_processor(postgres) is not sqlite_text


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_text(datetime(2026, 12, 4, 8, 0))


def test_equal_instants_in_other_zones_store_one_text_and_the_memo_stays_bounded() -> None:
    utc = datetime(2026, 12, 4, 0, 0, 0, 250_000, tzinfo=UTC)
    beijing = utc.astimezone(timezone(timedelta(hours=8)))
    assert sqlite_text(beijing) == sqlite_text(utc) == "2026-12-04 00:00:00.250000"
    for second in range(base._SQLITE_TEXTS_MAX + 10):
        sqlite_text(utc + timedelta(seconds=second))
    assert len(base._SQLITE_TEXTS) <= base._SQLITE_TEXTS_MAX


def test_a_round_trip_through_sqlite_gives_the_instant_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    table = Table("t", MetaData(), Column("at", UtcDateTime))
    table.create(engine)
    value = datetime(2026, 12, 4, 16, 30, 5, 7, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(insert(table), [{"at": value}, {"at": None}])
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT at FROM t")).scalars().all()
        read = conn.execute(select(table.c.at)).scalars().all()
    engine.dispose()
    assert stored == ["2026-12-04 08:30:05.000007", None]
    assert read == [value, None] and read[0] is not None and read[0].tzinfo == UTC
