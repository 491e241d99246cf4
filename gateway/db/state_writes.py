"""The per-batch save of presence states, written without SQLAlchemy's per-row machinery.

Every fix and every deadline changes its shift's presence state, and the batch saves each
changed state once: thousands of ``UPDATE``s a second in a flood, a hundred thousand in the
transaction of a shift change. Through ``session.execute(update(...), rows)`` each row paid
SQLAlchemy's parameter construction and type processing, about a third of the save (profiled:
33 us a row on SQLite, of which the statement itself is the smaller part).

``update_presence_states`` converts the three typed values with the dialect's own bind
processors, so the stored text is exactly what the ORM writes, and sends them on the session's
connection (its events see the statement; a lost connection comes out as SQLAlchemy's
``OperationalError`` with the connection invalidated, which the runtime takes for an outage):
one ``executemany`` on SQLite and on PostgreSQL (psycopg). Other databases go through
SQLAlchemy's ``update``.

Not one statement over one array per column on PostgreSQL, as positions are inserted: psycopg
writes a text array element by element in Python, escaping every quote of the JSON states, and
that cost more than the whole save (profiled in a flood: 45% of the pipeline thread).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, update

from gateway.db.models import PresenceStateRow

__all__ = ["update_presence_states"]

_TABLE: Table = PresenceStateRow.__table__  # type: ignore[assignment]
_SET = ("guard_id", "state", "next_deadline", "updated_at")
"""The columns an update writes, in the order of the statement's parameters (then the key)."""

Convert = Callable[[Any], Any]


class _Writer:
    """One dialect's statement and conversions: ``placeholder`` is its parameter mark,
    ``state_cast`` what follows the state's (SQLAlchemy's own statement casts it on psycopg)."""

    def __init__(self, dialect: Dialect, placeholder: str, state_cast: str = "") -> None:
        assigned = ", ".join(
            f"{name} = {placeholder}{state_cast if name == 'state' else ''}" for name in _SET
        )
        self.sql = f"UPDATE {_TABLE.name} SET {assigned} WHERE shift_id = {placeholder}"
        self.convert = tuple(
            _TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in _SET
        )

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _Writer | None:
        if dialect.name == "sqlite":
            return cls(dialect, "?")
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            return cls(dialect, "%s", "::json")
        return None

    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Each row's converted values in the statement's order, its key last."""
        to_guard, to_state, to_deadline, to_updated = self.convert
        out = []
        for row in rows:
            guard, state, deadline, updated = (
                row["guard_id"],
                row["state"],
                row["next_deadline"],
                row["updated_at"],
            )
            if to_guard is not None:
                guard = to_guard(guard)
            if to_state is not None:
                state = to_state(state)
            if to_deadline is not None:
                deadline = to_deadline(deadline)
            if to_updated is not None:
                updated = to_updated(updated)
            out.append((guard, state, deadline, updated, row["shift_id"]))
        return out


_WRITERS: dict[str, _Writer | None] = {}


def update_presence_states(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update the stored states of ``rows`` (each with ``shift_id, guard_id, state,
    next_deadline, updated_at``; shift ids distinct and already in the table) in the
    connection's transaction."""
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name not in _WRITERS:
        _WRITERS[dialect.name] = _Writer.for_dialect(dialect)
    writer = _WRITERS[dialect.name]
    if writer is None:
        statement = (
            update(_TABLE)
            .where(_TABLE.c.shift_id == bindparam("b_shift_id"))
            .values({name: bindparam(name) for name in _SET})
        )
        connection.execute(
            statement, [{"b_shift_id": r["shift_id"], **{n: r[n] for n in _SET}} for r in rows]
        )
        return
    connection.exec_driver_sql(writer.sql, writer.values(rows))
