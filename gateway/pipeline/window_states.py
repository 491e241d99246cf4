"""The saved rule states a reload reads back: those of the open shifts of the roster's window.

Only the states of the window's shifts are read (the roster's own condition, joined on the
shift), so a reload costs the same after a year of history; closed machines stay stored and
are not read.

A periodic refresh of the roster reads less still: the machines in memory are the truth (each
is saved in the transaction that changed it), so it drops those whose shift left the window
(``drop_gone``) and reads only the states of shifts new to it (``saved_states_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.db.models import ShiftRow
from gateway.db.slices import slices
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.roster_window import in_window

__all__ = ["drop_gone", "open_states", "refresh_machines", "saved_states_of"]

S = TypeVar("S")


def open_states(
    session: Session,
    duties: DutyIndex,
    *,
    key: InstrumentedAttribute[str],
    shift_id: InstrumentedAttribute[str],
    state: InstrumentedAttribute[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """``{key: state}`` of the machines (columns of one state table) whose shift ``duties``
    holds and that are not closed."""
    window: ColumnElement[bool] = (
        in_window(duties.loaded_at) if duties.loaded_at is not None else false()
    )
    rows = session.execute(
        select(key, shift_id, state).join(ShiftRow, ShiftRow.id == shift_id).where(window)
    )
    return {
        row[0]: row[2]
        for row in rows
        if duties.duty(row[1]) is not None and not row[2].get("closed")
    }


def saved_states_of(
    session: Session,
    shift_ids: Collection[str],
    *,
    key: InstrumentedAttribute[str],
    shift_id: InstrumentedAttribute[str],
    state: InstrumentedAttribute[dict[str, Any]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(key, shift id, state)`` of every machine saved for ``shift_ids``, closed ones
    included, read in slices of ids."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for chunk in slices(sorted(shift_ids)):
        rows = session.execute(select(key, shift_id, state).where(shift_id.in_(chunk)))
        out.extend((row[0], row[1], row[2]) for row in rows)
    return out


def drop_gone(
    machines: MutableMapping[str, S], duties: DutyIndex, shift_of: Callable[[str, S], str]
) -> int:
    """Remove the machines whose shift (``shift_of(key, machine)``) ``duties`` no longer
    holds; returns how many."""
    gone = [k for k, machine in machines.items() if duties.duty(shift_of(k, machine)) is None]
    for k in gone:
        del machines[k]
    return len(gone)


def refresh_machines(
    session: Session,
    machines: MutableMapping[str, S],
    duties: DutyIndex,
    new_shifts: Collection[str],
    *,
    key: InstrumentedAttribute[str],
    shift_id: InstrumentedAttribute[str],
    state: InstrumentedAttribute[dict[str, Any]],
    shift_of: Callable[[str, S], str],
    parse: Callable[[Mapping[str, Any]], S],
) -> list[str]:
    """A roster refresh for one kind of machine (columns of its state table): drop those
    whose shift ``duties`` no longer holds, add the open ones saved for ``new_shifts``. Returns
    the shift of every machine saved for ``new_shifts``, closed ones included."""
    drop_gone(machines, duties, shift_of)
    saved = []
    for machine_key, shift, data in saved_states_of(
        session, new_shifts, key=key, shift_id=shift_id, state=state
    ):
        saved.append(shift)
        if not data.get("closed"):
            machines[machine_key] = parse(data)
    return saved
