"""A checkpoint scanned late, within the tolerance, just after the guard's shift ended.

A round fits inside its shift, so its last checkpoint's window can close at the shift's end
(west 09:55-10:00 of a shift to 10:00), and a scan up to ``patrol_late_tolerance_s`` after a
window still counts, late, and resolves the missed alert its window's end raised. Named by the
shift covering its time, such a scan at 10:03 went to nobody (or to the relief on duty from
10:00, for whom it counted for nothing) and the guard's missed alert stood. So before the
usual naming, a checkpoint scan goes to the guard whose shift at that post ended less than the
tolerance before it when his patrol machine, held in this process, still takes it as a late
scan of that checkpoint: a visit not scanned whose window closed at most the tolerance before
the scan. A relief's own scans are not taken: when a guard on duty at the post then has that
checkpoint's window open at the scan's time, the scan is his, on time, as before.

In a partitioned gateway a guard another process holds is not seen here; the scan is then
named as before (a limit, documented in docs/site-file.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.rules.patrol_state import PatrolState

__all__ = ["LATEST_TOLERANCE", "late_scan_duty"]

LATEST_TOLERANCE = timedelta(hours=1)
"""Shifts ended longer ago than this are not looked at (tolerances are minutes)."""


def late_scan_duty(
    duties: DutyIndex,
    patrols: Mapping[str, PatrolState],
    route_ids: Iterable[str],
    checkpoint_id: str,
    post_id: str,
    at: datetime,
) -> Duty | None:
    """The shift at ``post_id`` ended before ``at`` whose patrol (of ``route_ids``) still takes
    a scan of ``checkpoint_id`` at ``at`` as late (module docstring), if one does."""
    routes = tuple(route_ids)
    for duty in duties.at_post(post_id, at):
        for route_id in routes:
            state = patrols.get(f"{duty.shift_id}/{route_id}")
            if state is not None and _open_to(state, checkpoint_id, at):
                return None  # on time for the guard on duty: his
    for duty in duties.ended_at_post(post_id, at, LATEST_TOLERANCE):
        if not duties.holds(duty.guard_id):
            continue
        late_for = timedelta(seconds=duty.patrol_policy.patrol_late_tolerance_s)
        for route_id in routes:
            state = patrols.get(f"{duty.shift_id}/{route_id}")
            if state is not None and _takes(state, checkpoint_id, at, late_for):
                return duty
    return None


def _takes(state: PatrolState, checkpoint_id: str, at: datetime, late_for: timedelta) -> bool:
    return not state.closed and any(
        v.checkpoint_id == checkpoint_id
        and v.scanned_at is None
        and v.window_end <= at <= v.window_end + late_for
        for rnd in state.rounds
        for v in rnd.visits
    )


def _open_to(state: PatrolState, checkpoint_id: str, at: datetime) -> bool:
    return not state.closed and any(
        v.checkpoint_id == checkpoint_id and v.window_start <= at < v.window_end
        for rnd in state.rounds
        for v in rnd.visits
    )
