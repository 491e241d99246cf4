"""The cancellation (销假) a used leave is owed, and its recording.

A leave is *used* when the guard comes back on post from it: returning from an outing under it
(``offpost.confirm_return``), or arriving after a shift start it covered (``used_at_start``).
From then the leave is owed its cancellation within ``leave_cancel_limit_s`` (a
``PendingCancel``); ``alert.leave_not_cancelled`` falls when the hour passes without one
(``offpost.decide_not_cancelled``). A leave he was out on when his duty ended (the shift's
end, or a relief before it) and that ran past that end (taken at the end of the shift) is owed
from its own end (``owed_past_the_end``), his return off duty not being watched, unless it runs
into his next shift, whose arrival then asks it.

A leave typed in after it was used (approved by phone, entered when the leader reaches a
computer, ``owe_after_entry``) is owed the same cancellation from the same return, but the hour
is not counted as over before the leader has had ``report_grace_s`` after the entry to type the
cancellation too (``PendingCancel.entered_at``): the alert falls at the later of the two. A shift
whose machine closed meanwhile is opened again for that decision alone.

A cancellation settles what was owed (``apply_cancel``): ``leave.cancelled`` with the delay since
the return and whether it was in time; a not-cancelled alert raised already is resolved, or
withdrawn (reason ``cancelled_in_time``) when the cancellation, typed in late, is dated within
the hour after the return. An extension (续假, a second leave running on from the first) is
the same absence: cancelling either leave settles what the other is owed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.clock import utc
from gateway.policy import SitePolicy

from . import offpost
from .copying import replace
from .coverage import covering_leave, following_leave
from .deadlines import Deadline, Kind
from .entries import Departure, Leave, PendingCancel, iso
from .events import ALERT_LEAVE_NOT_CANCELLED, LEAVE_CANCELLED, Json
from .inputs import LeaveCancelled
from .state import PresenceState

if TYPE_CHECKING:
    from .machine import Run

__all__ = [
    "apply_cancel",
    "confirm_return",
    "owe_after_entry",
    "owed_past_the_end",
    "settle_at_arrival",
    "settle_cancelled_before_return",
    "used_at_start",
]


def used_at_start(run: Run, arrived_at: datetime) -> tuple[PendingCancel, ...]:
    """The pending cancellations once the guard arrives at ``arrived_at``: a leave that
    covered the time he was expected on post (the shift start, or when the gateway learned of
    the shift) and that he used, arriving after it, is owed its cancellation within
    ``leave_cancel_limit_s`` of his arrival, as after an outing on leave."""
    state = run.state
    pending = state.pending_cancels
    leave = _used_over_start(run, arrived_at)
    if leave is None or any(p.leave_id == leave.leave_id for p in pending):
        return pending
    return (*pending, PendingCancel(leave.leave_id, None, arrived_at))


def settle_at_arrival(run: Run, arrived_at: datetime) -> None:
    """The cancellation of the leave over the start he used, recorded before his arrival at
    ``arrived_at`` was seen (typed as he walked in, before the arrival was confirmed), settled
    by the arrival: ``leave.cancelled``, its delay counted from the arrival, as
    ``confirm_return`` does for an outing. Call it once the arrival is recorded."""
    leave = _used_over_start(run, arrived_at, cancelled=True)
    if leave is None or leave.cancelled_at is None:
        return
    if any(p.leave_id == leave.leave_id for p in run.state.pending_cancels):
        return
    pending = PendingCancel(leave.leave_id, None, arrived_at)
    run.state = replace(run.state, pending_cancels=(*run.state.pending_cancels, pending))
    _settle(run, leave, pending, leave.cancelled_at)


def _used_over_start(run: Run, arrived_at: datetime, *, cancelled: bool = False) -> Leave | None:
    """The leave that covered the time he was expected and that he used, arriving after it
    began; one cancelled since (after he was expected) only when ``cancelled``."""
    expected = run.state.expected_at
    if arrived_at <= expected:
        return None
    leave = covering_leave(run.state.leaves, expected, run.policy)
    if leave is None or (leave.cancelled_at is not None) != cancelled:
        return None  # none, or cancelled (not) as asked
    if arrived_at <= leave.starts_at:
        return None  # he came in before it began: not used
    return leave


def owed_past_the_end(state: PresenceState, dep: Departure) -> PendingCancel | None:
    """The cancellation owed for ``dep``, under way when his duty ended (``duty_end``: the
    shift's end, or the relief that ended it sooner), when its leave ran past that end (a leave
    taken at the end of the shift): from the leave's end, as his return off duty is not
    watched (``off_duty``). ``None`` when the leave does not reach the end, was
    cancelled by then, is owed already, or runs into his next shift, whose arrival asks it
    (``used_at_start``)."""
    leave = state.leave(dep.leave_id)
    end = state.duty_end
    if leave is None or leave.ends_at < end or not leave.active_at(end):
        return None
    if state.next_shift_at is not None and leave.ends_at > state.next_shift_at:
        return None
    if any(p.leave_id == leave.leave_id for p in state.pending_cancels):
        return None
    return PendingCancel(leave.leave_id, dep.departure_id, leave.ends_at, off_duty=True)


def owe_after_entry(run: Run, leave: Leave) -> None:
    """Ask the cancellation of ``leave``, just entered, for its latest use that had already
    ended when it was entered: an outing under it the guard came back from, his arrival after
    a shift start it covered, or an outing under way at the shift's end that it ran past
    (``owed_past_the_end``; see the module docstring). Nothing when the leave is cancelled,
    already owed, or not used, or when the guard is still out on it in the shift (his return
    will ask it)."""
    state = run.state
    if leave.cancelled_at is not None or any(
        p.leave_id == leave.leave_id for p in state.pending_cancels
    ):
        return
    uses: list[tuple[datetime, str | None]] = [
        (d.returned_at, d.departure_id)
        for d in state.past_departures
        if d.leave_id == leave.leave_id and d.returned_at is not None
    ]
    arrived = state.arrived_at
    if arrived is not None:
        over_start = _used_over_start(run, arrived)
        if over_start is not None and over_start.leave_id == leave.leave_id:
            uses.append((arrived, None))
    out_at_the_end = state.departures if state.ended else []
    past_end = [
        owed
        for d in out_at_the_end
        if d.leave_id == leave.leave_id and d.returned_at is None
        if (owed := owed_past_the_end(state, d)) is not None
    ]
    if past_end:
        owed = replace(past_end[-1], entered_at=run.now)
    elif uses:
        returned_at, departure_id = max(uses, key=lambda use: use[0])
        owed = PendingCancel(leave.leave_id, departure_id, returned_at, entered_at=run.now)
    else:
        return
    # A closed machine is opened again for this one decision (it stays ended).
    run.state = replace(state, pending_cancels=(*state.pending_cancels, owed), closed=False)


def apply_cancel(run: Run, cancel: LeaveCancelled) -> None:
    """Record the cancellation of a leave on record. The return it was owed for (a pending
    cancellation) is settled: ``leave.cancelled`` with the delay since the return and whether
    it was within ``leave_cancel_limit_s``; a not-cancelled alert raised for it is resolved,
    or withdrawn when the cancellation, typed in late, is dated within the limit."""
    state = run.state
    leave = state.leave(cancel.leave_id)
    if leave is None or leave.cancelled_at is not None:
        return
    cancelled_at = utc(cancel.cancelled_at)
    chain = _chain(state.leaves, leave, run.policy)
    state = state.with_leave(replace(leave, cancelled_at=cancelled_at))
    pending = next((p for p in state.pending_cancels if p.leave_id == leave.leave_id), None)
    if pending is None:
        # 续假: an extension is the same absence; cancelling either leave of it settles it.
        pending = next((p for p in state.pending_cancels if p.leave_id in chain), None)
    run.state = state
    if pending is None:
        # Cancelled while still out, or never used this shift: nothing was waiting for it (a
        # return seen later settles it then, ``confirm_return``).
        return
    _settle(run, leave, pending, cancelled_at)


def confirm_return(run: Run, deadline: Deadline) -> None:
    """The guard's return (``offpost.confirm_return``), with the cancellation of the leave he
    was out on settled at once when it was recorded before the return was seen: typed as he
    walked in, before the return was confirmed, or while his terminal was in a blind area
    and its upload showed him back only later. It is his cancellation on return, in time
    (``leave.cancelled``, its delay counted from the return: negative when dated before it), as
    if typed a moment after; so is the cancellation of another leave of the same absence
    (续假). A leave cancelled before this outing began was not his for it."""
    departure = run.state.departure
    offpost.confirm_return(run, deadline)
    dep = next(
        (
            d
            for d in run.state.past_departures
            if departure and d.departure_id == departure.departure_id
        ),
        None,
    )
    if dep is not None and dep.returned_at is not None:
        settle_cancelled_before_return(run, dep, dep.returned_at)


def settle_cancelled_before_return(run: Run, dep: Departure, returned_at: datetime) -> None:
    """Settle the cancellation of the leave ``dep`` was under (or of another leave of the
    same absence, 续假) recorded during ``dep``, before its return at ``returned_at`` was
    seen (``confirm_return``; after the end, :mod:`gateway.rules.late_return`)."""
    state = run.state
    leave = state.leave(dep.leave_id)
    if leave is None:
        return
    chain = _chain(state.leaves, leave, run.policy)
    done = [
        lv
        for lv in state.leaves
        if lv.leave_id in chain and lv.cancelled_at is not None and lv.cancelled_at > dep.started_at
    ]
    if not done:
        return
    cancelled = min(done, key=lambda lv: (lv.cancelled_at, lv.leave_id))
    pending = next(
        (
            p
            for p in state.pending_cancels
            if p.leave_id in chain and p.departure_id == dep.departure_id
        ),
        None,
    )
    if pending is None:
        pending = PendingCancel(leave.leave_id, dep.departure_id, returned_at)
        run.state = replace(state, pending_cancels=(*state.pending_cancels, pending))
    assert cancelled.cancelled_at is not None
    _settle(run, cancelled, pending, cancelled.cancelled_at)


def _settle(run: Run, leave: Leave, pending: PendingCancel, cancelled_at: datetime) -> None:
    """Settle ``pending`` by the cancellation of ``leave`` at ``cancelled_at`` (recorded in
    ``run.state`` already): ``leave.cancelled``, and the not-cancelled alert it raised resolved
    (late) or withdrawn (dated in time)."""
    state = run.state
    delay_s = (cancelled_at - pending.returned_at).total_seconds()
    in_time = delay_s <= run.policy.leave_cancel_limit_s
    if pending.alert_key is None and not in_time:
        # Its leave, typed in after the hour, waited for the cancellation before asking: dated
        # after the hour, it was late all the same, and the alert that was due stands.
        run.state = state
        limit = timedelta(seconds=run.policy.leave_cancel_limit_s)
        offpost.decide_not_cancelled(
            run, Deadline(pending.returned_at + limit, Kind.CANCEL, pending.leave_id)
        )
        state = run.state
        pending = next(p for p in state.pending_cancels if p.leave_id == pending.leave_id)
    run.state = replace(
        state, pending_cancels=tuple(p for p in state.pending_cancels if p is not pending)
    )
    alert_key = pending.alert_key
    run.emit(
        LEAVE_CANCELLED,
        cancelled_at,
        leave.leave_id,
        {
            "leave_id": leave.leave_id,
            "used_leave_id": pending.leave_id,
            "departure_id": pending.departure_id,
            "returned_at": iso(pending.returned_at),
            "cancelled_at": iso(cancelled_at),
            "delay_s": delay_s,
            "in_time": in_time,
        },
        resolves=() if alert_key is None or in_time else (alert_key,),
    )
    if alert_key is not None and in_time:
        _withdraw_not_cancelled(run, pending, alert_key, cancelled_at)


def _chain(leaves: Sequence[Leave], leave: Leave, policy: SitePolicy) -> set[str]:
    """The ids of the leaves ``leave`` is one link of (续假: each runs on from the one before,
    ``coverage.following_leave``), ``leave`` itself included."""
    follows = {
        lv.leave_id: nxt.leave_id
        for lv in leaves
        if (nxt := following_leave(leaves, lv.leave_id, lv.ends_at, policy)) is not None
    }
    chain = {leave.leave_id}
    for _ in range(len(leaves)):
        more = {follows[i] for i in chain if i in follows} | {
            before for before, after in follows.items() if after in chain
        }
        if more <= chain:
            break
        chain |= more
    return chain


def _withdraw_not_cancelled(
    run: Run, pending: PendingCancel, alert_key: str, cancelled_at: datetime
) -> None:
    data: dict[str, Json] = {
        "leave_id": pending.leave_id,
        "departure_id": pending.departure_id,
        "returned_at": iso(pending.returned_at),
        "cancelled_at": iso(cancelled_at),
    }
    run.withdraw(alert_key, ALERT_LEAVE_NOT_CANCELLED, "cancelled_in_time", data)
