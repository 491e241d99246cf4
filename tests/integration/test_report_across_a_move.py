"""A report phoned before a site load moved the guard to another post and typed in after it
reaches the shift he was moved to (``Handovers.forward_report``): the report's own time
decides, not when it was typed in. Through ``Processor`` as ``guard-gateway run`` drives it, on
SQLite and PostgreSQL.

g-001 keeps the north gate from 08:00. At 10:28 he phones that he steps out at 10:40; at 10:30
a load moves him to the plaza; he is out of the plaza 10:40-10:50. Typed in at 11:00, the
report was fed to the north shift alone (cut at 10:30, no outing for it), and the plaza's
alert.unreported_departure stood.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import double_shift_site, load_sample_site, post_points
from tests.integration.test_double_shift_outing import DAY, _core
from tests.integration.test_pipeline_hard_cases import walk
from tests.integration.test_site_load_mid_shift import Gateway, at, core_events, points, site_file


def _moved_at_half_past_ten_and_out(engine: Engine, tmp_path: Path, typed_at: float) -> Gateway:
    load_site_file(site_file(tmp_path, "gate", post="jt-gate-north"), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    before = min(int(typed_at), 150)
    gateway.run(0, before, gate.inside)
    if typed_at < 150:
        gateway.clock.set(at(typed_at))
        gateway.processor.run_command(
            FileReport("g-001", reported_at=at(148), received_at=at(typed_at))
        )
    gateway.run(before, 150, gate.inside)
    gateway.load(site_file(tmp_path, "plaza", post="jt-plaza"), 150)
    plaza = points(engine, "jt-plaza", at(151))
    gateway.run(150, 155, gate.outside)
    gateway.run(155, 160, plaza.inside)
    gateway.run(160, 170, plaza.outside)
    gateway.run(170, 180, plaza.inside)
    if typed_at >= 150:
        gateway.clock.set(at(typed_at))
        gateway.processor.run_command(
            FileReport("g-001", reported_at=at(148), received_at=at(typed_at))
        )
    gateway.run(180, 185, plaza.inside)
    return gateway


def _plaza(engine: Engine) -> list[str]:
    return [kind for kind, _, shift in core_events(engine) if "/jt-plaza/" in shift]


def test_phoned_before_the_move_and_typed_in_after_it_withdraws_the_unreported(
    engine: Engine, tmp_path: Path
) -> None:
    _moved_at_half_past_ten_and_out(engine, tmp_path, typed_at=180)
    kinds = _plaza(engine)
    assert kinds.count("alert.unreported_departure") == 1
    assert kinds.count("alert.withdrawn") == 1


def test_typed_in_before_the_move_it_covers_the_outing_as_before(
    engine: Engine, tmp_path: Path
) -> None:
    _moved_at_half_past_ten_and_out(engine, tmp_path, typed_at=148.05)
    kinds = _plaza(engine)
    assert "presence.departed" in kinds
    assert "alert.unreported_departure" not in kinds


def test_phoned_in_the_night_for_an_outing_of_the_day_typed_in_after_the_change(
    engine: Engine, tmp_path: Path
) -> None:
    # 连班 at the north gate (night 20:00-08:00, day 08:00-20:00): he phones at 07:55 that he
    # steps out at 08:05, is out 08:05-08:10, and the leader types it in at 08:20. Before, it
    # went to the night shift alone, and the day's unreported alert stood.
    load_sample_site(engine, at(-120), double_shift_site(tmp_path))
    gate = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-100))
    processor = Processor(engine, clock)
    walk(processor, clock, gate.inside, -95, 5)
    walk(processor, clock, gate.outside, 5, 10)
    walk(processor, clock, gate.inside, 10, 20)
    clock.set(at(20))
    processor.run_command(FileReport("g-001", reported_at=at(-5), received_at=clock.now()))
    walk(processor, clock, gate.inside, 20, 30)
    day = [kind for kind, _when, shift in _core(engine) if shift == DAY]
    assert day.count("alert.unreported_departure") == 1
    assert day.count("alert.withdrawn") == 1
