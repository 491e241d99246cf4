"""A guard or a post taken out of the site file during his shift by a load made while no
gateway runs (``guard-gateway site load`` with the gateway stopped): when the gateway starts
again, the cut shift still owes what the part that happened left, as it does when a running
gateway reads the load (``test_guard_taken_out_of_the_file``). Through ``Processor`` as
``guard-gateway run`` builds it, on SQLite and PostgreSQL.

g-001 keeps the north gate 08:00-20:00; on a leave 09:00-10:10, he is back at 10:00 and never
cancels it. The gateway stops at 10:30; a load takes him (or his post) out of the file at
10:30; the gateway starts again at 10:40. Before, the restarted gateway built no duty for the
cut shift (the guard's or post's row was gone and no process had one to keep), its machine was
never relieved, and the *leave not cancelled* of 11:00 was never raised.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import roster_site
from tests.integration.test_site_load_mid_shift import (
    at,
    core_events,
    on_post_with_a_leave_from_nine,
)

GATE_SHIFT = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"


def _back_and_stopped_at_half_past_ten(engine: Engine, tmp_path: Path) -> None:
    """Back from his leave at 10:00, on post to 10:30, when the gateway stops."""
    gateway, gate = on_post_with_a_leave_from_nine(engine, tmp_path)
    gateway.run(60, 120, gate.outside)
    gateway.run(120, 150, gate.inside)


def _started_again_at_twenty_to_eleven(engine: Engine) -> None:
    clock = ManualClock(at(160))
    restarted = Processor(engine, clock)
    for minute in range(160, 200):
        clock.set(at(minute + 0.1))
        restarted.tick()


def test_a_guard_taken_out_while_the_gateway_was_down_still_owes_his_cancellation(
    engine: Engine, tmp_path: Path
) -> None:
    _back_and_stopped_at_half_past_ten(engine, tmp_path)
    (tmp_path / "without").mkdir()
    load_site_file(
        roster_site(tmp_path / "without", [("g-002", "jt-gate-east", "gps-b")]), engine, at(150)
    )
    _started_again_at_twenty_to_eleven(engine)
    assert ("alert.leave_not_cancelled", at(180), GATE_SHIFT) in core_events(engine)


def test_a_post_taken_out_while_the_gateway_was_down_still_has_its_shift_owe(
    engine: Engine, tmp_path: Path
) -> None:
    _back_and_stopped_at_half_past_ten(engine, tmp_path)
    (tmp_path / "no-gate").mkdir()
    path = roster_site(tmp_path / "no-gate", [("g-001", "jt-plaza", "gps-a")])
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["posts"] = [p for p in site["posts"] if p["id"] != "jt-gate-north"]
    site["checkpoints"] = [
        c for c in site.get("checkpoints", []) if c.get("post") != "jt-gate-north"
    ]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    load_site_file(path, engine, at(150))
    _started_again_at_twenty_to_eleven(engine)
    assert ("alert.leave_not_cancelled", at(180), GATE_SHIFT) in core_events(engine)
