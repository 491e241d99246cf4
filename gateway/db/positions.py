"""The hot write: a batch of positions stored in a few multi-row statements.

``insert_positions`` is what every accepted fix goes through, thousands a second, so it bypasses
SQLAlchemy's per-row statement machinery: rows are plain tuples in the table's column order
(``position_values``), the few values a column type must convert (UTC times, the JSON list of
alarms) are converted with the dialect's own bind processors, so the stored text is exactly what
the ORM writes, and each chunk of rows is one ``INSERT ... VALUES (...), (...) ON CONFLICT DO
NOTHING RETURNING device_id, fix_time`` on the session's connection, in its transaction.

``(device_id, fix_time)`` is unique: a row whose key is already stored is skipped without an
error and returns nothing, so the keys returned say exactly which rows were new, duplicates
counted one by one (SQLite and PostgreSQL; other databases get a plain insert, where a repeat
fails the transaction on the unique index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Column, Dialect, Table, insert
from sqlalchemy.orm import Session

from gateway.db.models import PositionRow
from gateway.records import PositionFix

__all__ = ["PositionValues", "insert_positions", "position_values"]

CHUNK_ROWS = 1000
"""Rows per statement: 19 parameters each stays under SQLite's 32,766 and PostgreSQL's 65,535
parameters per statement, and a few statements per batch cost next to nothing."""


class PositionValues(NamedTuple):
    """One ``positions`` row (every column but the generated id), in the table's order."""

    device_id: str
    guard_id: str | None
    shift_id: str | None
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None
    speed_mps: float | None
    course_deg: float | None
    altitude_m: float | None
    satellites: int | None
    battery_pct: float | None
    alarms: list[str]
    source_format: str
    membership: str | None
    distance_m: float | None
    drop_reason: str | None
    raw: str


_NO_ALARMS: list[str] = []


def position_values(
    fix: PositionFix,
    *,
    guard_id: str | None = None,
    shift_id: str | None = None,
    membership: str | None = None,
    distance_m: float | None = None,
    drop_reason: str | None = None,
) -> PositionValues:
    """One ``positions`` row for ``insert_positions``."""
    return PositionValues(
        fix.device_id,
        guard_id,
        shift_id,
        fix.fix_time,
        fix.received_at,
        fix.lat,
        fix.lon,
        fix.accuracy_m,
        fix.speed_mps,
        fix.course_deg,
        fix.altitude_m,
        fix.satellites,
        fix.battery_pct,
        sorted(str(a) for a in fix.alarms) if fix.alarms else _NO_ALARMS,
        fix.source_format,
        membership,
        distance_m,
        drop_reason,
        fix.raw,
    )


def insert_positions(session: Session, rows: Sequence[PositionValues]) -> list[bool]:
    """Store ``rows`` in the session's transaction; per row, whether it was **new** (its
    ``(device_id, fix_time)`` was not stored yet). Keys must be distinct within ``rows`` (the
    filters see to it)."""
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name not in _WRITERS:
        _WRITERS[dialect.name] = _Writer.for_dialect(dialect)
    writer = _WRITERS[dialect.name]
    if writer is None:  # neither SQLite nor PostgreSQL (psycopg): SQLAlchemy's plain insert
        session.execute(insert(_POSITIONS), [row._asdict() for row in rows])
        return [True] * len(rows)
    converted, keys = writer.parameters(rows)
    returned: set[tuple[Any, Any]] = set()
    # Through SQLAlchemy's connection (not a bare cursor): its events see the statement and a
    # lost connection comes out as its OperationalError with the connection invalidated, which
    # the runtime takes for an outage (wait and retry), not for a poisoned input.
    if writer.columnar:
        result = connection.exec_driver_sql(writer.columnar, tuple(_columns(converted)))
        returned.update((device_id, fix_time) for device_id, fix_time in result)
    else:
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = converted[start : start + CHUNK_ROWS]
            result = connection.exec_driver_sql(
                writer.statement(len(chunk)), tuple(v for row in chunk for v in row)
            )
            returned.update((device_id, fix_time) for device_id, fix_time in result)
    if len(returned) == len(rows):
        return [True] * len(rows)
    return [key in returned for key in keys]


_POSITIONS: Table = PositionRow.__table__  # type: ignore[assignment]
_COLUMNS: list[Column[Any]] = [c for c in _POSITIONS.columns if c.name != "id"]
_WIDTH = len(_COLUMNS)
assert [c.name for c in _COLUMNS] == list(PositionValues._fields), "PositionValues is stale"
_TIME_INDEXES = (
    PositionValues._fields.index("fix_time"),
    PositionValues._fields.index("received_at"),
)
_ALARMS_INDEX = PositionValues._fields.index("alarms")


class _Writer:
    """The statement and the value conversions of one dialect."""

    def __init__(
        self,
        placeholder: str,
        casts: dict[str, str],
        convert: dict[int, Callable[[Any], Any]],
    ) -> None:
        columns = ", ".join(c.name for c in _COLUMNS)
        self.head = f"INSERT INTO {_POSITIONS.name} ({columns}) VALUES "
        self.row = "(" + ", ".join(placeholder + casts.get(c.name, "") for c in _COLUMNS) + ")"
        self.tail = " ON CONFLICT (device_id, fix_time) DO NOTHING RETURNING device_id, fix_time"
        self._convert = convert
        self._statements: dict[int, str] = {}
        self.columnar: str | None = None
        """PostgreSQL: one statement over one array per column (``unnest``), whatever the
        number of rows; the driver parses a short query once instead of a long one per batch."""

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _Writer | None:
        convert: dict[int, Callable[[Any], Any]] = {}
        for index in (*_TIME_INDEXES, _ALARMS_INDEX):
            column = _COLUMNS[index]
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                convert[index] = processor
        if dialect.name == "sqlite":
            return cls("?", {}, convert)
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            writer = cls("%s", {}, convert)
            names = ", ".join(c.name for c in _COLUMNS)
            # The JSON list of alarms is bound as text: the cast tells the server what it is.
            picked = ", ".join(c.name + ("::json" if c.name == "alarms" else "") for c in _COLUMNS)
            arrays = ", ".join(f"%s::{_PG_ARRAYS[type(c.type).__name__]}[]" for c in _COLUMNS)
            writer.columnar = (
                f"INSERT INTO {_POSITIONS.name} ({names}) SELECT {picked} FROM unnest({arrays})"
                f" AS t({names}){writer.tail}"
            )
            return writer
        return None

    def statement(self, count: int) -> str:
        sql = self._statements.get(count)
        if sql is None:
            sql = self._statements[count] = self.head + ", ".join([self.row] * count) + self.tail
        return sql

    def parameters(
        self, rows: Sequence[PositionValues]
    ) -> tuple[list[list[Any]], list[tuple[Any, Any]]]:
        """The values of ``rows`` as bound and each row's key as the database returns it."""
        time_index_a, time_index_b = _TIME_INDEXES
        convert_a = self._convert.get(time_index_a)
        convert_b = self._convert.get(time_index_b)
        convert_alarms = self._convert.get(_ALARMS_INDEX)
        no_alarms = convert_alarms(_NO_ALARMS) if convert_alarms else _NO_ALARMS
        params: list[list[Any]] = []
        keys: list[tuple[Any, Any]] = []
        for row in rows:
            values = list(row)
            if convert_a is not None:
                values[time_index_a] = convert_a(values[time_index_a])
            if convert_b is not None:
                values[time_index_b] = convert_b(values[time_index_b])
            alarms = values[_ALARMS_INDEX]
            if convert_alarms is not None:
                values[_ALARMS_INDEX] = convert_alarms(alarms) if alarms else no_alarms
            keys.append((values[0], values[time_index_a]))
            params.append(values)
        return params, keys


_WRITERS: dict[str, _Writer | None] = {}

_PG_ARRAYS = {
    "String": "text",
    "Text": "text",
    "UtcDateTime": "timestamptz",
    "Float": "float8",
    "Integer": "int4",
    "JSON": "text",
}
_FLOAT_INDEXES = [i for i, c in enumerate(_COLUMNS) if type(c.type).__name__ == "Float"]


def _columns(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows turned into one list per column; numbers of float columns made floats (an array
    of one element type: an integer accuracy beside decimals would not be one)."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for index in _FLOAT_INDEXES:
        column = columns[index]
        if any(type(v) is not float and v is not None for v in column):
            columns[index] = [None if v is None else float(v) for v in column]
    return columns
