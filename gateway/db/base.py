"""The declarative base shared by every table of the gateway."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

__all__ = ["ID_LENGTH", "Base", "BigId", "UtcDateTime", "sqlite_text"]

ID_LENGTH = 64
"""Longest id a site file may give to a site, post, guard, leader or device."""

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key for history.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores naive values; we restore the zone).

    On SQLite the value is stored as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, the text
    ``YYYY-MM-DD HH:MM:SS.ffffff``), written by ``sqlite_text`` in one step instead of this
    type's conversion followed by the dialect's own formatting.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name == "sqlite":
            return sqlite_text
        return super().bind_processor(dialect)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_SQLITE_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
_SQLITE_TEXTS: dict[datetime, str] = {}
_SQLITE_TEXTS_MAX = 4096


def sqlite_text(value: datetime | None) -> str | None:
    """``value`` as a ``UtcDateTime`` column stores it on SQLite (see the class); a naive
    datetime raises ``ValueError``.

    Every datetime bound on SQLite goes through here: a state, an outbox row and an alert row
    each carry two or three, and at a shift change most of them are the same instants (the
    deadline, the batch's time). Texts are kept by instant (aware datetimes that are equal are
    the same instant, whatever their zone, and store the same text), forgotten all at once
    when ``_SQLITE_TEXTS_MAX`` are kept. Profiled at a shift change of 5,000 absent and silent
    guards: SQLAlchemy's two-step conversion was a tenth of the tick.
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    text = _SQLITE_TEXTS.get(value)
    if text is None:
        utc = value.astimezone(UTC)
        text = _SQLITE_FORMAT % (
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
        )
        if len(_SQLITE_TEXTS) >= _SQLITE_TEXTS_MAX:
            _SQLITE_TEXTS.clear()
        _SQLITE_TEXTS[value] = text
    return text


class Base(DeclarativeBase):
    """Base of all models; constraint names are deterministic so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
