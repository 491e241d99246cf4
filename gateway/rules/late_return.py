"""A return before the end of the duty that evidence coming after the guard's machine ended
shows: the alerts it shows wrong are withdrawn.

Internal to the package, as :mod:`gateway.rules.arrival`. A guard out at the end of his duty
was raised *left early* at the end, and an off-post limit (*overtime*, *leave overrun*) may
have fallen on the clock while nothing was heard from him. Evidence dated inside his duty can
reach the gateway after his machine ended: the scans of an offline patrol wand, downloaded
after the shift as a rule, or the positions a terminal stored in a blind area sent after the
end's wait (``holds.end_wait``). It is no longer judged (he is off duty; what it would show of
his outings is history), but when it shows him back from the outing open at the end before
the duty ended, the alerts that claim otherwise are withdrawn (``alert.withdrawn``, reason
``returned_before``, with ``returned_at`` and ``fell_at``): ``alert.left_early``, and a limit
alert that fell after that return, as :mod:`gateway.rules.offpost` withdraws one an upload
shows wrong inside the shift. The alerts that fell before the return stand, and no return is
recorded (no ``presence.returned``, no hour to cancel a leave from it, no time on post).

A leave on record for later that a limit took up while his terminal was quiet (he seemed still
out) and that ran past the end owes its cancellation from its own end
(``cancellations.owed_past_the_end``). When the evidence shows him back before that leave began
(less the grace, ``offpost.without_later_leave``, as an upload in the shift does), the leave
was never his for this outing: the cancellation is no longer owed, and an
``alert.leave_not_cancelled`` raised for it already is withdrawn (``returned_before``, with
``leave_id``, ``returned_at`` and ``fell_at``). An extension (续假) of a leave he was out on by
then is the same absence: its cancellation stays owed.

A return is shown as live it is confirmed (``return_confirm_s``, 30 s), with the evidence at
hand: a scan at the post (fixed equipment: it places him there at that instant), or a fix
inside from a device that was out with him (``Departure.away_devices``) followed by another
inside evidence at least ``return_confirm_s`` later with no fix outside between them, the
return confirmed by the end of his duty in both cases. One fix inside alone may be a position
error, and a device that stayed on the post says nothing of him. The first inside fix of such
a return waits as the departure's ``inside_first`` (after the end nothing else uses it).

What the evidence shows after that return is history, as any outing shown only after the end's
wait: back at 19:45 and out again from 19:50 to the end by the same upload, his *left early*
is withdrawn and the second outing is not judged (nor would it have been, had he not come back
in between).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from geofence.membership import Membership

from .cancellations import settle_cancelled_before_return
from .copying import replace
from .deadlines import cancel_due
from .entries import Departure, FixEvidence, PendingCancel, iso
from .events import ALERT_LEAVE_NOT_CANCELLED, ALERT_LEFT_EARLY
from .inputs import FixObserved
from .machine import Run
from .offpost import withdraw_fell_after, without_later_leave
from .state import PresenceState

__all__ = ["open_at_end", "shown_back", "withdrawable"]


def open_at_end(state: PresenceState) -> Departure | None:
    """The departure the guard was on when his duty ended, if any: the open one while a
    decision of it is still owed, else among the past ones, never returned from."""
    if state.departure is not None:
        return state.departure
    for dep in reversed(state.past_departures):
        if dep.returned_at is None:
            return dep
    return None


def withdrawable(state: PresenceState, dep: Departure) -> bool:
    """Whether ``dep`` has an alert a return before the end would show wrong, or a
    cancellation owed past the end for a leave that began after its last fix outside (a return
    shown before that leave would show it was not his: see the module docstring)."""
    left_early = dep.left_early_alert
    if left_early is not None and left_early not in dep.withdrawn:
        return True
    if any(key in dep.open_alerts for key, _ in dep.limits_fell):
        return True
    # A return is shown only after the last fix outside: a leave begun by then was his.
    leave = state.leave(dep.leave_id)
    return (
        leave is not None
        and leave.starts_at > dep.last_fix.fix_time
        and _owed_from_its_end(state, dep) is not None
    )


def shown_back(run: Run, fix: FixObserved) -> None:
    """Take ``fix``, evidence of the guard's that came after his machine ended, as evidence of
    a return from the outing open at the end (see the module docstring)."""
    state = run.state
    dep = open_at_end(state)
    at = fix.fix_time
    if dep is None or at <= dep.last_fix.fix_time or at > state.duty_end:
        return
    confirm = timedelta(seconds=run.policy.return_confirm_s)
    candidate = dep.inside_first
    if fix.membership is Membership.OUTSIDE:
        if candidate is not None and candidate.fix_time < at < candidate.fix_time + confirm:
            run.state = state.with_departure(replace(dep, inside_first=None))
        return
    if fix.membership is not Membership.INSIDE:
        return
    evidence = FixEvidence.of(fix)
    if not fix.worn:
        back: FixEvidence | None = evidence
    elif candidate is not None and at >= candidate.fix_time + confirm:
        back = candidate
    else:
        back = None
    if back is not None and back.fix_time + confirm <= state.duty_end:
        _withdraw_shown_wrong(run, dep, back.fix_time)
    elif fix.device_id in dep.away_devices and candidate is None:
        # Not moved to an older fix coming later: a fix outside taken between the two may
        # have come already, and is not kept. Stored positions are sent oldest first.
        run.state = state.with_departure(replace(dep, inside_first=evidence))


def _withdraw_shown_wrong(run: Run, dep: Departure, back_at: datetime) -> None:
    """Withdraw the alerts of ``dep`` its return at ``back_at`` shows wrong."""
    fell_after = {key: fell for key, fell in dep.limits_fell if fell >= back_at}
    dep = withdraw_fell_after(run, dep, back_at, fell_after)
    dep = _not_owed_for_a_later_leave(run, dep, back_at)
    key = dep.left_early_alert
    if key is not None and key not in dep.withdrawn:
        run.withdraw(
            key,
            ALERT_LEFT_EARLY,
            "returned_before",
            {
                "departure_id": dep.departure_id,
                "returned_at": iso(back_at),
                "fell_at": iso(run.state.shift_end),
            },
            device_id=dep.last_fix.device_id,
        )
        dep = replace(dep, withdrawn=(*dep.withdrawn, key))
    run.state = run.state.with_departure(replace(dep, inside_first=None))
    # A cancellation typed while he seemed still out was his cancellation on return.
    settle_cancelled_before_return(run, dep, back_at)


def _owed_from_its_end(state: PresenceState, dep: Departure) -> PendingCancel | None:
    """The cancellation owed from its leave's end for ``dep``, out on it when his duty ended."""
    return next(
        (
            p
            for p in state.pending_cancels
            if p.off_duty and p.departure_id == dep.departure_id and p.leave_id == dep.leave_id
        ),
        None,
    )


def _not_owed_for_a_later_leave(run: Run, dep: Departure, back_at: datetime) -> Departure:
    """``dep`` without the leave a limit took it up under, when that leave began only after
    ``back_at`` (``offpost.without_later_leave``): he was back on post before it, so it owes no
    cancellation for this outing, and a not-cancelled alert raised for it is withdrawn."""
    kept = without_later_leave(run, dep, back_at)
    if kept.leave_id is not None:
        # Still his, or an extension (续假) of one he was out on by then: the same absence,
        # whose cancellation stays owed (after the end no return is recorded to ask the
        # first one's).
        return dep
    owed = _owed_from_its_end(run.state, dep)
    if owed is None:
        return kept
    run.state = replace(
        run.state, pending_cancels=tuple(p for p in run.state.pending_cancels if p is not owed)
    )
    if owed.alert_key is not None:
        run.withdraw(
            owed.alert_key,
            ALERT_LEAVE_NOT_CANCELLED,
            "returned_before",
            {
                "leave_id": owed.leave_id,
                "departure_id": dep.departure_id,
                "returned_at": iso(back_at),
                "fell_at": iso(cancel_due(owed, run.policy)),
            },
            device_id=dep.last_fix.device_id,
        )
    return kept
