"""A checkpoint scanned at a handover, while two guards are on duty at the post.

A checkpoint tag read by a reader fixed at a post names nobody by itself
(``gateway.pipeline.scan_attribution``): it is the scan of the one guard on duty there, and of
nobody when several are. At a handover the relief comes on before the guard he relieves goes
off (night shift to 08:10, day shift from 08:00), and the relief's first round starts in that
overlap: his scans of it went to nobody, and he was raised *checkpoint missed* for checkpoints
he had walked, and *absent at shift start* (the scans were his only evidence there).

A patrol round is walked by the guard whose shift it belongs to, so while several are on duty
at the post a scan goes to the one whose round has that checkpoint open to it (not scanned yet,
its window begun and its late tolerance not run out), when exactly one has: on time for one
guard beats late for another. Two guards whose rounds both wait for it (a pair walking the same
route together) are told apart by nothing the reader gives, and the scan still names nobody.

Only guards held in this process are looked at; while a guard another process holds is on duty
at the post too, his rounds are not known here and the scan is named as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.rules.patrol_state import PatrolState

__all__ = ["overlap_scan_duty"]


def overlap_scan_duty(
    duties: DutyIndex,
    patrols: Mapping[str, PatrolState],
    route_ids: Iterable[str],
    checkpoint_id: str,
    post_id: str,
    at: datetime,
) -> Duty | None:
    """Of the several shifts at ``post_id`` covering ``at``, the one whose patrol (of
    ``route_ids``) takes a scan of ``checkpoint_id`` at ``at`` (module docstring); ``None``
    when one guard or none is on duty there (the usual naming), when a guard another process
    holds is on duty there too, or when no shift, or more than one, takes it so."""
    on_duty = duties.at_post(post_id, at)
    if len(on_duty) < 2 or duties.elsewhere_at_post(post_id, at):
        return None
    routes = tuple(route_ids)
    on_time: list[Duty] = []
    late: list[Duty] = []
    for duty in on_duty:
        late_for = timedelta(seconds=duty.patrol_policy.patrol_late_tolerance_s)
        states = [patrols.get(f"{duty.shift_id}/{route_id}") for route_id in routes]
        open_visits = [
            v.window_end
            for state in states
            if state is not None and not state.closed
            for rnd in state.rounds
            for v in rnd.visits
            if v.checkpoint_id == checkpoint_id
            and v.scanned_at is None
            and v.window_start <= at <= v.window_end + late_for
        ]
        if any(at <= end for end in open_visits):
            on_time.append(duty)
        elif open_visits:
            late.append(duty)
    takers = on_time or late
    return takers[0] if len(takers) == 1 else None
