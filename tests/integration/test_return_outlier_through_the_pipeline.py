"""One fix inside the post among an outing's fixes outside is not a return
(``gateway.rules.deadlines._return_due``), through ``Processor`` as ``guard-gateway run``
drives it, on SQLite and PostgreSQL.

g-001 keeps the north gate of the sample site with a power-saving terminal (a fix every 3
minutes). He reports at 08:14:50 and is out 08:15-08:36; the fix of 08:24 is thrown inside the
post by multipath. Before, it ended the outing (returned at 08:24, confirmed by the tick 30 s
later, before the next fix came), and the outing that went on was a second departure without a
report: alert.unreported_departure, and no overtime for 21 minutes off post.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, outbox_rows, post_points


def test_a_multipath_fix_inside_during_a_reported_outing_is_no_return(engine: Engine) -> None:
    load_sample_site(engine)
    gate = post_points(engine, "jt-gate-north")
    clock = ManualClock(DAY_START - timedelta(minutes=6))
    processor = Processor(engine, clock)

    def where(minute: int) -> tuple[float, float]:
        out = 15 <= minute < 36 and minute != 24
        return gate.outside if out else gate.inside

    for second in range(-300, 45 * 60, 10):
        now = DAY_START + timedelta(seconds=second)
        clock.set(now)
        if second == 14 * 60 + 50:
            processor.run_command(FileReport("g-001", reported_at=now, received_at=now))
        if second % 180 == 0:
            minute = second // 60
            processor.process_fixes([fix_at("gps-001", now - timedelta(seconds=1), where(minute))])
        processor.tick()

    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    his = [
        (b["type"], b["time"])
        for b in bodies
        if b["data"].get("guard_id") == "g-001" and b["type"] != "presence.arrived"
    ]
    assert his == [
        ("presence.departed", "2026-03-02T00:14:59Z"),
        ("alert.overtime_departure", "2026-03-02T00:29:59Z"),
        ("presence.returned", "2026-03-02T00:35:59Z"),
    ]
