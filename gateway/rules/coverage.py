"""Which verbal report or approved leave covers a departure (articles 10.1 and 5.3).

A verbal report covers a departure that starts within ``report_validity_s`` after it was filed,
or one it was phoned in for up to ``report_grace_s`` after leaving; each report covers one
departure only. An approved leave covers any instant in [starts_at - report_grace_s, ends_at)
while it is not cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from gateway.policy import SitePolicy

from .entries import Leave, Report

__all__ = ["covering_leave", "covering_report"]


def covering_report(
    reports: Iterable[Report], departure_start: datetime, policy: SitePolicy
) -> Report | None:
    """The unused report that covers a departure starting at ``departure_start``: the most
    recently filed one in [start - report_validity_s, start + report_grace_s], or ``None``."""
    earliest = departure_start - timedelta(seconds=policy.report_validity_s)
    latest = departure_start + timedelta(seconds=policy.report_grace_s)
    candidates = [r for r in reports if r.used_by is None and earliest <= r.reported_at <= latest]
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
