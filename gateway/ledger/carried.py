"""Returns from outings a later day's shift took over: where the night's ledger finds them.

A double shift across the morning (the night 20:00-08:00, then the day 08:00-20:00 at the same
post) hands the outing under way at 08:00 to the day shift (``gateway.rules.handover``), whose
``presence.returned`` ends it. The night's day reads its own shifts' events only
(``collect.read_day``), so it would list the outing with no return. A departure's id is its
shift's and its start's (``gateway.rules.entries.departure_id_for``): the return carrying it,
in whichever shift, is that outing's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.ledger.collect import GuardRecords, ShiftEvents

__all__ = ["note_returns_later"]


def note_returns_later(guards: Iterable[GuardRecords], events: ShiftEvents) -> None:
    """Give each of ``guards`` the returns (``GuardRecords.returned_later``) from the outings of
    his day's events that these events leave open, found among ``events`` (every shift's, read
    over the day and ``EVENTS_AFTER_DAY`` after it). Events are scanned only when an outing is
    left open, which few days have."""
    owner: dict[str, GuardRecords] = {}
    for records in guards:
        returned = {e.data.get("departure_id") for e in records.events if _is_return(e.type)}
        for event in records.events:
            dep_id = event.data.get("departure_id")
            if isinstance(dep_id, str) and dep_id not in returned:
                owner[dep_id] = records
    if not owner:
        return
    for shift_events in events.values():
        for event in shift_events:
            if not _is_return(event.type):
                continue
            dep_id = str(event.data.get("departure_id"))
            if (back_of := owner.get(dep_id)) is not None:
                back = event.data.get("returned_at")
                at = datetime.fromisoformat(back) if isinstance(back, str) else event.time
                back_of.returned_later[dep_id] = at


def _is_return(type_: str) -> bool:
    return type_ == "presence.returned"
