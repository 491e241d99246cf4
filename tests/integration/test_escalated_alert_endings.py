"""An escalated alert's end reaches the manager it was escalated to, however it ends, through the
gateway as ``run`` wires it (robot stub over real HTTP), on a ManualClock, SQLite and PostgreSQL.

The site of ``test_escalation_robots``: 赵军 (g-004, team A, leader 刘建国) leaves his post at
08:05 unreported; nobody acknowledges; at 08:15 the alert is escalated to 刘建国's manager 黄经理,
whose own DingTalk group hears of it. A hand resolution carries ``escalated_to`` itself; the
return and a report entered late end or withdraw the alert as a side effect of another event,
which must reach 黄经理's group as well, or he goes on chasing an alert that is over.
"""

# The fixtures (clock, stub, gateway) are test_escalation_robots': imported, then named as
# parameters, which the linter reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from fwsim.robot_stub import RobotStub
from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.lifecycle import Gateway
from gateway.pipeline.alert_commands import ResolveAlert
from gateway.pipeline.commands import FileReport
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.integration.test_escalation_robots import (  # noqa: F401 - fixtures used by name
    SECRETS,
    at,
    clock,
    gateway,
    site_file,
    stub,
)

TEAM_A, MANAGER = "企业微信 A班组", "钉钉 黄经理"
GROUPS = ["record", "robot:jt-ding-m", "robot:jt-wecom-a"]  # no core configured here


def _off_post_unacknowledged_until_escalated(
    gateway: Gateway, clock: ManualClock, groups: list[str] = GROUPS
) -> None:
    points = post_points(gateway.engine, "jt-patrol-central")
    for minute in range(1, 16):  # on post, then off it from 08:05, a fix a minute
        where = points.outside if minute >= 5 else points.inside
        clock.set(at(minute) + timedelta(seconds=1))
        gateway.processor.process_fixes([fix_at("gps-004", at(minute), where)])
    clock.set(at(15) + timedelta(seconds=30))
    gateway.processor.tick()
    escalated = [r for r in outbox_rows(gateway.engine) if r.type == "alert.escalated"]
    assert sorted(r.destination for r in escalated) == groups


def _back_on_post_at_08_18(gateway: Gateway, clock: ManualClock) -> None:
    points = post_points(gateway.engine, "jt-patrol-central")
    for minute in range(16, 22):
        where = points.inside if minute >= 18 else points.outside
        clock.set(at(minute) + timedelta(seconds=1))
        gateway.processor.process_fixes([fix_at("gps-004", at(minute), where)])


def _titles(gateway: Gateway, stub: RobotStub) -> dict[str, list[str]]:
    """Each group's messages as the group shows them, by the first line."""
    for robot in gateway.robots:
        robot.run_once()
    by_group: dict[str, list[str]] = {}
    for message in stub.messages:
        by_group.setdefault(message.label, []).append(message.plain_lines()[0])
    assert stub.duplicates == [] and stub.refused == []
    return by_group


def _destinations(gateway: Gateway, type: str) -> list[str]:
    return sorted(r.destination for r in outbox_rows(gateway.engine) if r.type == type)


def test_the_manager_an_alert_was_escalated_to_hears_when_the_guard_comes_back(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    """黄经理 is told at 08:15 that 赵军 is off post and nobody answers; 赵军 walks back at
    08:18 and the alert ends on its own: team A's group and 黄经理's hear he is back."""
    _off_post_unacknowledged_until_escalated(gateway, clock)
    _back_on_post_at_08_18(gateway, clock)
    assert _destinations(gateway, "presence.returned") == GROUPS
    titles = _titles(gateway, stub)
    assert titles[TEAM_A][-1] == titles[MANAGER][-1] == "已回岗 (returned)", titles
    # Both groups in the order things happened: the escalation, then its end.
    assert titles[MANAGER] == ["告警升级 (alert escalated)", "已回岗 (returned)"]


def test_the_manager_hears_when_a_report_entered_late_withdraws_the_escalated_alert(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    """At 08:16, still off post, 刘建国 types in the report 赵军 phoned at 08:03, before he
    left: the unreported departure was wrong and is withdrawn, and 黄经理, asked at 08:15 to
    act on it, hears that as team A does."""
    _off_post_unacknowledged_until_escalated(gateway, clock)
    clock.set(at(16))
    gateway.processor.run_command(
        FileReport(
            "g-004",
            reported_at=at(3),
            received_at=at(16),
            expected_return_at=at(20),
            reported_to="jt-leader-a",
        )
    )
    assert _destinations(gateway, "alert.withdrawn") == GROUPS
    with Session(gateway.engine) as session:
        alert = session.scalars(select(AlertRow)).one()
        assert (alert.resolution, alert.escalated_to) == ("withdrawn", ["jt-manager"])
    titles = _titles(gateway, stub)
    assert titles[MANAGER] == ["告警升级 (alert escalated)", "告警撤销 (alert withdrawn)"]
    assert titles[TEAM_A][-1] == "告警撤销 (alert withdrawn)"


def test_a_return_after_the_manager_resolved_the_alert_by_hand_does_not_reach_him_again(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    """黄经理 resolves the escalated alert by hand at 08:16 (his group gets that); the return at
    08:18 ends nothing any more: it goes to 赵军's own group only."""
    _off_post_unacknowledged_until_escalated(gateway, clock)
    clock.set(at(16))
    with Session(gateway.engine) as session:
        key = session.scalars(select(AlertRow.alert_key)).one()
    gateway.processor.run_command(ResolveAlert(key, note="已电话联系", by="jt-manager", at=at(16)))
    _back_on_post_at_08_18(gateway, clock)
    assert _destinations(gateway, "alert.resolved") == GROUPS
    assert _destinations(gateway, "presence.returned") == ["record", "robot:jt-wecom-a"]
    titles = _titles(gateway, stub)
    assert titles[MANAGER] == ["告警升级 (alert escalated)", "告警已处理 (alert resolved by hand)"]


def test_the_alert_of_a_guard_taken_out_of_the_file_is_escalated_all_the_same(
    gateway: Gateway, clock: ManualClock, stub: RobotStub, tmp_path: Path
) -> None:
    """赵军 walks off at 08:05 unreported; at 08:10 a load takes him out of the file (sent to
    another company). Nobody acknowledges his open alert: at 08:15 it is escalated to 黄经理 as
    any other, by the team his shift named (no guard row is left to name it)."""
    points = post_points(gateway.engine, "jt-patrol-central")
    for minute in range(1, 10):
        where = points.outside if minute >= 5 else points.inside
        clock.set(at(minute) + timedelta(seconds=1))
        gateway.processor.process_fixes([fix_at("gps-004", at(minute), where)])
    assert _destinations(gateway, "alert.unreported_departure") == ["record", "robot:jt-wecom-a"]
    clock.set(at(10))
    folder = tmp_path / "without"
    folder.mkdir()
    path = site_file(folder, stub)
    doc = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["guards"], site["devices"], site["shifts"] = [], [], []
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, gateway.engine, at(10), set(SECRETS))
    read = gateway.processor.read_roster()
    assert read is not None and gateway.processor.adopt_roster(read)
    clock.set(at(15) + timedelta(seconds=30))
    gateway.processor.tick()
    assert _destinations(gateway, "alert.escalated") == GROUPS
    assert _titles(gateway, stub)[MANAGER] == ["告警升级 (alert escalated)"]


def test_a_company_with_only_the_managers_group_and_no_core_hears_the_escalated_alert_end(
    gateway: Gateway, clock: ManualClock, stub: RobotStub, tmp_path: Path
) -> None:
    """No team group, no core: the return covers nobody's group, so it is at first only
    recorded; it ends the alert escalated to 黄经理, and his group hears it all the same. (Its
    row for his group was copied from the record row, written settled: it was never sent.)"""
    folder = tmp_path / "manager-only"
    folder.mkdir()
    path = site_file(folder, stub)
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["sites"][0]["robots"] = [r for r in doc["sites"][0]["robots"] if r["id"] == "jt-ding-m"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, gateway.engine, at(0), set(SECRETS))
    read = gateway.processor.read_roster()
    assert read is not None and gateway.processor.adopt_roster(read)
    _off_post_unacknowledged_until_escalated(gateway, clock, ["record", "robot:jt-ding-m"])
    _back_on_post_at_08_18(gateway, clock)
    assert _destinations(gateway, "presence.returned") == ["record", "robot:jt-ding-m"]
    assert _titles(gateway, stub) == {MANAGER: ["告警升级 (alert escalated)", "已回岗 (returned)"]}
