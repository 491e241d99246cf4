"""The deadlines a presence state is waiting for, derived from the state and the policy.

Deadlines are not stored one by one: each is recomputed from the state (when the candidate
departure started, which decisions are done...), so a state restored after a restart has exactly
the deadlines it had, and a deadline that passed while the gateway was down is simply due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum
from typing import NamedTuple

from gateway.policy import SitePolicy

from .coverage import covering_leave
from .entries import Departure, PendingCancel
from .state import PresenceState
from .tracks import DeviceTrack

__all__ = [
    "Deadline",
    "Kind",
    "absence_due",
    "arrival_candidate",
    "arrival_due",
    "cancel_due",
    "leave_excuses_until",
    "pending_deadlines",
    "silence_due",
]


class Kind(IntEnum):
    """What a deadline decides. The value breaks ties between deadlines due at the same time;
    the shift's end comes last so that everything due at the end still fires."""

    ABSENT = 0
    SILENT = 1
    RESUME = 2
    RETURN = 3
    UNREPORTED = 4
    OVERTIME = 5
    OVERRUN = 6
    CANCEL = 7
    ARRIVE = 8
    END = 9


class Deadline(NamedTuple):
    """A decision due at ``due``; ``ref`` names the leave for ``CANCEL``. Ordered by time, then
    kind, then ``ref``.

    A named tuple, not a dataclass: every fix derives its state's deadlines, and a tuple is
    built and compared in C (with the filters folded in, ``pending_deadlines`` went from 3.0
    to 1.5 us for a guard on post)."""

    due: datetime
    kind: Kind
    ref: str = ""


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _return_pending_by(departure: Departure, when: datetime) -> bool:
    """A candidate return that began by ``when`` holds back off-post alerts due at ``when``:
    the guard was back, only not yet confirmed. The return's own deadline settles it."""
    inside = departure.inside_first
    return inside is not None and inside.fix_time <= when


UNCORROBORATED_RETURN_MAX_S = 600.0
"""The longest a return shown by one fix inside waits for its device's next fix."""


def _return_due(state: PresenceState, dep: Departure, policy: SitePolicy) -> datetime:
    """When the candidate return of ``dep`` is confirmed: ``return_confirm_s`` after its first
    fix inside once its device has sent another inside since (or the evidence is fixed
    equipment: a scan places him). While that fix is its device's last, one fix inside may be
    a position error among fixes outside (multipath at a terminal reporting every 3 minutes):
    the return waits for the device's next fix, expected one interval later (the time from its
    last fix outside to that fix inside), with ``return_confirm_s`` to spare, at most
    ``UNCORROBORATED_RETURN_MAX_S``; a fix outside meanwhile ends the candidate. A device that
    went quiet after it (its battery died on post) still confirms it then."""
    first = dep.inside_first
    assert first is not None
    confirm = _seconds(policy.return_confirm_s)
    track = state.track(first.device_id)  # none for a scan's evidence
    if track is None or track.last_fix_time > first.fix_time:
        return first.fix_time + confirm
    longest = _seconds(UNCORROBORATED_RETURN_MAX_S)
    if dep.last_fix.fix_time > first.fix_time:
        # A fix outside since, about to end the candidate: nothing to confirm by its time.
        return first.fix_time + longest
    interval = first.fix_time - dep.last_fix.fix_time
    return first.fix_time + min(max(confirm, interval + confirm), longest)


def arrival_candidate(state: PresenceState) -> DeviceTrack | None:
    """The worn device whose inside run began first, while the guard has not arrived: the
    arrival it shows waits for ``arrival_due``."""
    if state.arrived_at is not None:
        return None
    best: DeviceTrack | None = None
    for track in state.tracks:
        first = track.inside_first
        if first is not None and (best is None or first.fix_time < _inside_since(best)):
            best = track
    return best


def _inside_since(track: DeviceTrack) -> datetime:
    assert track.inside_first is not None
    return track.inside_first.fix_time


def arrival_due(track: DeviceTrack, policy: SitePolicy) -> datetime:
    """When the arrival ``track``'s inside run shows is confirmed, as a return is
    (``_return_due``): ``return_confirm_s`` after its first fix inside once the device has
    sent another since (its own fix outside would have ended the run). While that fix is its
    last, it may be a terminal passing the post (a car driving by at 60 km/h, fixes outside
    before and after): the arrival waits for the device's next fix, expected one interval
    later (from its fix before), with ``return_confirm_s`` to spare, at most
    ``UNCORROBORATED_RETURN_MAX_S`` (the longest too for a device's first fix in the shift).
    A device that went quiet after it (its battery died in the booth) still confirms it."""
    first = track.inside_first
    assert first is not None
    confirm = _seconds(policy.return_confirm_s)
    if track.last_fix_time > first.fix_time:
        return first.fix_time + confirm
    longest = _seconds(UNCORROBORATED_RETURN_MAX_S)
    if track.inside_gap_s is None:
        return first.fix_time + longest
    return first.fix_time + min(max(confirm, _seconds(track.inside_gap_s) + confirm), longest)


def _departure_deadlines(state: PresenceState, policy: SitePolicy) -> list[Deadline]:
    dep = state.departure
    if dep is None:
        return []
    out: list[Deadline] = []
    start = dep.started_at
    if dep.inside_first is not None:
        out.append(Deadline(_return_due(state, dep, policy), Kind.RETURN))
    if not dep.unreported_done:
        wait_s = max(policy.report_grace_s, policy.departure_confirm_s)
        out.append(Deadline(start + _seconds(wait_s), Kind.UNREPORTED))
    if dep.leave_id is None and not dep.overtime_done:
        due = start + _seconds(policy.verbal_report_limit_s)
        if not _return_pending_by(dep, due):
            out.append(Deadline(due, Kind.OVERTIME))
    leave = state.leave(dep.leave_id)
    if (
        leave is not None
        and not dep.overrun_done
        and not _return_pending_by(dep, leave.ends_at)
        and not _off_duty_by(state, leave.ends_at)
    ):
        out.append(Deadline(leave.ends_at, Kind.OVERRUN))
    return out


def _off_duty_by(state: PresenceState, at: datetime) -> bool:
    """Whether the guard's duty is over by ``at`` (no double shift going on): a leave ending
    at or after his duty's end was not overrun on duty, as ``offpost.overran_before_entry``
    judges one typed in late. He is still owed its cancellation (销假) within the hour,
    counted from its end (``cancellations.owed_past_the_end``), not an overrun beside the
    end's decisions."""
    return at >= state.duty_end and not state.continued


def _expected_from(state: PresenceState, policy: SitePolicy) -> datetime:
    """When the guard is expected on post: the shift start (or, for a shift the gateway learned
    of after it began, that instant), or the end of an approved leave covering it (a leave
    spanning the start of the shift excuses him, and his terminal, until it ends, or until he
    cancelled it, 销假, if sooner: back from it, he is expected then)."""
    due = state.expected_at
    if not state.leaves:
        return due
    for _ in range(len(state.leaves)):
        leave = covering_leave(state.leaves, due, policy)
        if leave is None or leave.over_at <= due:
            break
        due = leave.over_at
    return due


def leave_excuses_until(state: PresenceState, policy: SitePolicy) -> datetime | None:
    """The end of the approved leaves covering the time the guard was expected on post (the
    shift start, or when the gateway learned of the shift), ``None`` when none covers it: what
    the attendance rules count the clock-in grace from, as these count his absence."""
    expected = _expected_from(state, policy)
    return expected if expected > state.expected_at else None


def absence_due(state: PresenceState, policy: SitePolicy) -> datetime:
    """When the guard, not yet on post, is absent at the shift start: the grace after he was
    expected (after the approved leaves covering that time)."""
    return _expected_from(state, policy) + _seconds(policy.shift_start_grace_s)


def silence_due(state: PresenceState, heard: datetime, policy: SitePolicy) -> datetime:
    """When the guard's terminal, last heard at ``heard``, is silent: ``device_silent_s`` after
    it, or after the time he was expected if later, not counted while he is on an approved
    leave."""
    return _silence_due(state, _expected_from(state, policy), heard, policy)


def _silence_due(
    state: PresenceState, expected: datetime, heard: datetime | None, policy: SitePolicy
) -> datetime:
    if heard is None or heard < expected:
        heard = expected
    due = heard + _seconds(policy.device_silent_s)
    if state.leaves:
        due = _after_leaves(state, due, policy)
    return due


def pending_deadlines(state: PresenceState, policy: SitePolicy) -> list[Deadline]:
    """Every deadline the state waits for, earliest first; empty once the shift is closed.

    Up to the shift end everything is watched. After it (``ended``) only the decisions owed for
    what happened inside the shift remain: whether a departure begun in it was reported (its
    decision may fall after the end) and the hour to cancel a leave after a return. Off-post
    limits that would only be reached after the end are not: inside the shift they were not
    reached.
    """
    if state.closed:
        return []
    out: list[Deadline] = []
    if not state.ended:
        end = state.duty_end  # a relief waiting for a quiet terminal's upload ends at the relief
        out.append(Deadline(end, Kind.END))
        expected = _expected_from(state, policy)
        arriving = arrival_candidate(state)
        if arriving is not None:
            due = arrival_due(arriving, policy)
            if due <= end:
                out.append(Deadline(due, Kind.ARRIVE))
        if state.arrived_at is None and not state.absent_checked:
            due = expected + _seconds(policy.shift_start_grace_s)
            # An arrival that began by then, not yet confirmed, holds the absence back: he was
            # there. A fix outside that ends it lets the absence fall, dated at this deadline.
            if due <= end and (arriving is None or _inside_since(arriving) > due):
                out.append(Deadline(due, Kind.ABSENT))
        if state.silent_since is None and state.reports_live:
            due = _silence_due(state, expected, state.last_received_at, policy)
            if due <= end:
                out.append(Deadline(due, Kind.SILENT))
        if state.resume_pending is not None and state.resume_pending.received_at <= end:
            out.append(Deadline(state.resume_pending.received_at, Kind.RESUME))
        if state.departure is not None:
            out.extend(d for d in _departure_deadlines(state, policy) if d.due <= end)
    if state.departure is not None or state.pending_cancels:
        out.extend(_owed_after_the_end(state, policy))
    out.sort()
    return out


def _after_leaves(state: PresenceState, due: datetime, policy: SitePolicy) -> datetime:
    """The silence deadline ``due``, not counted while the guard is on an approved leave: one
    falling in a leave counts from the leave's end (or its cancellation, if sooner), as a leave
    over the shift start does (``_expected_from``). A guard on leave may switch his terminal
    off; nothing is hidden by it."""
    silent = _seconds(policy.device_silent_s)
    for _ in range(len(state.leaves)):
        leave = covering_leave(state.leaves, due, policy)
        if leave is None:
            break
        if leave.over_at + silent <= due:
            break
        due = leave.over_at + silent
    return due


def _owed_after_the_end(state: PresenceState, policy: SitePolicy) -> list[Deadline]:
    """The decisions that outlive the shift: the unreported decision of a departure begun in it
    (when it falls at or after the end) and the hour to cancel a used leave."""
    out: list[Deadline] = []
    dep = state.departure
    if dep is not None and not dep.unreported_done:
        wait_s = max(policy.report_grace_s, policy.departure_confirm_s)
        due = dep.started_at + _seconds(wait_s)
        if state.ended or due > state.duty_end:
            out.append(Deadline(due, Kind.UNREPORTED))
    for pending in state.pending_cancels:
        if pending.alert_key is None:
            out.append(Deadline(cancel_due(pending, policy), Kind.CANCEL, pending.leave_id))
    return out


def cancel_due(pending: PendingCancel, policy: SitePolicy) -> datetime:
    """When ``alert.leave_not_cancelled`` falls for ``pending``: ``leave_cancel_limit_s`` after
    the return, and, for a leave typed in after it, not before ``report_grace_s`` after that
    entry (the leader may be typing the cancellation in too)."""
    due = pending.returned_at + _seconds(policy.leave_cancel_limit_s)
    if pending.entered_at is not None:
        due = max(due, pending.entered_at + _seconds(policy.report_grace_s))
    return due
