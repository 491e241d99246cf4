"""A report typed in after the alert it prevents: the ledger counts the departure as reported
(the report's own time decides, docs/presence-rules.md), through the real pipeline."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.ledger.service import day_ledger
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, post_points, roster_site
from tests.e2e.helpers import load_sample_site as load_site
from tests.ledger.scenario import at

GUARD = ("g-001", "jt-gate-north", "gps-a")


def test_a_report_entered_late_makes_the_departure_reported(engine: Engine, tmp_path: Path) -> None:
    hours = {GUARD[0]: ("08:00", "09:00")}
    load_site(engine, DAY_START - timedelta(hours=1), roster_site(tmp_path, [GUARD], hours=hours))
    points = post_points(engine, GUARD[1])
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 60):
        if minute == 16:  # phoned at 08:09, typed in at 08:16: after the 08:12 alert
            processor.run_command(FileReport(GUARD[0], at(9), at(16), destination="canteen"))
        clock.set(at(minute + 0.1))
        where = points.outside if 10 <= minute < 20 else points.inside
        processor.process_fixes([fix_at(GUARD[2], at(minute), where)])

    ledger = day_ledger(engine, "wh-jiangtan-garden", date(2026, 3, 2), at(24 * 60))
    [guard] = ledger["guards"]
    [departure] = guard["departures"]
    assert (departure["duration_s"], departure["coverage"], departure["assessed"]) == (
        600.0,
        "report",
        True,
    )
    assert [(a["type"], a["resolution"]) for a in guard["alerts"]] == [
        ("alert.unreported_departure", "withdrawn")
    ]
    assert (guard["away_reported_s"], guard["away_unreported_s"], guard["on_post_s"]) == (
        600.0,
        0.0,
        3000.0,
    )
    site = ledger["site"]
    assert (site["departures_reported"], site["departures_unreported"]) == (1, 0)
    assert site["report_timeliness_rate"] == 1.0
    assert (site["alerts"], site["alerts_acknowledged"], site["ack_latency_max_s"]) == (1, 0, None)
