"""Writing shifts so that what has happened stays as it happened.

A shift's stored row is both configuration (who is expected where, and until when) and the
record the daily ledger is read from. Writes therefore take effect at the instant they are
made, ``now``, never before it:

* **Ended shifts** are never written, changed or removed by a site load or a roster expansion;
  retention removes them (``RETENTION_RECORDS_DAYS``).
* **Shifts to come** (starting at or after ``now``) are configuration: a load replaces them.
* **Shifts under way** keep what has passed. When the new file has the guard on the same
  duty (same post), his shift goes on, to the file's end if that changed (still after
  ``now``: the rules follow it, ``Deadlines``). When it does not (he was moved or taken off
  the roster, or his shift now ends before ``now``), his shift is **cut short**: it ends at
  ``now`` and stays as the record of the part that happened (``ShiftRow.cut_short``); its
  machines end there as at a relief, deciding only what is owed for that part (the clock's
  ``Deadlines`` stage, ``relieve``). If the file has him on duty at ``now``, a new shift
  starts at ``now``: the rules see him assigned to that duty from that instant, with the
  arrival grace counted from it, and the ledger shows both parts.
* **A shift written after its roster start** by a reload (a guard moved at 10:30 of an
  08:00 shift) starts at ``now`` for the same reason: the gateway cannot have expected him
  there before it knew the shift. Its id is the roster's form with that start (``shift_id``),
  so it never collides with a shift that ended.
* **A site's first load** has no record to contradict: its file's shifts are written as they
  stand, those of the day before and those under way from their roster start included. A
  shift under way is written with ``known_from`` = ``now``: the guard's fixes since its start
  still count, but the rules count their graces and rounds from ``now``, since nothing could
  have expected him on post before the file was loaded (an installation at 10:30 must not
  find every guard of the 08:00 shift absent at 08:10). A guard the record already has on
  duty elsewhere over part of that time (transferred from another site, whose file cut or
  ended his shift there) is not installed but moved: a shift of his whose passed part meets
  one stored at another site is written as a reload writes it, from ``now`` if it goes on
  after it, not at all if it has ended. The record keeps one duty at a time for him, so the
  ledgers of both sites do not count the same hours and what he reports goes to one shift.

One guard's shifts never overlap (the site checks refuse it), so at any instant a guard has at
most one shift under way in the file and one in the table: they are matched by guard and post.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.models import ShiftRow
from gateway.db.slices import slices
from gateway.site.roster import ShiftInstance, shift_id

__all__ = ["insert_new_shifts", "replace_shifts", "shift_row"]


def shift_row(
    site_id: str,
    guard_id: str,
    post_id: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    known_from: datetime | None = None,
) -> dict[str, object]:
    """The row that writes a planned shift at ``now``: as planned when it has not begun, else
    beginning at ``now`` under the id of that start (module docstring). ``known_from``: a
    first load's, for a shift written as planned though under way."""
    start = max(starts_at, now)
    return {
        "id": shift_id(guard_id, post_id, start),
        "site_id": site_id,
        "guard_id": guard_id,
        "post_id": post_id,
        "starts_at": start,
        "ends_at": ends_at,
        "known_from": known_from,
    }


def _row(
    shift: ShiftInstance, now: datetime, *, known_from: datetime | None = None
) -> dict[str, object]:
    return shift_row(
        shift.site_id,
        shift.guard_id,
        shift.post_id,
        shift.starts_at,
        shift.ends_at,
        now,
        known_from=known_from,
    )


def _first_load_row(shift: ShiftInstance, now: datetime) -> dict[str, object]:
    """``shift`` as planned; known from ``now`` when it is under way then."""
    under_way = shift.starts_at < now < shift.ends_at
    return _row(shift, shift.starts_at, known_from=now if under_way else None)


def replace_shifts(
    session: Session,
    site_id: str,
    shifts: Sequence[ShiftInstance],
    now: datetime,
    *,
    first_load: bool,
) -> None:
    """Make ``site_id``'s shifts from ``now`` on those of ``shifts`` (a loaded file's), keeping
    every ended shift and the part of every shift under way that has passed; on the site's
    ``first_load``, write ``shifts`` as they stand."""
    if first_load:
        elsewhere = _passed_elsewhere(session, site_id, shifts, now)
        rows = []
        for shift in shifts:
            if not _meets(elsewhere.get(shift.guard_id, ()), shift.starts_at, shift.ends_at, now):
                rows.append(_first_load_row(shift, now))
            elif shift.ends_at > now:
                rows.append(_row(shift, now))
        if rows:
            insert_new_shifts(session, rows)
        return
    session.execute(delete(ShiftRow).where(ShiftRow.site_id == site_id, ShiftRow.starts_at >= now))
    under_way = {
        row.guard_id: row
        for row in session.execute(
            select(ShiftRow.id, ShiftRow.guard_id, ShiftRow.post_id, ShiftRow.ends_at).where(
                ShiftRow.site_id == site_id,
                ShiftRow.starts_at < now,
                ShiftRow.ends_at > now,
                ShiftRow.cut_short.is_(False),
            )
        )
    }
    new_rows: list[dict[str, object]] = []
    new_ends: list[dict[str, object]] = []
    going_on: set[str] = set()
    for shift in shifts:
        if shift.ends_at <= now:
            continue
        current = under_way.get(shift.guard_id)
        if shift.starts_at < now and current is not None and current.post_id == shift.post_id:
            going_on.add(current.id)
            if current.ends_at != shift.ends_at:  # the same duty, to a new end (after now)
                new_ends.append({"id": current.id, "ends_at": shift.ends_at})
            continue
        new_rows.append(_row(shift, now))
    if new_ends:
        session.execute(update(ShiftRow), new_ends)
    cut = [
        {"id": row.id, "ends_at": now, "cut_short": True}
        for row in under_way.values()
        if row.id not in going_on
    ]
    if cut:
        session.execute(update(ShiftRow), cut)
    if new_rows:
        insert_new_shifts(session, new_rows)


def _passed_elsewhere(
    session: Session, site_id: str, shifts: Sequence[ShiftInstance], now: datetime
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per guard of ``shifts`` begun before ``now``, the ``(start, end)`` of his shifts stored
    at other sites that begin before ``now`` and end after the earliest of those starts."""
    begun = [shift for shift in shifts if shift.starts_at < now]
    if not begun:
        return {}
    earliest = min(shift.starts_at for shift in begun)
    guards = sorted({shift.guard_id for shift in begun})
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for guard_slice in slices(guards):
        found = session.execute(
            select(ShiftRow.guard_id, ShiftRow.starts_at, ShiftRow.ends_at).where(
                ShiftRow.guard_id.in_(guard_slice),
                ShiftRow.site_id != site_id,
                ShiftRow.starts_at < now,
                ShiftRow.ends_at > earliest,
            )
        )
        for guard_id, starts_at, ends_at in found:
            out.setdefault(guard_id, []).append((utc(starts_at), utc(ends_at)))
    return out


def _meets(
    stored: Sequence[tuple[datetime, datetime]],
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> bool:
    """Whether the part of ``[starts_at, ends_at)`` before ``now`` meets one of ``stored``."""
    passed_end = min(ends_at, now)
    return any(start < passed_end and starts_at < end for start, end in stored)


def insert_new_shifts(session: Session, rows: list[dict[str, object]]) -> int:
    """Insert the shift ``rows`` but those whose id is taken; returns how many were inserted."""
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(ShiftRow).on_conflict_do_nothing(index_elements=["id"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(ShiftRow).on_conflict_do_nothing(index_elements=["id"])
    else:  # pragma: no cover - the gateway runs on SQLite and PostgreSQL
        raise NotImplementedError(f"database {dialect} is not supported")
    return len(session.execute(stmt.returning(ShiftRow.id), rows).all())
