"""A hand-computed day of one guard, driven through the real pipeline on a manual clock.

Guard g-001 keeps post jt-gate-north on a short shift, 08:00-10:00 Asia/Shanghai on 2 March 2026
(00:00-02:00 UTC), one fix a minute from his terminal gps-a; guard g-006 (team B) keeps
jt-gate-east the same hours and never leaves. Minutes below are from 08:00:

* 0-10 on post;
* 10-20 away, a verbal report phoned at minute 9 (reported, 10 min);
* 20-40 on post;
* 40-60 away with no report (unreported, 20 min: also past the 15-minute limit); the
  unreported alert, opened at minute 40 (the departure's start), is acknowledged at minute 47;
* 60-70 on post;
* 70-100 away on an approved leave (70-102), cancelled (销假) at minute 105, in time;
* 100-120 on post, until the shift ends.

So g-001: 120 min scheduled, 60 min on post, 60 min away (10 reported, 20 unreported,
30 on leave), three departures of which two covered: 报告及时率 2/3; two alerts (unreported at
40, overtime at 55), one acknowledged after 7 min. g-006: 120 min on post, nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow, LeaveRow
from gateway.pipeline.alert_commands import AcknowledgeAlert
from gateway.pipeline.commands import ApproveLeave, CancelLeave, FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site

__all__ = ["DAY", "GUARD", "STAYER", "at", "drive_day"]

GUARD = ("g-001", "jt-gate-north", "gps-a")
STAYER = ("g-006", "jt-gate-east", "gps-b")
DAY = "2026-03-02"
SHIFT_MINUTES = 120
AWAY = {"reported": (10, 20), "unreported": (40, 60), "leave": (70, 100)}
LEAVE_ENDS = 102  # two minutes of slack: the return is confirmed 30 s after the first fix in


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def _away(minute: int) -> bool:
    return any(start <= minute < end for start, end in AWAY.values())


def drive_day(engine: Engine, tmp_path: Path) -> None:
    """Load the two-guard site and run the day through ``Processor`` (see the module doc)."""
    hours = {GUARD[0]: ("08:00", "10:00"), STAYER[0]: ("08:00", "10:00")}
    load_site(
        engine, DAY_START - timedelta(hours=1), roster_site(tmp_path, [GUARD, STAYER], hours=hours)
    )
    points = {post: post_points(engine, post) for _, post, _ in (GUARD, STAYER)}
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, SHIFT_MINUTES + 5):
        if minute == 9:
            processor.run_command(FileReport(GUARD[0], at(9), at(9), destination="canteen"))
        if minute == 69:
            processor.run_command(
                ApproveLeave(
                    GUARD[0], at(70), at(LEAVE_ENDS), approved_by="jt-leader-a", approved_at=at(69)
                )
            )
        if minute == 47:
            with Session(engine) as session:
                key = session.scalars(
                    select(AlertRow.alert_key).where(
                        AlertRow.guard_id == GUARD[0],
                        AlertRow.type == "alert.unreported_departure",
                    )
                ).one()
            processor.run_command(AcknowledgeAlert(key, by="jt-leader-a", at=at(47)))
        if minute == 105:
            with Session(engine) as session:
                leave_id = session.scalars(select(LeaveRow.id)).one()
            processor.run_command(CancelLeave(leave_id, at(105)))
        clock.set(at(minute + 0.1))
        fixes = []
        if minute < SHIFT_MINUTES:
            where = points[GUARD[1]].outside if _away(minute) else points[GUARD[1]].inside
            fixes = [
                fix_at(GUARD[2], at(minute), where),
                fix_at(STAYER[2], at(minute), points[STAYER[1]].inside),
            ]
            processor.process_fixes(fixes)
        else:
            processor.tick()
