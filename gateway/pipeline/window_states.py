"""The saved rule states a reload reads back: those of the open shifts of the roster's window.

Only the states of the window's shifts are read (the roster's own condition, joined on the
shift), so a reload costs the same after a year of history; closed machines stay stored and
are not read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.db.models import ShiftRow
from gateway.pipeline.duty import DutyIndex, in_window

__all__ = ["open_states"]


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
