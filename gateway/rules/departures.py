"""Departures: confirming one from a device's evidence, devices left behind, what counts as the
guard coming back, and reports or leaves entered after the decision they would have changed.

Internal to the package: functions over a :class:`~gateway.rules.machine.Run`. The device
policy is in :mod:`gateway.rules.tracks`; which report or leave covers a departure in
:mod:`gateway.rules.coverage`.
"""

from __future__ import annotations

from datetime import datetime

from gateway.policy import SitePolicy

from .copying import replace
from .coverage import covering_leave, last_extension, leave_covers_departure, report_window
from .entries import Departure, FixEvidence, Leave, Report, departure_id_for, iso
from .events import (
    ALERT_DEVICE_LEFT_BEHIND,
    ALERT_LEFT_EARLY,
    ALERT_OVERTIME_DEPARTURE,
    ALERT_UNREPORTED_DEPARTURE,
    PRESENCE_DEPARTED,
)
from .machine import Run
from .offpost import overran_before_entry
from .state import PresenceState
from .tracks import DeviceTrack, distance_m

__all__ = [
    "apply_late_leave",
    "apply_late_report",
    "confirm_departure",
    "held_inside",
    "moving_on",
    "note_left_behind",
    "returns_with",
]


def moving_on(state: PresenceState, started_at: datetime, policy: SitePolicy) -> bool:
    """Whether an outing begun at ``started_at`` is the guard's way to his next shift at
    another post: it follows this one (``next_post_at``) and he left within
    ``next_post_walk_s`` of the end."""
    if state.next_post_at is None:
        return False
    before_end = (state.shift_end - started_at).total_seconds()
    return 0 <= before_end <= policy.next_post_walk_s


def confirm_departure(run: Run, track: DeviceTrack) -> None:
    """Open the departure ``track``'s outside run proves, dated at its first fix outside."""
    first, last = track.run_first, track.run_last
    assert first is not None and last is not None
    state = run.state
    if moving_on(state, first.fix_time, run.policy):
        # He left for his next post (轮岗): his duty here ends, as at a relief.
        run.relieved(first.fix_time)
        return
    departure = Departure(
        departure_id=departure_id_for(state.shift_id, first.fix_time),
        first_fix=first,
        last_fix=last,
        away_devices=(track.device_id,),
    )
    # Every run is settled by the departure: the others are part of the same outing.
    tracks = tuple(t.ended_run() for t in state.tracks)
    run.state = replace(state, departure=departure, tracks=tracks)
    run.attach_report()
    run.attach_leave(first.fix_time, approved_by=last.fix_time)
    dep = run.state.departure
    assert dep is not None
    run.emit(
        PRESENCE_DEPARTED,
        first.fix_time,
        iso(first.fix_time),
        {
            "departure_id": dep.departure_id,
            "started_at": iso(first.fix_time),
            "first_fix": first.to_json(),
            "last_fix": last.to_json(),
            "confirm_s": run.policy.departure_confirm_s,
            "evidence_fixes": track.run_count,
            "report_id": dep.report_id,
            "leave_id": dep.leave_id,
        },
        device_id=track.device_id,
    )
    note_left_behind(run)


def held_inside(state: PresenceState, away: DeviceTrack) -> bool:
    """Whether another worn device, inside and moving since ``away``'s outside run began, shows
    the guard on the post: the guard is where his moving device is, so a device lying outside
    (dropped, or handed to someone) does not take him away."""
    first = away.run_first
    assert first is not None
    return any(
        t.device_id != away.device_id and t.inside is True and t.moved_after(first.fix_time)
        for t in state.tracks
    )


def note_left_behind(run: Run) -> None:
    """Raise ``alert.device_left_behind`` for each worn device of the guard that sits still on
    the post while the open departure is under way (once per device and departure; resolved by
    the return)."""
    dep = run.state.departure
    if dep is None:
        return
    for track in run.state.tracks:
        if track.device_id in dep.away_devices or track.device_id in dep.left_behind:
            continue
        if not track.left_behind_at(dep.started_at):
            continue
        still = track.still_since
        assert still is not None
        key = run.emit(
            ALERT_DEVICE_LEFT_BEHIND,
            dep.started_at,
            f"{dep.departure_id}:{track.device_id}",
            {
                "departure_id": dep.departure_id,
                "left_device_id": track.device_id,
                "still_since": iso(still.fix_time),
                "left_device_fix": still.to_json(),
                "away_device_id": dep.last_fix.device_id,
                "away_fix": dep.last_fix.to_json(),
                "apart_m": round(distance_m(still, dep.last_fix), 1),
                "checked_out": dep.checked_out,
            },
            alert=True,
            device_id=track.device_id,
        )
        dep = replace(
            dep,
            left_behind=(*dep.left_behind, track.device_id),
            open_alerts=(*dep.open_alerts, key),
        )
        run.state = replace(run.state, departure=dep)


def returns_with(
    state: PresenceState, dep: Departure, evidence: FixEvidence, *, fixed: bool
) -> bool:
    """Whether an inside fix shows the guard back: fixed equipment at the post, a device that
    was away, or a worn device that moved since the departure began (so it is with him). A
    device left behind, or one that stood still all along, says nothing about him."""
    if fixed or evidence.device_id in dep.away_devices:
        return True
    if evidence.device_id in dep.left_behind:
        return False
    track = state.track(evidence.device_id)
    return track is not None and track.moved_after(dep.started_at)


def _withdraw(
    run: Run, dep: Departure, key: str, alert_type: str, reason: str, **why: str
) -> Departure:
    run.withdraw(
        key,
        alert_type,
        reason,
        {"departure_id": dep.departure_id, **why},
        device_id=dep.first_fix.device_id,
    )
    return replace(
        dep,
        withdrawn=(*dep.withdrawn, key),
        open_alerts=tuple(k for k in dep.open_alerts if k != key),
    )


def apply_late_report(run: Run, report: Report) -> None:
    """Give ``report`` to the one departure it was made for, if that departure already began:
    the earliest whose start lies in the report's window (``coverage.report_window``). The
    report is spent on it even if another report or a leave covered it already, so it never
    covers a later departure. If that departure's unreported alert fired, it is withdrawn
    (``alert.withdrawn``, reason ``report_on_record``), even when he was out under a leave
    from later on (that leave covered no start: the alert stood). A report made before any
    departure stays on record for the next one, as before."""
    earliest, latest = report_window(report, run.policy)
    dep = next(
        (
            d
            for d in run.state.departures
            if earliest <= d.started_at <= latest and d.started_at <= run.now
        ),
        None,
    )
    if dep is None:
        return
    spent = replace(report, used_by=dep.departure_id)
    run.state = replace(
        run.state,
        reports=tuple(spent if r.report_id == report.report_id else r for r in run.state.reports),
    )
    key = dep.unreported_alert
    if dep.report_id is not None or (
        dep.leave_id is not None and (key is None or key in dep.withdrawn)
    ):
        return  # covered already; a leave he was out under only from later covers no start
    dep = replace(dep, report_id=report.report_id)
    if key is not None and key not in dep.withdrawn:
        dep = _withdraw(
            run,
            dep,
            key,
            ALERT_UNREPORTED_DEPARTURE,
            "report_on_record",
            report_id=report.report_id,
            reported_at=iso(report.reported_at),
            entered_at=iso(report.entered),
        )
    run.state = run.state.with_departure(dep)


def apply_late_leave(run: Run, leave: Leave) -> None:
    """A leave entered after departures it covers, approved before they began (within the
    report grace): each gets the leave, and its unreported and overtime alerts are withdrawn
    (reason ``leave_on_record``): under a leave on record neither is decided, the leave's end
    is the limit. An outing he came back from only after the leave ran out is raised its
    overrun now (``offpost.overran_before_entry``); one still under way overruns by its
    deadline, as ever.

    A leave approved while he was out, before his 15 minutes ran out, and whose window holds
    that moment, would have taken the outing over then (``offpost.decide_overtime``): entered
    late, it withdraws the overtime alert the same way, not the unreported one (it covered no
    start). A departure already under a leave the leader approved while the guard was out (it
    took the outing over from the 15-minute mark or later, and covered no start) has its
    alerts withdrawn too, and its *left early* if this leave reached the end; it stays under
    that leave (its end, its cancellation)."""
    for dep in run.state.departures:
        alerts: tuple[tuple[str | None, str], ...]
        if leave_covers_departure(leave, dep, run.policy):
            if dep.leave_id is not None and _start_covered(run, dep):
                continue
            alerts = (
                (dep.unreported_alert, ALERT_UNREPORTED_DEPARTURE),
                (dep.overtime_alert, ALERT_OVERTIME_DEPARTURE),
            )
        elif _held_the_limit(run, leave, dep):
            alerts = ((dep.overtime_alert, ALERT_OVERTIME_DEPARTURE),)
        else:
            continue
        _settled_by(run, leave, dep, alerts)


def _settled_by(
    run: Run, leave: Leave, dep: Departure, alerts: tuple[tuple[str | None, str], ...]
) -> None:
    """``dep`` with ``alerts`` withdrawn by ``leave``, typed in late (``apply_late_leave``)."""
    taken_over = dep.leave_id is not None
    changed = dep if taken_over else replace(dep, leave_id=leave.leave_id)
    for key, alert_type in alerts:
        if key is None or key in changed.withdrawn:
            continue
        changed = _withdraw(
            run,
            changed,
            key,
            alert_type,
            "leave_on_record",
            leave_id=leave.leave_id,
            approved_at=iso(leave.approved_at),
        )
    changed = _not_early(run, changed, leave)
    run.state = run.state.with_departure(changed)
    if not taken_over:
        overran_before_entry(run, changed)


def _held_the_limit(run: Run, leave: Leave, dep: Departure) -> bool:
    """Whether ``leave``, approved by the time ``dep``'s overtime alert fell and holding that
    moment, would have taken the outing over then had it been on record."""
    key = dep.overtime_alert
    if key is None or key in dep.withdrawn:
        return False
    fell = next((due for k, due in dep.limits_fell if k == key), None)
    return (
        fell is not None
        and leave.approved_at <= fell
        and covering_leave((leave,), fell, run.policy) is not None
    )


def _start_covered(run: Run, dep: Departure) -> bool:
    """Whether the leave ``dep`` is under covered its start (approved before he left)."""
    under = None if dep.leave_id is None else run.state.leave(dep.leave_id)
    return under is not None and leave_covers_departure(under, dep, run.policy)


def _not_early(run: Run, dep: Departure, leave: Leave) -> Departure:
    """``dep`` with its ``alert.left_early`` withdrawn if ``leave``, typed in late, or the
    extensions approved by its end, reached the shift's end: with it on record, he would not
    have been raised."""
    key = dep.left_early_alert
    if key is None or key in dep.withdrawn:
        return dep
    end = run.state.shift_end
    last = last_extension(run.state.leaves, leave, run.policy)
    if last.ends_at < end or not last.active_at(end):
        return dep
    return _withdraw(
        run,
        dep,
        key,
        ALERT_LEFT_EARLY,
        "leave_on_record",
        leave_id=leave.leave_id,
        approved_at=iso(leave.approved_at),
    )
