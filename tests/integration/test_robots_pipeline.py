"""The whole path to the leaders' groups: a site file with robots → the gateway as ``run`` wires
it → the processor raises alerts → outbox rows per robot → the robots' delivery workers → the
robot stub over real HTTP, on a ManualClock.

Sample Wuhan site, day shift 08:00 local: 赵军 (g-004, team A, leader 刘建国) patrols the
central garden, 胡明 (g-009, team B, leader 陈志强 named) keeps the garage, 郭鹏 (g-010, team B,
no leaders named: his team's) the south plaza. Three robots: WeCom 'A班组' for team A, DingTalk
'陈志强' (signed) for leader jt-leader-b, WeCom '项目部' for the whole site.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy.orm import Session

from fwsim.robot_stub import RobotStub
from gateway.bootstrap import build_gateway
from gateway.cli import main
from gateway.clock import ManualClock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.errors import ConfigError
from gateway.lifecycle import Gateway
from gateway.outbox.routing import RobotRouter
from gateway.records import Alarm
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, SAMPLE_SITE, fix_at, outbox_rows, post_points

GUARDS = {"g-004": "jt-patrol-central", "g-009": "jt-garage-b1", "g-010": "jt-plaza"}
SECRETS = {"a-key": "key-a", "b-token": "token-b", "b-sign": "SECb0d1e2", "site-key": "key-site"}


def at(minutes: float) -> datetime:
    return DAY_START + timedelta(minutes=minutes)


def site_file(tmp_path: Path, stub: RobotStub) -> Path:
    doc: dict[str, Any] = yaml.safe_load(SAMPLE_SITE.read_text("utf-8"))
    site = doc["sites"][0]
    site["guards"] = [g for g in site["guards"] if g["id"] in GUARDS]
    site["devices"] = [{"id": f"gps-{g[2:]}", "kind": "gps", "guard": g} for g in GUARDS]
    site["shifts"] = [
        {"guard": g, "post": p, "days": "daily", "start": "08:00", "end": "20:00"}
        for g, p in GUARDS.items()
    ]
    site["robots"] = [
        {"id": "jt-wecom-a", "name": "A班组", "kind": "wecom", "webhook_ref": "a-key",
         "url": stub.wecom_url, "teams": ["A"]},
        {"id": "jt-ding-b", "name": "陈志强", "kind": "dingtalk", "webhook_ref": "b-token",
         "secret_ref": "b-sign", "url": stub.dingtalk_url, "leaders": ["jt-leader-b"]},
        {"id": "jt-site", "name": "项目部", "kind": "wecom", "webhook_ref": "site-key",
         "url": stub.wecom_url},
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
    robots.add_dingtalk("token-b", "陈志强", "SECb0d1e2")
    robots.add_wecom("key-site", "项目部")
    with robots:
        yield robots


@pytest.fixture
def gateway(db_url: str, tmp_path: Path, clock: ManualClock, stub: RobotStub) -> Iterator[Gateway]:
    engine = make_engine(db_url)
    create_schema(engine)
    load_site_file(site_file(tmp_path, stub), engine, DAY_START, set(SECRETS))
    engine.dispose()
    settings = Settings(
        database_url=db_url,
        robot_secrets={k: SecretStr(v) for k, v in SECRETS.items()},
        robot_max_per_min=15,
    )
    built = build_gateway(settings, clock, with_ingest=False, with_field_devices=False)
    try:
        yield built
    finally:
        built.stop()


class Day:
    """Plays the guards' fixes through the gateway's processor, then runs its robot workers."""

    def __init__(self, gateway: Gateway, clock: ManualClock) -> None:
        self.gateway = gateway
        self.clock = clock
        self.points = {g: post_points(gateway.engine, p) for g, p in GUARDS.items()}

    def minute(
        self, minutes: float, outside: tuple[str, ...] = (), sos: tuple[str, ...] = ()
    ) -> None:
        """Every guard reports at ``minutes`` (inside unless in ``outside``), the rules tick
        through the minute, then the robots deliver."""
        fixes = []
        for guard, points in self.points.items():
            where = points.outside if guard in outside else points.inside
            alarms = frozenset({Alarm.SOS}) if guard in sos else frozenset()
            fixes.append(fix_at(f"gps-{guard[2:]}", at(minutes), where, alarms=alarms))
        self.clock.set(at(minutes) + timedelta(seconds=1))
        self.gateway.processor.process_fixes(fixes)
        for second in range(10, 60, 10):  # the runtime ticks the rules between fixes
            self.clock.set(at(minutes) + timedelta(seconds=second))
            self.gateway.processor.tick()
        for robot in self.gateway.robots:
            robot.run_once()


def test_alerts_reach_the_groups_that_cover_the_guard_once_and_in_words(
    gateway: Gateway, clock: ManualClock, stub: RobotStub
) -> None:
    assert {r.destination for r in gateway.robots} == {
        "robot:jt-wecom-a",
        "robot:jt-ding-b",
        "robot:jt-site",
    }
    day = Day(gateway, clock)
    for minute in range(1, 5):
        day.minute(minute)  # everyone arrives: no robot hears of it
    for minute in range(5, 12):
        day.minute(minute, outside=("g-004",))  # 赵军 leaves at 08:05 without a report
    day.minute(12, sos=("g-010",))  # 郭鹏 presses SOS; 赵军 is back
    for minute in range(13, 16):
        day.minute(minute)

    by_group: dict[str, list[str]] = {}
    for message in stub.messages:
        by_group.setdefault(message.label, []).append(" / ".join(message.plain_lines()[:2]))
    departure = (
        "未报备离岗 (unreported departure) / 赵军 (g-004) 于 08:05 离开 中心花园巡逻岗，未报备。"
    )
    returned = "已回岗 (returned) / 赵军 (g-004) 于 08:12 回到 中心花园巡逻岗，离岗 7 分钟。"
    sos = "SOS 紧急求助 (SOS) / 郭鹏 (g-010) 于 08:12 在 南广场岗 按下 SOS 紧急求助，请立即联系！"
    assert by_group == {
        "企业微信 A班组": [departure, returned],
        "钉钉 陈志强": [sos],  # g-010 names no leader: his team's leader's group
        "企业微信 项目部": [departure, sos, returned],
    }
    assert stub.duplicates == [] and stub.refused == []

    rows = outbox_rows(gateway.engine)
    robot_rows = [r for r in rows if r.destination.startswith("robot:")]
    # Arrivals and the departure itself are only recorded (no core configured here); alerts
    # and the return go to the groups as well.
    assert sorted({r.type for r in robot_rows}) == [
        "alert.sos",
        "alert.unreported_departure",
        "presence.returned",
    ]
    assert len(robot_rows) == 6 and all(r.delivered_at is not None for r in robot_rows)
    recorded = {r.type for r in rows if r.destination == "record"}
    assert {"presence.arrived", "presence.departed"} <= recorded
    for robot in gateway.robots:  # nothing is sent twice by a later pass
        assert robot.run_once().delivered == 0
    assert len(stub.messages) == 6


def test_a_device_alert_goes_to_the_site_group_a_named_leader_to_his_group(
    gateway: Gateway,
) -> None:
    router = RobotRouter()
    with Session(gateway.engine) as session:
        device = router(
            session, type="alert.device_silent", subject="gps-009", data={}, resolves=False
        )
        guard_b = router(
            session, type="alert.late_clock_in", subject="g-009", data={}, resolves=False
        )
        punch = router(session, type="attendance.punch", subject="g-009", data={}, resolves=False)
        unknown = router(session, type="alert.sos", subject="nobody", data={}, resolves=False)
    assert device == ["robot:jt-site"]
    assert guard_b == ["robot:jt-ding-b", "robot:jt-site"]
    assert punch == () and unknown == ()


def test_run_refuses_to_start_with_a_robot_secret_missing(
    gateway: Gateway, db_url: str, clock: ManualClock
) -> None:
    secrets = {k: SecretStr(v) for k, v in SECRETS.items() if k != "b-sign"}
    with pytest.raises(ConfigError) as caught:
        build_gateway(Settings(database_url=db_url, robot_secrets=secrets), clock)
    assert "robots (id 'jt-ding-b').secret_ref: secret 'b-sign' is not set" in str(caught.value)


def test_site_check_names_the_missing_secret(
    tmp_path: Path,
    stub: RobotStub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = site_file(tmp_path, stub)
    monkeypatch.setenv("GATEWAY_ROBOT_SECRETS", json.dumps({"a-key": "k", "b-token": "t"}))
    assert main(["site", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "sites[0].robots[1] (id 'jt-ding-b').secret_ref: secret 'b-sign' is not set" in err
    assert "sites[0].robots[2] (id 'jt-site').webhook_ref: secret 'site-key' is not set" in err
    monkeypatch.setenv("GATEWAY_ROBOT_SECRETS", json.dumps(SECRETS))
    assert main(["site", "check", str(path)]) == 0


def test_non_alert_events_never_cost_a_query() -> None:
    no_session = cast(Session, None)  # a router that looked anything up would fail here
    route = RobotRouter()
    assert route(no_session, type="presence.departed", subject="g-4", data={}, resolves=False) == ()


def test_a_guard_out_of_the_file_goes_by_what_his_event_says_one_in_it_by_his_row(
    gateway: Gateway,
) -> None:
    """吴杰 (g-006, team B) and 张伟 (g-001, team A) have no row here (taken out of the file):
    their alerts go by the team their data names, to its leaders' groups too (no shift kept
    leaders they named). 胡明 (g-009) has one: an event naming team A, 刘建国 and a shift does
    not move his alert from team B's groups."""
    router = RobotRouter()
    site = {"site_id": "wh-jiangtan-garden"}
    with Session(gateway.engine) as session:

        def route(subject: str, **data: object) -> list[str]:
            return list(
                router(
                    session,
                    type="alert.leave_not_cancelled",
                    subject=subject,
                    data={**site, **data},
                    resolves=False,
                )
            )

        gone_b = route("g-006", team="B")
        gone_a = route("g-001", team="A", shift_id="g-001/jt-gate-north/20260302T000000Z")
        gone_no_team = route("g-002", team=None)
        kept = route("g-009", team="A", shift_id="g-004/jt-patrol-central/20260302T000000Z")
    assert gone_b == ["robot:jt-ding-b", "robot:jt-site"]  # team B's leader, 陈志强
    assert gone_a == ["robot:jt-site", "robot:jt-wecom-a"]
    assert gone_no_team == ["robot:jt-site"]
    assert kept == ["robot:jt-ding-b", "robot:jt-site"]
