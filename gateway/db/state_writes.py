"""The per-batch save of presence states, written without SQLAlchemy's per-row machinery.

Every fix and every deadline changes its shift's presence state, and the batch saves each
changed state once: thousands of ``UPDATE``s a second in a flood, a hundred thousand in the
transaction of a shift change. Through ``session.execute(update(...), rows)`` each row paid
SQLAlchemy's parameter construction and type processing, about a third of the save (profiled:
33 us a row on SQLite). ``update_presence_states`` binds plain tuples instead
(``gateway.db.driver_rows``): one ``executemany`` on SQLite and on PostgreSQL (psycopg); other
databases go through SQLAlchemy's ``update``.

Not one statement over one array per column on PostgreSQL, as positions are inserted: psycopg
writes a text array element by element in Python, escaping every quote of the JSON states, and
that cost more than the whole save (profiled in a flood: 45% of the pipeline thread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update

from gateway.db.driver_rows import DriverRows
from gateway.db.models import PresenceStateRow

__all__ = ["update_presence_states"]

_TABLE: Table = PresenceStateRow.__table__  # type: ignore[assignment]
_SET = ("guard_id", "state", "next_deadline", "updated_at")
"""The columns an update writes."""

_UPDATE = DriverRows(
    _TABLE,
    (*_SET, "shift_id"),
    lambda mark, cast: (
        f"UPDATE {_TABLE.name} SET "
        + ", ".join(f"{name} = {mark}{cast(name)}" for name in _SET)
        + f" WHERE shift_id = {mark}"
    ),
)


def update_presence_states(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update the stored states of ``rows`` (each with ``shift_id, guard_id, state,
    next_deadline, updated_at``; shift ids distinct and already in the table) in the
    connection's transaction."""
    if not rows:
        return
    prepared = _UPDATE.prepared(connection.dialect)
    if prepared is not None:
        prepared.execute(connection, rows)
        return
    statement = (
        update(_TABLE)
        .where(_TABLE.c.shift_id == bindparam("b_shift_id"))
        .values({name: bindparam(name) for name in _SET})
    )
    connection.execute(
        statement, [{"b_shift_id": r["shift_id"], **{n: r[n] for n in _SET}} for r in rows]
    )
