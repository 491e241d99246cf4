"""Escalation through the gateway as ``run`` wires it, to the groups over real HTTP (robot stub),
on a ManualClock: 赵军 (g-004, team A, leader 刘建国) leaves his post at 08:05 unreported; nobody
acknowledges; at 08:15 the alert is escalated to 刘建国's manager 黄经理, whose own DingTalk group
hears of it besides team A's; then 黄经理 resolves it by hand through the API, and both groups
get the follow-up with his note.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fwsim.robot_stub import RobotStub
from gateway.bootstrap import ApiServer
from gateway.clock import ManualClock
from gateway.lifecycle import Gateway
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, fix_at, outbox_rows, post_points
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.robot_gateway import robots_gateway

SECRETS = {"a-key": "key-a", "m-token": "token-m", "m-sign": "SECm0d1e2"}


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def site_file(tmp_path: Path, stub: RobotStub) -> Path:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    site = doc["sites"][0]
    site["leaders"].append({"id": "jt-manager", "name": "黄经理", "contacts": {"phone": "1"}})
    site["leaders"][0]["reports_to"] = "jt-manager"
    site["guards"] = [g for g in site["guards"] if g["id"] == "g-004"]
    site["devices"] = [{"id": "gps-004", "kind": "gps", "guard": "g-004"}]
    site["shifts"] = [
        {"guard": "g-004", "post": "jt-patrol-central", "days": "daily", "start": "08:00",
         "end": "20:00"},
    ]  # fmt: skip
    site["robots"] = [
        {"id": "jt-wecom-a", "name": "A班组", "kind": "wecom", "webhook_ref": "a-key",
         "url": stub.wecom_url, "teams": ["A"]},
        {"id": "jt-ding-m", "name": "黄经理", "kind": "dingtalk", "webhook_ref": "m-token",
         "secret_ref": "m-sign", "url": stub.dingtalk_url, "leaders": ["jt-manager"]},
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
    robots.add_dingtalk("token-m", "黄经理", "SECm0d1e2")
    with robots:
        yield robots


@pytest.fixture
def gateway(db_url: str, tmp_path: Path, clock: ManualClock, stub: RobotStub) -> Iterator[Gateway]:
    with robots_gateway(db_url, site_file(tmp_path, stub), clock, SECRETS) as built:
        yield built


def test_an_unacknowledged_alert_reaches_the_managers_group_once_then_his_resolution(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    points = post_points(gateway.engine, "jt-patrol-central")
    for minute in range(1, 15):  # on post, then off it from 08:05, a fix a minute
        where = points.outside if minute >= 5 else points.inside
        clock.set(at(minute) + timedelta(seconds=1))
        gateway.processor.process_fixes([fix_at("gps-004", at(minute), where)])
    for second in (58, 59.2, 59.6, 60, 61, 90):  # the clock alone: due at 08:15:00 exactly
        clock.set(at(14) + timedelta(seconds=second))
        gateway.processor.tick()
        escalated = [r for r in outbox_rows(gateway.engine) if r.type == "alert.escalated"]
        assert len(escalated) == (0 if second < 60 else 3), second
    assert sorted(r.destination for r in escalated) == [
        "record",  # no core configured here: the event kept as the record
        "robot:jt-ding-m",
        "robot:jt-wecom-a",
    ]

    # 黄经理 resolves it through the API of the same gateway, with a note.
    gateway.runtime.start()
    server = ApiServer(gateway.app)
    url = server.start()
    try:
        token = new_token(gateway.engine, "leader", name="黄经理", sites=("wh-jiangtan-garden",))
        with httpx.Client(base_url=url, headers=bearer(token), timeout=10) as http:
            [alert] = http.get("/alerts", params={"status": "open"}).json()
            assert (alert["escalated_at"], alert["escalated_to"]) == (
                at(15).isoformat(),
                ["jt-manager"],
            )
            reply = http.post(
                f"/alerts/{alert['id']}/resolve",
                json={"note": "已电话联系，马上回岗", "by": "jt-manager"},
            )
            assert reply.status_code == 200, reply.text
    finally:
        server.stop()
        gateway.runtime.stop()
    for robot in gateway.robots:
        robot.run_once()

    by_group: dict[str, list[str]] = {}
    for message in stub.messages:
        by_group.setdefault(message.label, []).append(" / ".join(message.plain_lines()[:2]))
    departure = (
        "未报备离岗 (unreported departure) / 赵军 (g-004) 于 08:05 离开 中心花园巡逻岗，未报备。"
    )
    # 黄经理's group saw nothing before: it is told where 赵军 is posted and since when away.
    escalation = (
        "告警升级 (alert escalated) / 赵军 (g-004)（中心花园巡逻岗）的「未报备离岗」自 08:05 起 "
        "10 分钟无人确认，已上报 黄经理，请尽快处理。"
    )
    resolved = (
        "告警已处理 (alert resolved by hand) / 赵军 (g-004) 的「未报备离岗」已由 jt-manager 于 "
        "08:15 手动解除。"
    )
    assert by_group == {
        "企业微信 A班组": [departure, escalation, resolved],
        "钉钉 黄经理": [escalation, resolved],
    }
    to_manager = next(m for m in stub.messages if m.label == "钉钉 黄经理")
    assert to_manager.plain_lines()[2] == "离岗时间 08:05"
    assert stub.duplicates == [] and stub.refused == []
