"""The rest of a shift's alerts go to the groups of that shift after a load moves its guard to
another site, team or leader, on SQLite and PostgreSQL.

张伟 (g-001, team A of 江滩花园, his own leader 钱班长 above whom is 何经理) keeps the north
gate 08:00-20:00; on a leave 09:00-10:10, he is back at 10:00 and never cancels it (销假). At
10:30 a load of the same file moves him, from tomorrow, to the other compound the file names
(wh-other, team C), to team B of his own compound, or under team A's own leader 刘建国 (above
whom is 黄经理): his shift at the north gate ends there. His *leave not cancelled* at 11:00
is owed by that shift, so it goes where that shift's alerts went: to 钱班长's group and team
A's, escalated at 11:10 to 何经理, with the team and site of the shift, never to the groups of
his new site, team or leader, nor escalated above his new leaders.
Before, the router and the escalation read his row as the load rewrote it.

The gateway as ``run`` builds it, to the groups over real HTTP (the robot stub).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fwsim.robot_stub import RobotStub
from gateway.clock import ManualClock
from gateway.lifecycle import Gateway
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows, roster_site
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
from tests.integration.test_site_load_mid_shift import SITE, at

# (name, secret's short name, whom it covers) of each group robot.
GROUPS: Groups = {
    "jt-wecom-a": ("A班组", "a", {"teams": ["A"]}),
    "jt-wecom-b": ("B班组", "b", {"teams": ["B"]}),
    "jt-wecom-la": ("刘建国", "la", {"leaders": ["jt-leader-a"]}),
    "jt-wecom-lq": ("钱班长", "lq", {"leaders": ["jt-leader-q"]}),
    "jt-wecom-m": ("黄经理", "m", {"leaders": ["jt-manager"]}),
    "jt-wecom-mq": ("何经理", "mq", {"leaders": ["jt-manager-q"]}),
}
OTHER_GROUPS: Groups = {
    "ot-wecom": ("其他项目", "ot", {}),
    "ot-wecom-m": ("其他经理", "otm", {"leaders": ["ot-manager"]}),
}
SECRETS = group_secrets(GROUPS, OTHER_GROUPS)
TOMORROW = ("2026-03-03T08:00", "2026-03-03T20:00")


def _other_site(url: str) -> dict[str, Any]:
    """A second compound, wh-other: its own post, team C's leader and his manager, its groups
    (one for the whole site); nobody on duty there today."""
    return {
        "id": "wh-other",
        "name": "其他小区",
        "timezone": "Asia/Shanghai",
        "posts": [
            {"id": "ot-gate", "name": "大门", "datum": "wgs84",
             "fence": {"type": "Circle", "center": [114.35, 30.62], "radius_m": 30}},
        ],
        "leaders": [
            {"id": "ot-manager", "name": "其他经理"},
            {"id": "ot-lead", "name": "其他班长", "team": "C", "reports_to": "ot-manager"},
        ],
        "guards": [],
        "devices": [],
        "shifts": [],
        "robots": wecom_robots(OTHER_GROUPS, url),
    }  # fmt: skip


def _file(folder: Path, url: str, move: str | None) -> Path:
    """江滩花园 with 张伟 (team A, his leader 钱班长) at the north gate by day and 吴杰 at night,
    and wh-other; ``move``: ``"site"`` moves 张伟 (with his terminal) to wh-other's team C,
    ``"team"`` to team B at the east gate, ``"leaders"`` to the east gate under his team's
    leader, all from tomorrow; ``None``: as he was."""
    folder.mkdir()
    day, night = ("08:00", "20:00"), ("20:00", "08:00")
    guards = [("g-001", "jt-gate-north", "gps-a"), ("g-006", "jt-gate-north", "gps-f")]
    path = roster_site(folder, guards, hours={"g-001": day, "g-006": night})
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    name_his_own_leader(site)
    site["robots"] = wecom_robots(GROUPS, url)
    other = _other_site(url)
    [him] = [g for g in site["guards"] if g["id"] == "g-001"]
    if move is not None:
        site["shifts"] = [s for s in site["shifts"] if s["guard"] != "g-001"]
        start, end = TOMORROW
        him.update(leaders=[], team={"site": "C", "team": "B"}.get(move, "A"))
    if move == "site":
        site["guards"].remove(him)
        site["devices"] = [d for d in site["devices"] if d["guard"] != "g-001"]
        other["guards"].append(him)
        other["devices"].append({"id": "gps-a", "kind": "gps", "guard": "g-001"})
        other["shifts"].append({"guard": "g-001", "post": "ot-gate", "start": start, "end": end})
    elif move is not None:  # another team, or his team's leader 刘建国 (above: 黄经理)
        site["shifts"].append(
            {"guard": "g-001", "post": "jt-gate-east", "start": start, "end": end}
        )
    doc["sites"].append(other)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(-60))


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    with wecom_stub(clock, GROUPS, OTHER_GROUPS) as robots:
        yield robots


@pytest.fixture
def gateway(db_url: str, clock: ManualClock, stub: RobotStub, tmp_path: Path) -> Iterator[Gateway]:
    site = _file(tmp_path / "before", stub.wecom_url, None)
    with robots_gateway(db_url, site, clock, SECRETS) as built:
        yield built


@pytest.mark.parametrize("move", ["site", "team", "leaders"])
def test_a_guard_moved_during_his_shift_owes_its_alerts_to_that_shifts_groups(
    gateway: Gateway, clock: ManualClock, stub: RobotStub, tmp_path: Path, move: str
) -> None:
    leave_not_cancelled(gateway, clock)
    moved = _file(tmp_path / "moved", stub.wecom_url, move)
    load_site_file(moved, gateway.engine, clock.now(), set(SECRETS))
    read = gateway.processor.read_roster()
    assert read is not None and gateway.processor.adopt_roster(read)
    fixes_a_minute(gateway, clock, 150, 195, None)
    for robot in gateway.robots:
        robot.run_once()

    assert heard(stub) == {
        "企业微信 A班组": ["未按时销假", "告警升级"],
        "企业微信 钱班长": ["未按时销假", "告警升级"],
        "企业微信 何经理": ["告警升级"],
    }
    sent = [
        json.loads(r.body)
        for r in outbox_rows(gateway.engine)
        if r.destination == "record" and r.type.startswith("alert.")
    ]
    assert [
        (e["type"], e["data"]["site_id"], e["data"]["team"], e["data"].get("escalated_to"))
        for e in sent
    ] == [
        ("alert.leave_not_cancelled", SITE, "A", None),
        ("alert.escalated", SITE, "A", ["jt-manager-q"]),
    ]
