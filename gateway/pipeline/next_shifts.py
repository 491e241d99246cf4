"""What a presence machine knows of the guard's shifts after its own, from the roster.

A machine is told when the guard's next shift starts (``PresenceState.next_shift_at``) and,
when it is at another post and follows this one within the walk (轮岗), ``next_post_at``: the
rules then know a double shift (``PresenceState.continued``), a walk to the next post
(``rules.departures.moving_on``) and which shift settles a leave running past the end
(``rules.cancellations.owed_past_the_end``). Both are learned when the machine starts and again
whenever a site load changes the guard's shifts (``learn_next_shifts``).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from datetime import datetime, timedelta

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.rules import PresenceState
from gateway.rules.copying import replace

__all__ = ["learn_next_shifts", "next_shifts"]


def next_shifts(duty: Duty, duties: DutyIndex) -> tuple[datetime | None, datetime | None]:
    """``(next_post_at, next_shift_at)`` of ``duty``'s machine, from one pass over the guard's
    shifts in the roster: when his next shift starts if it is at another post and starts when
    ``duty`` ends or within ``next_post_walk_s`` after, and when his next shift starts at all."""
    later = [o for o in duties.duties_of_guard(duty.guard_id) if o.starts_at >= duty.ends_at]
    walk_until = duty.ends_at + timedelta(seconds=duty.policy.next_post_walk_s)
    next_post = min(
        (o.starts_at for o in later if o.post_id != duty.post_id and o.starts_at <= walk_until),
        default=None,
    )
    return next_post, min((o.starts_at for o in later), default=None)


def learn_next_shifts(
    presence: MutableMapping[str, PresenceState],
    duties: DutyIndex,
    dirty: set[str],
    guards: Iterable[str] | None,
) -> None:
    """Set ``next_post_at`` and ``next_shift_at`` of the open machines of ``guards`` (``None``:
    every machine in ``presence``) from ``duties``; the shift ids of those that changed are
    added to ``dirty`` (to be saved with the batch)."""
    if guards is None:
        shift_ids: Iterable[str] = list(presence)
    else:
        shift_ids = [d.shift_id for g in guards for d in duties.duties_of_guard(g)]
    for shift_id in shift_ids:
        state, duty = presence.get(shift_id), duties.duty(shift_id)
        if state is None or duty is None or state.closed:
            continue
        learned = next_shifts(duty, duties)
        if learned != (state.next_post_at, state.next_shift_at):
            presence[shift_id] = replace(state, next_post_at=learned[0], next_shift_at=learned[1])
            dirty.add(shift_id)
