"""When a tick may decide: the deadlines held back while data that may settle them is arriving.

One rule for two cases. A deadline that came due while evidence about it was still on its way
is not fired by a tick until that evidence had ``RESTART_GRACE_S`` to arrive; a fix fires the
deadlines due by its own time whenever it comes (``presence._on_fix``), so the outcome is the
same whichever comes first, the tick or the data:

* **after a restart** (``PresenceState.unwatched_from``/``unwatched_until``): the messages the
  broker kept for the gateway while it was down;
* **during a backfill** (``PresenceState.backfill_at``/``backfill_heard_at``): a terminal back
  in network uploading the positions it stored in a blind area (a basement, a lift, a dead
  zone), oldest first. A tick that fell between two of its messages would otherwise decide
  with half the outing known: out from 09:00 to 09:05, the terminal offline from 08:50 to
  09:20, the outside fixes of the upload reveal an outing whose 15 minutes ran out at 09:15,
  and the inside fixes of 09:05, one message later, would come after its overtime alert.

A backfill begins with a fix older than ``BACKFILL_AFTER_S`` on arrival from a terminal that
was silent (``silent_since``: no fix for ``device_silent_s``), and goes on while its fixes
arrive that old; a fix that is not ends it, having fired everything due by its time. A
terminal whose clock runs behind but that is heard all along starts none: its deadlines fire
on the clock, as before. A blind area shorter than the silence limit starts none either; what
a limit alert that fell meanwhile got wrong, the return withdraws (``offpost``,
``returned_before``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .copying import replace
from .events import BACKFILL_AFTER_S, RESTART_GRACE_S
from .state import PresenceState

__all__ = ["held", "note_backfill"]

_GRACE = timedelta(seconds=RESTART_GRACE_S)


def held(state: PresenceState, now: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) of the deadlines a tick holds back at ``now``: those due after ``start``,
    until ``end``; ``None`` when none is. With both holds on, the wider of the two."""
    if state.unwatched_until is None and state.backfill_heard_at is None:
        return None  # every step of nearly every guard asks
    start: datetime | None = None
    end: datetime | None = None
    for since, until in (
        (state.unwatched_from, state.unwatched_until),
        (state.backfill_at, state.backfill_heard_at),
    ):
        if since is None or until is None or now >= until + _GRACE:
            continue
        start = since if start is None else min(start, since)
        end = until + _GRACE if end is None else max(end, until + _GRACE)
    return None if start is None or end is None else (start, end)


def note_backfill(state: PresenceState, fix_time: datetime, now: datetime) -> PresenceState:
    """``state`` having received, at ``now``, a fix taken at ``fix_time``: in a backfill that
    has reached ``fix_time`` when the fix is old, out of any backfill when it is not."""
    if (now - fix_time).total_seconds() > BACKFILL_AFTER_S:
        if state.silent_since is None and state.backfill_at is None:
            return state  # a clock running behind on a terminal heard all along: no upload
        return replace(state, backfill_at=fix_time, backfill_heard_at=now)
    if state.backfill_at is None and state.backfill_heard_at is None:
        return state
    return replace(state, backfill_at=None, backfill_heard_at=None)
