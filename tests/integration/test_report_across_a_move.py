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

from gateway.pipeline.commands import FileReport
from gateway.site import load_site_file
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
