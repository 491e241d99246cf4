"""The guard's arrival on post, and the absence alert it ends or shows wrong.

Internal to the package, as :mod:`gateway.rules.offpost`: a function of the step's ``Run``.
His arrival is confirmed as a return is: his own scan or punch at the post at once; a worn
device's inside run (``tracks``) once it holds for ``return_confirm_s`` with a second fix, or
its device's next fix is overdue (``deadlines.arrival_due``), so one fix inside among fixes
outside (a terminal driving by the post) is no arrival. ``presence.arrived`` is dated at the
first inside evidence of the confirming run; an arrival not yet confirmed holds the absence
back, and a fix outside that ends it lets the absence fall, dated at its deadline.

``alert.absent_at_shift_start`` raised before it is resolved by it, when he came after the
alert fell (late, but on post now). When the evidence is dated before the alert fell,
the alert was wrong: it fell on the clock while that evidence was on its way (a terminal in a
blind area across the shift start, a basement booth or a lift, uploading the positions it
stored; a wand's scans downloaded later), and it is withdrawn (``alert.withdrawn``, reason
``arrived_before``, with ``arrived_at`` and ``fell_at``), as ``offpost`` withdraws the limit
alerts an upload shows wrong (``returned_before``). So is an alert that a leave over the start,
approved by the time it fell, would have put off past his arrival (``leave_on_record``, as
``excusals``): typed in while he was not yet seen and after the later deadline, the leave
could not tell. *Terminal silent* stands: nobody heard him.

After his machine ended, evidence is no longer judged, but evidence that places him on post
before his absence fell still withdraws it (``after_the_end``): an offline patrol wand is
downloaded after the shift as a rule. Such evidence that shows him back from an outing before
the end withdraws the alerts of that outing it shows wrong (:mod:`gateway.rules.late_return`).
"""

from __future__ import annotations

from datetime import datetime

from gateway.policy import SitePolicy
from geofence.membership import Membership

from . import late_return
from .cancellations import settle_at_arrival, used_at_start
from .copying import replace
from .coverage import covering_leave
from .deadlines import Deadline, absence_due, arrival_candidate
from .entries import FixEvidence, iso
from .events import ALERT_ABSENT_AT_SHIFT_START, PRESENCE_ARRIVED, Json, RuleEvent, event_key
from .inputs import FixObserved
from .machine import Run
from .state import PresenceState

__all__ = ["after_the_end", "arrive", "confirm_arrival", "placed_by"]


def confirm_arrival(run: Run, deadline: Deadline) -> None:
    """The inside run of the device that began first has held (``deadlines.arrival_due``):
    the guard arrived at its first fix inside."""
    track = arrival_candidate(run.state)
    assert track is not None and track.inside_first is not None
    arrive(run, track.inside_first, deadline=deadline)


def placed_by(state: PresenceState, evidence: FixEvidence) -> FixEvidence:
    """The evidence a scan or punch at the post (``evidence``) confirms the arrival at: the
    first fix of an inside run begun before it and not yet confirmed (he was there since),
    else the scan or punch itself."""
    track = arrival_candidate(state)
    first = None if track is None else track.inside_first
    return evidence if first is None or first.fix_time > evidence.fix_time else first


def arrive(run: Run, evidence: FixEvidence, *, deadline: Deadline | None = None) -> None:
    """Record the guard's arrival on post at ``evidence`` (see the module docstring);
    ``deadline``: the confirmation that fired it, if any."""
    state = run.state
    absence = event_key(state.shift_id, ALERT_ABSENT_AT_SHIFT_START, state.absence_episode)
    fell_at = state.absent_raised_at if state.absent_open else None
    withdrawal = None if fell_at is None else _withdrawal(run, evidence, fell_at)
    run.state = replace(
        state,
        arrived_at=evidence.fix_time,
        absent_checked=True,
        absent_open=False,
        # Withdrawn here, it is not for a leave typed in later to withdraw again.
        absent_raised_at=state.absent_raised_at if withdrawal is None else None,
        pending_cancels=used_at_start(run, evidence.fix_time),
        # The inside runs served the arrival only: not kept in every later state write.
        tracks=tuple(
            t if t.inside_first is None else replace(t, inside_first=None, inside_gap_s=None)
            for t in state.tracks
        ),
    )
    run.emit(
        PRESENCE_ARRIVED,
        evidence.fix_time,
        iso(state.shift_start),
        {
            "arrived_at": iso(evidence.fix_time),
            "shift_start": iso(state.shift_start),
            "after_shift_start_s": max(
                0.0, (evidence.fix_time - state.shift_start).total_seconds()
            ),
            "fix": evidence.to_json(),
        },
        deadline=deadline,
        resolves=(absence,) if fell_at is not None and withdrawal is None else (),
        device_id=evidence.device_id,
    )
    if withdrawal is not None:
        reason, data = withdrawal
        run.withdraw(
            absence, ALERT_ABSENT_AT_SHIFT_START, reason, data, device_id=evidence.device_id
        )
    settle_at_arrival(run, evidence.fix_time)


def after_the_end(
    state: PresenceState, fix: FixObserved, now: datetime, policy: SitePolicy
) -> tuple[PresenceState, list[RuleEvent]]:
    """``presence.step`` for a fix that came after the guard's machine ended: it withdraws
    his absence when it places him on post before it fell (``_shown_on_post``), and the
    alerts of the outing open at the end when it shows him back before the end
    (:mod:`gateway.rules.late_return`). Nothing else."""
    if fix.device_id not in state.device_ids:
        return state, []
    # A check-out is no return from the outing open at the end: he came by to leave.
    dep = None if state.absent_open or fix.checks_out else late_return.open_at_end(state)
    if not state.absent_open and (dep is None or not late_return.withdrawable(state, dep)):
        return state, []  # nearly every fix after the end: nothing to withdraw
    run = Run(state, now, policy)
    if state.absent_open:
        if fix.membership is Membership.INSIDE:
            _shown_on_post(run, FixEvidence.of(fix))
    else:
        late_return.shown_back(run, fix)
    if run.state == state:
        return state, []
    return run.finish()


def _shown_on_post(run: Run, evidence: FixEvidence) -> None:
    """Evidence dated inside the guard's duty that came after his machine ended: no longer
    judged (he is off duty, what it would have shown of his outings is history), but when it
    places him on post before his absence fell (an offline patrol wand downloaded after the
    shift, the upload of a terminal quiet past the end's wait), that alert is withdrawn, as a
    report or leave typed in after the end withdraws what it shows wrong. Nothing else: no
    arrival is recorded, so the time it would have put him on post is not counted."""
    state = run.state
    fell_at = state.absent_raised_at
    if not state.absent_open or fell_at is None or evidence.fix_time > state.duty_end:
        return
    withdrawal = _withdrawal(run, evidence, fell_at)
    if withdrawal is None:
        return
    absence = event_key(state.shift_id, ALERT_ABSENT_AT_SHIFT_START, state.absence_episode)
    run.state = replace(state, absent_open=False, absent_raised_at=None)
    reason, data = withdrawal
    run.withdraw(absence, ALERT_ABSENT_AT_SHIFT_START, reason, data, device_id=evidence.device_id)


def _withdrawal(
    run: Run, evidence: FixEvidence, fell_at: datetime
) -> tuple[str, dict[str, Json]] | None:
    """Why the absence alert that fell at ``fell_at`` was wrong, now that ``evidence`` shows
    when he came, or ``None`` when it stands.

    Wrong when he was on post before it fell; live, a fix fires what was due by its own time
    first, so evidence dated at the deadline itself comes after the alert. Wrong too when the
    leaves over the start approved by then put the deadline later and he came by it: a leave
    typed in while he was not yet seen, after that later deadline, could not tell.
    """
    arrived_at = evidence.fix_time
    data: dict[str, Json] = {"arrived_at": iso(arrived_at), "fell_at": iso(fell_at)}
    if arrived_at < fell_at:
        return "arrived_before", data
    state = run.state
    approved = tuple(lv for lv in state.leaves if lv.approved_at <= fell_at)
    if not approved:
        return None
    due = absence_due(replace(state, leaves=approved), run.policy)
    first = covering_leave(approved, state.expected_at, run.policy)
    if due <= fell_at or arrived_at > due or first is None:
        return None
    return "leave_on_record", {
        "leave_id": first.leave_id,
        "approved_at": iso(first.approved_at),
        **data,
    }
