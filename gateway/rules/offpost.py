"""The off-post decisions a departure's deadlines take: the return, whether it was reported,
the overtime and leave-overrun limits, and the hour to cancel a leave.

Internal to the package: each function takes the :class:`~gateway.rules.machine.Run` whose
deadline came due; ``machine.Run.fire_due`` calls them in time order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .copying import replace
from .coverage import extended_leave_begun_by, following_leave, last_extension
from .deadlines import Deadline, Kind, pending_deadlines
from .entries import Departure, PendingCancel, iso, opt_iso
from .events import (
    ALERT_LEAVE_NOT_CANCELLED,
    ALERT_LEAVE_OVERRUN,
    ALERT_OVERTIME_DEPARTURE,
    ALERT_UNREPORTED_DEPARTURE,
    PRESENCE_RETURNED,
    Json,
    event_key,
)
from .state import PresenceState

if TYPE_CHECKING:
    from .machine import Run

__all__ = [
    "confirm_return",
    "decide_not_cancelled",
    "decide_overrun",
    "decide_overtime",
    "decide_unreported",
    "overran_before_entry",
    "overrun_episode",
    "withdraw_fell_after",
    "without_later_leave",
]


def _secs(delta: timedelta) -> float:
    return delta.total_seconds()


def confirm_return(run: Run, deadline: Deadline) -> None:
    dep = run.state.departure
    assert dep is not None and dep.inside_first is not None
    back = dep.inside_first
    dep = without_later_leave(run, dep, back.fix_time)
    # A limit is "up to": back as it fell (first fix inside at 15:00 exactly, the tick that
    # fired it a moment before that fix came) is back in time.
    fell_after = {key: fell for key, fell in dep.limits_fell if fell >= back.fix_time}
    run.emit(
        PRESENCE_RETURNED,
        back.fix_time,
        iso(dep.started_at),
        {
            "departure_id": dep.departure_id,
            "started_at": iso(dep.started_at),
            "returned_at": iso(back.fix_time),
            "duration_s": _secs(back.fix_time - dep.started_at),
            "return_fix": back.to_json(),
            "last_fix_outside": dep.last_fix.to_json(),
            "report_id": dep.report_id,
            "leave_id": dep.leave_id,
        },
        deadline=deadline,
        resolves=tuple(k for k in dep.open_alerts if k not in fell_after),
        device_id=back.device_id,
    )
    dep = withdraw_fell_after(run, dep, back.fix_time, fell_after)
    pending = run.state.pending_cancels
    leave = run.state.leave(dep.leave_id)
    if leave is not None and leave.cancelled_at is None:
        earlier = next((p for p in pending if p.leave_id == leave.leave_id), None)
        if earlier is None or earlier.alert_key is None:
            # A second outing under the same leave restarts the hour from the later return.
            others = tuple(p for p in pending if p.leave_id != leave.leave_id)
            pending = (
                *others,
                PendingCancel(leave.leave_id, dep.departure_id, back.fix_time),
            )
    ended = replace(dep, returned_at=back.fix_time, inside_first=None)
    # Outside runs begun during the outing belong to it: a device that stayed out (or went
    # quiet out there) starts a new departure only with new evidence after the return.
    tracks = tuple(
        t.ended_run() if t.run_first is not None and t.run_first.fix_time <= back.fix_time else t
        for t in run.state.tracks
    )
    run.state = replace(
        run.state.with_past(ended), departure=None, pending_cancels=pending, tracks=tracks
    )


def without_later_leave(run: Run, dep: Departure, back_at: datetime) -> Departure:
    """``dep`` without its leave when that leave began after ``back_at``, his return: taken up
    at a limit that fell while his terminal was quiet out of network (he seemed still out), it
    was never his for this outing, which the positions it stored show over before the leave
    (also after the end: :mod:`gateway.rules.late_return`). When it extends (续假) a leave
    begun by then, the outing was under that one, which is his to cancel, as it would have
    been had the positions come live (``coverage.extended_leave_begun_by``)."""
    leave = run.state.leave(dep.leave_id)
    if leave is None or leave.starts_at - timedelta(seconds=run.policy.report_grace_s) <= back_at:
        return dep
    extended = extended_leave_begun_by(run.state.leaves, dep.leave_id, back_at, run.policy)
    return replace(dep, leave_id=None if extended is None else extended.leave_id)


def withdraw_fell_after(
    run: Run, dep: Departure, back_at: datetime, fell_after: dict[str, datetime]
) -> Departure:
    """Withdraw the limit alerts of ``dep`` that fell after ``back_at``, his return (reason
    ``returned_before``): raised on the clock while his terminal was quiet out of network, they
    were wrong once the positions it stored show him back before them (also after the end:
    :mod:`gateway.rules.late_return`)."""
    open_now = [key for key in fell_after if key in dep.open_alerts]
    for key in open_now:
        run.withdraw(
            key,
            ALERT_OVERTIME_DEPARTURE if key == dep.overtime_alert else ALERT_LEAVE_OVERRUN,
            "returned_before",
            {
                "departure_id": dep.departure_id,
                "returned_at": iso(back_at),
                "fell_at": iso(fell_after[key]),
            },
            device_id=dep.last_fix.device_id,
        )
    return replace(
        dep,
        withdrawn=(*dep.withdrawn, *open_now),
        open_alerts=tuple(k for k in dep.open_alerts if k not in open_now),
    )


def decide_unreported(run: Run, deadline: Deadline) -> None:
    dep = run.state.departure
    assert dep is not None
    run.attach_report()
    run.attach_leave(dep.started_at, approved_by=deadline.due)
    dep = run.state.departure
    assert dep is not None
    if dep.report_id is not None or dep.leave_id is not None:
        settle_unreported(run, replace(dep, unreported_done=True))
        return
    key = run.emit(
        ALERT_UNREPORTED_DEPARTURE,
        dep.started_at,
        iso(dep.started_at),
        {
            "departure_id": dep.departure_id,
            "started_at": iso(dep.started_at),
            "first_fix": dep.first_fix.to_json(),
            "report_grace_s": run.policy.report_grace_s,
            "checked_out": dep.checked_out,
        },
        deadline=deadline,
        alert=True,
        device_id=dep.first_fix.device_id,
    )
    settle_unreported(
        run,
        replace(
            dep,
            unreported_done=True,
            unreported_alert=key,
            open_alerts=(*dep.open_alerts, key),
        ),
    )


def settle_unreported(run: Run, dep: Departure) -> None:
    """Store the decided departure; after the shift end it joins the past ones and the
    machine closes once nothing else is owed."""
    if not run.state.ended:
        run.state = replace(run.state, departure=dep)
        return
    run.state = replace(run.state.with_past(dep), departure=None)
    if not pending_deadlines(run.state, run.policy):
        run.close()


def _off_post_alert(
    run: Run,
    deadline: Deadline,
    dep: Departure,
    type_: str,
    extra: dict[str, Json],
    episode: str | None = None,
    *,
    resolves: tuple[str, ...] = (),
    ended_at: datetime | None = None,
) -> str:
    """Raise an off-post limit alert of the departure at its deadline; returns its key
    (episode: the departure's start, unless said). ``resolves`` and ``ended_at``: for a
    departure already over, the alert itself and when it ended."""
    data: dict[str, Json] = {
        "departure_id": dep.departure_id,
        "started_at": iso(dep.started_at),
        "off_post_s": _secs(deadline.due - dep.started_at),
        **extra,
        "checked_out": dep.checked_out,
        "last_fix": dep.last_fix.to_json(),
    }
    return run.emit(
        type_,
        deadline.due,
        iso(dep.started_at) if episode is None else episode,
        data,
        deadline=deadline,
        alert=True,
        device_id=dep.last_fix.device_id,
        resolves=resolves,
        ended_at=ended_at,
    )


def decide_overtime(run: Run, deadline: Deadline) -> None:
    # A leave approved for this very moment turns the limit into the leave's end.
    run.attach_leave(deadline.due, approved_by=deadline.due)
    dep = run.state.departure
    assert dep is not None
    if dep.leave_id is not None:
        return
    if deadline.due >= run.state.duty_end and not run.state.continued:
        # Off post exactly the limit as his duty ends: up to the limit is the verbal report's,
        # only past it is overtime (art. 10.1), and past the end he is off duty. The end
        # decides the outing (早退, ``PresenceMachine._end``): one alert, not two.
        run.state = replace(run.state, departure=replace(dep, overtime_done=True))
        return
    extra: dict[str, Json] = {
        "limit_s": run.policy.verbal_report_limit_s,
        "report_id": dep.report_id,
    }
    key = _off_post_alert(run, deadline, dep, ALERT_OVERTIME_DEPARTURE, extra)
    run.state = replace(
        run.state,
        departure=replace(
            dep,
            overtime_done=True,
            overtime_alert=key,
            open_alerts=(*dep.open_alerts, key),
            limits_fell=(*dep.limits_fell, (key, deadline.due)),
        ),
    )


def decide_overrun(run: Run, deadline: Deadline) -> None:
    dep = run.state.departure
    assert dep is not None and dep.leave_id is not None
    extension = following_leave(run.state.leaves, dep.leave_id, deadline.due, run.policy)
    if extension is not None:
        # Extended (续假): the outing goes on under the leave that runs on from this one.
        run.state = replace(run.state, departure=replace(dep, leave_id=extension.leave_id))
        return
    extra: dict[str, Json] = {"leave_id": dep.leave_id, "leave_ends_at": iso(deadline.due)}
    key = _off_post_alert(
        run, deadline, dep, ALERT_LEAVE_OVERRUN, extra, overrun_episode(run.state, dep)
    )
    run.state = replace(
        run.state,
        departure=replace(
            dep,
            overrun_done=True,
            open_alerts=(*dep.open_alerts, key),
            limits_fell=(*dep.limits_fell, (key, deadline.due)),
        ),
    )


def overran_before_entry(run: Run, dep: Departure) -> None:
    """Raise the overrun of ``dep``, an outing a leave typed in late has just covered, when it
    is over and outlasted that leave and the extensions approved by its end (续假), as
    ``alert.leave_overrun`` would have fallen with the leave on record: dated at the end of the
    leave. He came back after it: the alert ends at his return at once. He was still out when
    the shift ended: it stays open, as one raised then would have. An outing still under way
    in the shift is left to its deadline."""
    leave = run.state.leave(dep.leave_id)
    back = dep.returned_at
    if leave is None or dep.overrun_done or (back is None and not run.state.ended):
        return
    leave = last_extension(run.state.leaves, leave, run.policy)
    if leave.ends_at >= (back or run.state.duty_end):
        return
    deadline = Deadline(leave.ends_at, Kind.OVERRUN)
    episode = overrun_episode(run.state, dep)
    extra: dict[str, Json] = {"leave_id": leave.leave_id, "leave_ends_at": iso(leave.ends_at)}
    resolves: tuple[str, ...] = ()
    if back is not None:
        extra.update(returned_at=iso(back), overrun_s=_secs(back - leave.ends_at))
        resolves = (event_key(run.state.shift_id, ALERT_LEAVE_OVERRUN, episode),)
    _off_post_alert(
        run, deadline, dep, ALERT_LEAVE_OVERRUN, extra, episode, resolves=resolves, ended_at=back
    )
    run.state = run.state.with_departure(replace(dep, overrun_done=True))


def decide_not_cancelled(run: Run, deadline: Deadline) -> None:
    pending = next(p for p in run.state.pending_cancels if p.leave_id == deadline.ref)
    key = run.emit(
        ALERT_LEAVE_NOT_CANCELLED,
        deadline.due,
        pending.leave_id,
        {
            "leave_id": pending.leave_id,
            "departure_id": pending.departure_id,
            "returned_at": iso(pending.returned_at),
            "limit_s": run.policy.leave_cancel_limit_s,
            "leave_entered_at": opt_iso(pending.entered_at),
            "off_duty": pending.off_duty,
        },
        deadline=deadline,
        alert=True,
    )
    fired = replace(pending, alert_key=key)
    run.state = replace(
        run.state,
        pending_cancels=tuple(
            fired if p.leave_id == pending.leave_id else p for p in run.state.pending_cancels
        ),
    )
    if run.state.ended and not pending_deadlines(run.state, run.policy):
        run.close()


def overrun_episode(state: PresenceState, dep: Departure) -> str:
    """The episode of the departure's ``alert.leave_overrun``: its start, or, once an extension
    typed in late withdrew that one, its start and the leave it overran."""
    first = iso(dep.started_at)
    if event_key(state.shift_id, ALERT_LEAVE_OVERRUN, first) in dep.withdrawn:
        return f"{first}/{dep.leave_id}"
    return first
