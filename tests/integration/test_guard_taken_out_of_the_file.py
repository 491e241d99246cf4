"""A guard taken out of the site file during his shift (transferred to another compound: the
docs ask for him to be removed here before he is added there) still owes what the part of the
shift that happened left: the load keeps on his shift rows what their duty needs of him
(``gateway.site.kept_duties``), and ``gateway.pipeline.duty_load._build`` builds it from there.
Through ``Processor`` as ``guard-gateway run`` drives it, on SQLite and PostgreSQL.

g-001 keeps the north gate 08:00-20:00; on a leave 09:00-10:10, he is back at 10:00 and never
cancels it. At 10:30 a load takes him out of the file. Before, his cut shift had no duty any
more, its machines were dropped, and the *leave not cancelled* of 11:00 was never raised
(moving him to another post raised it).

The same when his shift had ended (08:00-10:15) before the load took him out at 10:30: the hour
to cancel the leave outlives the shift, and before, it was lost with his guard row.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gateway.pipeline.commands import ApproveLeave
from gateway.site import load_site_file
from tests.e2e.helpers import roster_site
from tests.integration.test_site_load_mid_shift import (
    Gateway,
    at,
    core_events,
    on_post_with_a_leave_from_nine,
    points,
    site_file,
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


def test_a_guard_taken_out_after_his_shift_still_owes_the_cancellation_of_his_leave(
    engine: Engine, tmp_path: Path
) -> None:
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north", end="10:15"), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    gateway.run(0, 60, gate.inside)
    gateway.processor.run_command(
        ApproveLeave("g-001", at(60), at(130), "jt-leader-a", approved_at=at(59))
    )
    gateway.run(60, 120, gate.outside)
    gateway.run(120, 135, gate.inside)  # his shift ends at 10:15
    for minute in range(135, 150):
        gateway.clock.set(at(minute))
        gateway.processor.tick()
    (tmp_path / "without").mkdir()
    gateway.load(roster_site(tmp_path / "without", [("g-002", "jt-gate-east", "gps-b")]), 150)
    for minute in range(151, 200):
        gateway.clock.set(at(minute))
        gateway.processor.tick()
    assert ("alert.leave_not_cancelled", at(180), GATE_SHIFT) in core_events(engine)
