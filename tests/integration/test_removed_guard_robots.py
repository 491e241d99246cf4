"""The alert of a guard taken out of the site file during his shift reaches his team's group,
through ``Processor`` with the group-robot routing ``guard-gateway run`` gives it
(``RobotRouter``), on SQLite and PostgreSQL.

g-001 (team A) keeps the north gate 08:00-20:00; on a leave 09:00-10:10, he is back at 10:00 and
never cancels it (销假). At 10:30 a load takes him out of the file (transferred to another
compound). The gateway still raises his *leave not cancelled* at 11:00
(``test_guard_taken_out_of_the_file``): the management core gets it, and so must team A's group, the
one whose leader approved the leave and must chase the cancellation. With no guard row left,
the router goes by the ``team`` the alert's own data carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from gateway.outbox.routing import RobotRouter
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows, roster_site
from tests.integration.test_site_load_mid_shift import Gateway, at, points

SECRETS = {"a-key"}


def _with_team_a_robot(path: Path) -> Path:
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["robots"] = [
        {"id": "jt-wecom-a", "name": "A班组", "kind": "wecom", "webhook_ref": "a-key",
         "teams": ["A"]},
    ]  # fmt: skip
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_team_a_group_hears_of_the_leave_not_cancelled_of_a_guard_taken_out_of_the_file(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    with_him = _with_team_a_robot(
        roster_site(tmp_path / "with", [("g-001", "jt-gate-north", "gps-a")])
    )
    without = _with_team_a_robot(
        roster_site(tmp_path / "without", [("g-002", "jt-gate-east", "gps-b")])
    )
    load_site_file(with_him, engine, at(-60), SECRETS)
    gate = points(engine, "jt-gate-north", at(1))
    gateway = Gateway(engine, at(-1))
    gateway.processor = Processor(engine, gateway.clock, route=RobotRouter())
    gateway.run(0, 60, gate.inside)
    gateway.processor.run_command(
        ApproveLeave("g-001", at(60), at(130), "jt-leader-a", approved_at=at(59))
    )
    gateway.run(60, 120, gate.outside)
    gateway.run(120, 150, gate.inside)
    gateway.clock.set(at(150))
    load_site_file(without, engine, gateway.clock.now(), SECRETS)
    read = gateway.processor.read_roster()
    assert read is not None and gateway.processor.adopt_roster(read)
    for minute in range(151, 200):
        gateway.clock.set(at(minute))
        gateway.processor.tick()
    rows = [r for r in outbox_rows(engine) if r.type == "alert.leave_not_cancelled"]
    assert [r.destination for r in rows if r.destination == "core"] == ["core"]
    assert sorted(r.destination for r in rows) == ["core", "robot:jt-wecom-a"]
