"""What a presence machine knows of the guard's shifts around its own, from the roster.

A machine is told when the guard's next shift starts (``PresenceState.next_shift_at``) and,
when it is at another post and follows this one within the walk (轮岗), ``next_post_at``: the
rules then know a double shift (``PresenceState.continued``), a walk to the next post
(``rules.departures.moving_on``) and which shift settles a leave running past the end
(``rules.cancellations.owed_past_the_end``). Both are learned when the machine starts and again
whenever a site load changes the guard's shifts (``learn_next_shifts``).

The machine of the second shift of a double shift takes over what the first handed on
at its end (``shift_before``, ``continued_from``; ``gateway.rules.handover``).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from datetime import datetime, timedelta

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.rules import DutyContinued, PresenceState
from gateway.rules.copying import replace

__all__ = [
    "continued_from",
    "duty_after",
    "duty_before",
    "fresh_state",
    "learn_next_shifts",
    "next_shifts",
    "shift_after",
    "shift_before",
]


def fresh_state(duty: Duty, duties: DutyIndex) -> PresenceState:
    """The state of a machine started for ``duty``, told of the guard's next shifts."""
    return PresenceState.start(
        duty.shift_id,
        duty.guard_id,
        duty.post_id,
        duty.site_id,
        duty.device_ids,
        duty.starts_at,
        duty.ends_at,
        duty.known_from,
        *next_shifts(duty, duties),
        wands=duty.wands,
        worn=duty.worn,
    )


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


def shift_before(duty: Duty, duties: DutyIndex) -> Duty | None:
    """The guard's shift at ``duty``'s post that ends when ``duty`` starts (the first of a
    double shift, 连班), if the roster has one and no site load cut it short."""
    return next(
        (
            d
            for d in duties.duties_of_guard(duty.guard_id)
            if d.post_id == duty.post_id and d.ends_at == duty.starts_at and not d.cut_short
        ),
        None,
    )


def duty_before(duty: Duty, duties: DutyIndex) -> Duty | None:
    """The guard's shift his duty in ``duty`` goes on from without a break: the first of a
    double shift (``shift_before``), or the shift a site load cut short where ``duty`` starts
    (he was moved to another post during it). His clock-in holds across either."""
    before = shift_before(duty, duties)
    if before is not None:
        return before
    return next(
        (
            d
            for d in duties.duties_of_guard(duty.guard_id)
            if d.cut_short and d.ends_at == duty.starts_at and d.shift_id != duty.shift_id
        ),
        None,
    )


def duty_after(duty: Duty, duties: DutyIndex) -> Duty | None:
    """The guard's shift his duty in ``duty`` goes on in without a break, as ``duty_before``
    finds it: the second of a double shift, or, for a shift a load cut short, the one that
    starts at the cut."""
    if not duty.cut_short:
        return shift_after(duty, duties)
    return next(
        (
            d
            for d in duties.duties_of_guard(duty.guard_id)
            if d.starts_at == duty.ends_at and d.shift_id != duty.shift_id
        ),
        None,
    )


def shift_after(duty: Duty, duties: DutyIndex) -> Duty | None:
    """The guard's shift at ``duty``'s post that starts when ``duty`` ends (the second of a
    double shift), if the roster has one."""
    return next(
        (
            d
            for d in duties.duties_of_guard(duty.guard_id)
            if d.post_id == duty.post_id and d.starts_at == duty.ends_at
        ),
        None,
    )


def continued_from(before: PresenceState) -> DutyContinued | None:
    """What the machine of the shift ``before`` hands on to the next at its post
    (``PresenceState.handover``), with the report the outing under way was made under and the
    leaves it may still be under (those ending after it began); ``None``: nothing."""
    handover = before.handover
    if handover is None:
        return None
    dep = handover.departure
    if dep is None:
        return DutyContinued(before.shift_id, handover)
    return DutyContinued(
        previous_shift_id=before.shift_id,
        handover=handover,
        reports=tuple(r for r in before.reports if r.report_id == dep.report_id),
        leaves=tuple(lv for lv in before.leaves if lv.ends_at > dep.started_at),
    )
