"""Which verbal report or approved leave covers a departure (articles 10.1 and 5.3).

A verbal report covers the one departure it was made for: one that starts within
``report_validity_s`` after the guard made it, or one he phoned in for up to ``report_grace_s``
after leaving. The report's own time (``reported_at``) decides, not when it was typed in; but a
report typed in late (more than the grace after it was made) is about a departure that had begun
by then, so it covers none starting later than the grace after its entry: an unused late report
never covers the guard's next outing. Each report covers one departure only.

An approved leave covers any instant in [starts_at - report_grace_s, ends_at) while it is not
cancelled. Entered after the departure it covers, it still counts when it was approved before
the guard left (within the grace): the rules require the approval before leaving.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from gateway.policy import SitePolicy

from .entries import Departure, Leave, Report

__all__ = [
    "covering_leave",
    "covering_report",
    "extended_leave_begun_by",
    "following_leave",
    "last_extension",
    "leave_covers_departure",
    "report_window",
]


def report_window(report: Report, policy: SitePolicy) -> tuple[datetime, datetime]:
    """The earliest and latest start of the departure ``report`` can cover."""
    grace = timedelta(seconds=policy.report_grace_s)
    earliest = report.reported_at - grace
    latest = report.reported_at + timedelta(seconds=policy.report_validity_s)
    if report.entered - report.reported_at > grace:
        latest = min(latest, report.entered + grace)
    return earliest, latest


def covering_report(
    reports: Iterable[Report], departure_start: datetime, policy: SitePolicy
) -> Report | None:
    """The unused report that covers a departure starting at ``departure_start``: the most
    recently made one whose window holds the start, or ``None``."""
    candidates = []
    for report in reports:
        if report.used_by is not None:
            continue
        earliest, latest = report_window(report, policy)
        if earliest <= departure_start <= latest:
            candidates.append(report)
    return max(candidates, key=lambda r: (r.reported_at, r.report_id), default=None)


def covering_leave(leaves: Iterable[Leave], instant: datetime, policy: SitePolicy) -> Leave | None:
    """The approved, not yet cancelled leave whose window contains ``instant`` (the one ending
    last when several do), or ``None``."""
    grace = timedelta(seconds=policy.report_grace_s)
    candidates = [
        lv
        for lv in leaves
        if lv.starts_at - grace <= instant < lv.ends_at and lv.active_at(instant)
    ]
    return max(candidates, key=lambda lv: (lv.ends_at, lv.leave_id), default=None)


def following_leave(
    leaves: Iterable[Leave], leave_id: str, ends_at: datetime, policy: SitePolicy
) -> Leave | None:
    """The leave that extends leave ``leave_id`` ending at ``ends_at`` (续假): another one,
    approved by then and not cancelled, whose window holds that instant and runs past it;
    ``None`` when none does."""
    later = covering_leave(
        (lv for lv in leaves if lv.leave_id != leave_id and lv.approved_at <= ends_at),
        ends_at,
        policy,
    )
    return later if later is not None and later.ends_at > ends_at else None


def extended_leave_begun_by(
    leaves: Sequence[Leave], leave_id: str | None, instant: datetime, policy: SitePolicy
) -> Leave | None:
    """The leave that leave ``leave_id`` extends (续假), directly or through others
    (``following_leave``), nearest to it in the chain among those begun by ``instant`` (less
    the grace); ``None`` when none was. An outing over by ``instant`` was under that one: the
    extension, approved while his terminal was quiet, only seemed his."""
    grace = timedelta(seconds=policy.report_grace_s)
    for before in leaves:
        after = following_leave(leaves, before.leave_id, before.ends_at, policy)
        if after is None or after.leave_id != leave_id:
            continue
        if before.starts_at - grace <= instant:
            return before
        # Each link ends later than the one before, so the walk back ends.
        earlier = extended_leave_begun_by(leaves, before.leave_id, instant, policy)
        if earlier is not None:
            return earlier
    return None


def leave_covers_departure(leave: Leave, departure: Departure, policy: SitePolicy) -> bool:
    """Whether ``leave``, approved before ``departure`` began (within the grace), covers it."""
    grace = timedelta(seconds=policy.report_grace_s)
    start = departure.started_at
    return (
        leave.approved_at <= start + grace
        and leave.starts_at - grace <= start < leave.ends_at
        and leave.active_at(start)
    )


def last_extension(leaves: Sequence[Leave], leave: Leave, policy: SitePolicy) -> Leave:
    """The leave the chain of extensions (续假) begun by ``leave`` runs out with: each one
    approved by the end of the one before (``following_leave``); ``leave`` when it has none."""
    for _ in range(len(leaves)):
        extension = following_leave(leaves, leave.leave_id, leave.ends_at, policy)
        if extension is None:
            break
        leave = extension
    return leave
