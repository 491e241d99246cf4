"""What the leaders' groups are told of an outing, through the gateway as ``run`` builds it, to
the groups over real HTTP (the robot stub), on a ManualClock; SQLite and PostgreSQL.

Sample Wuhan site, day shift from 08:00: 赵军 (g-004, team A) leaves the central garden at 08:05
without a word; 胡明 (g-009, team B) phones his leader at 08:04 and leaves the garage at 08:05;
neither has a leave, both are out past 08:20. 马超 (g-012, team B, on till 08:40) phones at 08:27,
leaves the east gate at 08:28 and is not back by 08:40. Each group must read whether the guard
reported his outing, as the implementation rules (art. 10.1) ask of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from fwsim.robot_stub import RobotStub
from gateway.clock import ManualClock
from gateway.lifecycle import Gateway
from gateway.pipeline.commands import FileReport
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, fix_at, post_points
from tests.fixtures.robot_gateway import robots_gateway

POSTS = {"g-004": "jt-patrol-central", "g-009": "jt-garage-b1", "g-012": "jt-gate-east"}
SECRETS = {"a-key": "key-a", "b-key": "key-b"}


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def site_file(tmp_path: Path, stub: RobotStub) -> Path:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    site = doc["sites"][0]
    site["guards"] = [g for g in site["guards"] if g["id"] in POSTS]
    site["guards"].append({"id": "g-012", "name": "马超", "team": "B"})
    site["devices"] = [{"id": f"gps-{g[2:]}", "kind": "gps", "guard": g} for g in POSTS]
    site["shifts"] = [
        {"guard": g, "post": p, "days": "daily", "start": "08:00",
         "end": "08:40" if g == "g-012" else "20:00"}
        for g, p in POSTS.items()
    ]  # fmt: skip
    site["robots"] = [
        {"id": f"jt-wecom-{t.lower()}", "name": f"{t}班组", "kind": "wecom",
         "webhook_ref": f"{t.lower()}-key", "url": stub.wecom_url, "teams": [t]}
        for t in ("A", "B")
    ]  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START)


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    robots = RobotStub(clock=clock)
    robots.add_wecom("key-a", "A班组")
    robots.add_wecom("key-b", "B班组")
    with robots:
        yield robots


@pytest.fixture
def gateway(db_url: str, tmp_path: Path, clock: ManualClock, stub: RobotStub) -> Iterator[Gateway]:
    with robots_gateway(db_url, site_file(tmp_path, stub), clock, SECRETS) as built:
        yield built


def test_the_groups_read_whether_a_guard_off_post_had_reported_it(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    points = {g: post_points(gateway.engine, p) for g, p in POSTS.items()}
    away = {"g-004": (5, 30), "g-009": (5, 30), "g-012": (28, 60)}
    for minute in range(1, 45):
        if minute in (4, 27):
            guard = "g-009" if minute == 4 else "g-012"
            report = FileReport(guard, at(minute), at(minute), expected_return_at=at(minute + 10))
            gateway.processor.run_command(report)
        fixes = [
            fix_at(f"gps-{g[2:]}", at(minute), p.outside if away[g][0] <= minute < away[g][1]
                   else p.inside)
            for g, p in points.items()
        ]  # fmt: skip
        clock.set(at(minute) + timedelta(seconds=1))
        gateway.processor.process_fixes(fixes)
        for second in (20, 40):
            clock.set(at(minute) + timedelta(seconds=second))
            gateway.processor.tick()
    for robot in gateway.robots:
        robot.run_once()

    told = {
        (m.label, m.plain_lines()[0].split(" (")[0], m.plain_lines()[1])
        for m in stub.messages
        if m.plain_lines()[0].startswith(("离岗超时", "早退"))
    }
    assert told == {
        (
            "企业微信 A班组",
            "离岗超时",
            "赵军 (g-004) 自 08:05 离开 中心花园巡逻岗，已离岗 15 分钟：未报备，离岗超过 15 分钟，"
            "没有批准的请假。",
        ),
        (
            "企业微信 B班组",
            "离岗超时",
            "胡明 (g-009) 自 08:05 离开 地库入口，已离岗 15 分钟：已口头报备，但口头报备只能覆盖 "
            "15 分钟，没有批准的请假。",
        ),
        (
            "企业微信 B班组",
            "早退",
            "马超 (g-012) 于 08:28 离开 东门岗（已口头报备），班次 08:40 结束前未回，早退。",
        ),
    }
