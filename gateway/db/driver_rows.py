"""Rows written as plain tuples on a session's connection, without SQLAlchemy's per-row work.

The hot writes of a batch (presence states, outbox rows) bind thousands of rows a statement;
through ``session.execute(statement, rows)`` each row paid SQLAlchemy's parameter construction
and type processing, which cost more than the statement itself. ``DriverRows`` prepares, once
per dialect, a statement in the driver's own parameter style and a converter that turns a row
mapping into the tuple it binds, each typed value through the dialect's own bind processor (so
the stored text is exactly what SQLAlchemy writes). The statement goes through
``Connection.exec_driver_sql``: SQLAlchemy's events still see it, and a lost connection still
comes out as its ``OperationalError`` with the connection invalidated, which the runtime takes
for an outage.

Only SQLite and PostgreSQL through psycopg have a parameter style here; for other databases
``prepared`` is ``None`` and the caller writes through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table

__all__ = ["BuildStatement", "DriverRows", "Prepared"]

BuildStatement = Callable[[str, Callable[[str], str]], str]
"""``build(mark, cast)``: the statement, given the driver's parameter mark and what follows a
column's mark (``cast(column)``)."""


class Prepared:
    """One dialect's statement and the conversion of a row into its parameters."""

    def __init__(self, sql: str, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        self.sql = sql
        self._columns = tuple(columns)
        self._processors = [
            (index, processor)
            for index, name in enumerate(self._columns)
            if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Each row's values in the statement's column order, converted."""
        columns, processors = self._columns, self._processors
        out = []
        for row in rows:
            values = [row[name] for name in columns]
            for index, process in processors:
                values[index] = process(values[index])
            out.append(tuple(values))
        return out

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (the driver's ``executemany``), in list order."""
        connection.exec_driver_sql(self.sql, self.parameters(rows))


class DriverRows:
    """A statement over ``table``'s ``columns``, built per dialect by ``build(mark, cast)``:
    ``mark`` is the driver's parameter mark, ``cast(column)`` what follows a column's mark
    (a JSON column is cast on psycopg, as SQLAlchemy's own statement casts it)."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        build: Callable[[str, Callable[[str], str]], str],
    ) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._build = build
        self._prepared: dict[str, Prepared | None] = {}

    def prepared(self, dialect: Dialect) -> Prepared | None:
        """The statement for ``dialect``, or ``None`` for a database without a fast path."""
        if dialect.name not in self._prepared:
            self._prepared[dialect.name] = self._prepare(dialect)
        return self._prepared[dialect.name]

    def _prepare(self, dialect: Dialect) -> Prepared | None:
        if dialect.name == "sqlite":
            mark, json_cast = "?", ""
        elif dialect.name == "postgresql" and dialect.driver == "psycopg":
            mark, json_cast = "%s", "::json"
        else:
            return None
        json_columns = {c.name for c in self._table.columns if isinstance(c.type, JSON)}

        def cast(column: str) -> str:
            return json_cast if column in json_columns else ""

        return Prepared(self._build(mark, cast), self._table, self._columns, dialect)
