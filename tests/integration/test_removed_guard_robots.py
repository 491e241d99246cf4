"""The alerts of a guard taken out of the site file during his shift reach his groups, on
SQLite and PostgreSQL.

g-001 (张伟, team A) keeps the north gate 08:00-20:00; on a leave 09:00-10:10, he is back at
10:00 and never cancels it (销假). At 10:30 a load takes him out of the file (transferred to
another compound). The gateway still raises his *leave not cancelled* at 11:00: the management
core gets it, and so must the groups of the leaders who approved the leave and must chase the
cancellation. With no guard row left, the router goes by what his shift kept of him at the
load: the ``team`` the alert's data carries, and the leaders he named, kept on the shift row.

``test_team_a_group_hears...`` drives ``Processor`` with the routing ``run`` gives it
(``RobotRouter``); ``test_a_guard_taken_out...`` the gateway as ``run`` builds it, to the
groups over real HTTP (the robot stub), escalation and the API included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from fwsim.robot_stub import RobotStub
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.lifecycle import Gateway as BuiltGateway
from gateway.outbox.routing import RobotRouter
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows, roster_site
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.robot_gateway import (
    Groups,
    fixes_a_minute,
    group_secrets,
    heard,
    leave_not_cancelled,
    name_his_own_leader,
    robots_gateway,
    wecom_robots,
    wecom_stub,
)
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


# 张伟 names his own leader, 钱班长 (jt-leader-q), not his team's 刘建国; each has a manager.
NAMED_GROUPS: Groups = {
    "jt-wecom-a": ("A班组", "a", {"teams": ["A"]}),
    "jt-wecom-la": ("刘建国", "la", {"leaders": ["jt-leader-a"]}),
    "jt-wecom-lq": ("钱班长", "lq", {"leaders": ["jt-leader-q"]}),
    "jt-wecom-m": ("黄经理", "m", {"leaders": ["jt-manager"]}),
    "jt-wecom-mq": ("何经理", "mq", {"leaders": ["jt-manager-q"]}),
}
NAMED_SECRETS = group_secrets(NAMED_GROUPS)


def _named_leaders_site(
    folder: Path, guard: tuple[str, str, str], stub: RobotStub, hours: tuple[str, str]
) -> Path:
    folder.mkdir()
    path = roster_site(folder, [guard], hours={guard[0]: hours})
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    name_his_own_leader(site)
    site["robots"] = wecom_robots(NAMED_GROUPS, stub.wecom_url)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(-60))


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    with wecom_stub(clock, NAMED_GROUPS) as robots:
        yield robots


@pytest.fixture
def files(tmp_path: Path, stub: RobotStub) -> tuple[Path, Path]:
    """The file with 张伟 at the north gate by day, and the one that takes him out (吴杰 of
    team B stays, for the night: nobody else is expected before 20:00)."""
    day, night = ("08:00", "20:00"), ("20:00", "08:00")
    folder = tmp_path / "with"
    with_him = _named_leaders_site(folder, ("g-001", "jt-gate-north", "gps-a"), stub, day)
    folder = tmp_path / "without"
    without = _named_leaders_site(folder, ("g-006", "jt-gate-north", "gps-f"), stub, night)
    return with_him, without


@pytest.fixture
def gateway(db_url: str, clock: ManualClock, files: tuple[Path, Path]) -> Iterator[BuiltGateway]:
    with robots_gateway(db_url, files[0], clock, NAMED_SECRETS) as built:
        yield built


def _deliver(gateway: BuiltGateway) -> None:
    for robot in gateway.robots:
        robot.run_once()


@pytest.mark.parametrize(
    ("cancelled_at", "ending"),
    [(None, "已销假"), (at(170), "告警撤销")],
    ids=["cancelled-late", "cancel-typed-late-withdraws"],
)
def test_a_guard_taken_out_of_the_file_is_still_reported_to_the_leaders_he_named(
    gateway: BuiltGateway,
    clock: ManualClock,
    stub: RobotStub,
    files: tuple[Path, Path],
    cancelled_at: datetime | None,
    ending: str,
) -> None:
    """张伟 (g-001, team A, his own leader 钱班长) is back at 10:00 from a leave 09:00-10:10 and
    does not cancel it; a load at 10:30 takes him out of the file. His *leave not cancelled*
    at 11:00 goes to 钱班长's group and team A's, never to 刘建国's (team A's leader, whom he
    does not report to); unacknowledged, it is escalated at 11:10 to 钱班长's manager 何经理,
    not to 刘建国's 黄经理; and its end at 11:20 (the cancellation, late; or one typed in then,
    dated 10:50, that withdraws it) reaches the same three groups."""
    leave_not_cancelled(gateway, clock)
    load_site_file(files[1], gateway.engine, clock.now(), set(NAMED_SECRETS))
    read = gateway.processor.read_roster()
    assert read is not None and gateway.processor.adopt_roster(read)
    fixes_a_minute(gateway, clock, 150, 195, None)
    _deliver(gateway)
    assert heard(stub) == {
        "企业微信 A班组": ["未按时销假", "告警升级"],
        "企业微信 钱班长": ["未按时销假", "告警升级"],
        "企业微信 何经理": ["告警升级"],
    }

    [leave] = [
        r
        for r in outbox_rows(gateway.engine)
        if r.type == "alert.leave_not_cancelled" and r.destination == "record"
    ]
    leave_id = json.loads(leave.body)["data"]["leave_id"]
    clock.set(at(200))
    gateway.runtime.start()
    server = ApiServer(gateway.app)
    url = server.start()
    try:
        token = new_token(gateway.engine, "integration", name="core")
        body = {} if cancelled_at is None else {"cancelled_at": cancelled_at.isoformat()}
        with httpx.Client(base_url=url, headers=bearer(token), timeout=10) as http:
            reply = http.post(f"/leaves/{leave_id}/cancel", json=body)
            assert reply.status_code == 200, reply.text
    finally:
        server.stop()
        gateway.runtime.stop()
    _deliver(gateway)
    assert heard(stub) == {
        "企业微信 A班组": ["未按时销假", "告警升级", ending],
        "企业微信 钱班长": ["未按时销假", "告警升级", ending],
        "企业微信 何经理": ["告警升级", ending],
    }
    assert stub.duplicates == [] and stub.refused == []
