"""The per-batch save of presence states (``gateway.db.state_writes``) on SQLite and PostgreSQL:
what it stores reads back, as values and as stored text, exactly as what SQLAlchemy's own
``update`` writes for the same row; a batch with nothing to update takes no connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, bindparam, event, insert, text, update
from sqlalchemy.orm import Session

from gateway.db import repository as repo
from gateway.db.models import PresenceStateRow
from gateway.db.state_writes import update_presence_states

NOW = datetime(2026, 3, 2, 3, 0, 0, 250_000, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def _row(shift_id: str, state: dict[str, Any], due: datetime | None) -> dict[str, Any]:
    return {
        "shift_id": shift_id,
        "guard_id": "g-" + shift_id,
        "state": state,
        "next_deadline": due,
        "updated_at": NOW,
    }


def _stored_text(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT shift_id, guard_id, CAST(state AS TEXT), CAST(next_deadline AS TEXT),"
                " CAST(updated_at AS TEXT) FROM presence_states"
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_updates_store_what_sqlalchemys_update_stores(engine: Engine) -> None:
    shifts = ["a1", "a2", "b1", "b2"]
    with Session(engine) as session, session.begin():
        session.execute(insert(PresenceStateRow), [_row(s, {"v": 0}, None) for s in shifts])
    # A deadline given in Beijing time, one absent, unicode and nesting in the state.
    state = {"phase": "离岗", "tracks": [[30.6, 114.3, None]], "ok": True, "n": 1.5}
    beijing_due = (NOW + timedelta(minutes=15)).astimezone(BEIJING)
    changes: dict[str, tuple[dict[str, Any], datetime | None]] = {
        "1": (state, beijing_due),
        "2": ({"phase": "on"}, None),
    }
    with Session(engine) as session, session.begin():
        update_presence_states(
            session.connection(), [_row("a" + n, s, due) for n, (s, due) in changes.items()]
        )
        session.connection().execute(
            update(PresenceStateRow)
            .where(PresenceStateRow.shift_id == bindparam("b_shift_id"))
            .values(
                guard_id=bindparam("guard_id"),
                state=bindparam("state"),
                next_deadline=bindparam("next_deadline"),
                updated_at=bindparam("updated_at"),
            ),
            [
                {**_row("b" + n, s, due), "b_shift_id": "b" + n, "guard_id": "g-a" + n}
                for n, (s, due) in changes.items()
            ],
        )
    stored = _stored_text(engine)
    assert stored["a1"] == stored["b1"]
    assert stored["a2"] == stored["b2"]
    assert stored["a2"][2] is None  # the deadline cleared
    with Session(engine) as session:
        a1 = session.get(PresenceStateRow, "a1")
        assert a1 is not None
        assert a1.state == state
        assert a1.next_deadline == NOW + timedelta(minutes=15)
        assert a1.next_deadline.tzinfo is not None


def test_a_batch_of_only_cleared_deadlines_and_many_rows(engine: Engine) -> None:
    # Every deadline null: PostgreSQL gets an array of nulls only, which must still cast.
    shifts = [f"s{i:05d}" for i in range(2500)]
    with Session(engine) as session, session.begin():
        repo.save_presence_states(
            session, [_row(s, {"i": i}, NOW) for i, s in enumerate(shifts)], stored=set()
        )
    with Session(engine) as session, session.begin():
        repo.save_presence_states(
            session,
            [_row(s, {"i": -i}, None) for i, s in enumerate(shifts)],
            stored=set(shifts),
        )
    with Session(engine) as session:
        rows = session.query(PresenceStateRow).order_by(PresenceStateRow.shift_id).all()
    assert [r.state for r in rows] == [{"i": -i} for i in range(len(shifts))]
    assert {r.next_deadline for r in rows} == {None}


def test_nothing_to_update_takes_no_connection(engine: Engine) -> None:
    """A quiet tick saves no state: its transaction must not even begin on the database (the
    pipeline counts on an empty transaction committing nothing)."""
    with Session(engine) as session, session.begin():
        repo.save_presence_states(session, [_row("s1", {}, None)], stored=set())
    begun: list[object] = []
    event.listen(engine, "begin", begun.append)
    with Session(engine) as session, session.begin():
        repo.save_presence_states(session, [], stored={"s1"})
    assert begun == []
    with Session(engine) as session, session.begin():  # the listener does see a real save
        repo.save_presence_states(session, [_row("s1", {"v": 1}, None)], stored={"s1"})
    assert len(begun) == 1
