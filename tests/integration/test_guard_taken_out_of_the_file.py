"""A guard taken out of the site file during his shift (transferred to another compound: the
docs ask for him to be removed here before he is added there) still owes what the part of the
shift that happened left (``gateway.pipeline.duty._build`` keeps the cut shift's duty).
Through ``Processor`` as ``guard-gateway run`` drives it, on SQLite and PostgreSQL.

g-001 keeps the north gate 08:00-20:00; on a leave 09:00-10:10, he is back at 10:00 and never
cancels it. At 10:30 a load takes him out of the file. Before, his cut shift had no duty any
more, its machines were dropped, and the *leave not cancelled* of 11:00 was never raised
(moving him to another post raised it).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.e2e.helpers import roster_site
from tests.integration.test_site_load_mid_shift import (
    at,
    core_events,
    on_post_with_a_leave_from_nine,
)

GATE_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def test_a_guard_taken_out_of_the_file_still_owes_the_cancellation_of_his_leave(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_with_a_leave_from_nine(engine, tmp_path)
    gateway.run(60, 120, gate.outside)
    gateway.run(120, 150, gate.inside)
    (tmp_path / "without").mkdir()
    gateway.load(roster_site(tmp_path / "without", [("g-002", "jt-gate-east", "gps-b")]), 150)
    for minute in range(151, 200):
        gateway.clock.set(at(minute))
        gateway.processor.tick()
    assert ("alert.leave_not_cancelled", at(180), GATE_SHIFT) in core_events(engine)
