"""Delivery to group robots over real HTTP to the robot stub, on a ManualClock: the real request
formats, retries with back-off, the cap per group per minute with digests, SOS first, and a
restart that sends nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from fwsim.robot_stub import ReceivedMessage, RobotStub
from gateway.clock import ManualClock
from gateway.db.models import SiteRow
from gateway.errors import ConfigError
from gateway.outbox.refused import retry_refused
from gateway.outbox.robot_delivery import RobotDeliveryWorker
from gateway.outbox.robots import RobotTarget, load_robot_targets, make_sender
from gateway.outbox.tables import OutboxRow, RobotRow
from gateway.outbox.writer import enqueue

T0 = datetime(2026, 3, 2, 0, 6, tzinfo=UTC)  # 08:06 in Wuhan
TZ = ZoneInfo("Asia/Shanghai")
SIGNING = "SECb0d1e2f3a4"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    robots = RobotStub(clock=clock)  # the real robots' limit: 20 a minute
    robots.add_wecom("key-a", "A班组")
    robots.add_dingtalk("token-b", "B班组", SIGNING)
    with robots:
        yield robots


def target(stub: RobotStub, kind: str = "wecom") -> RobotTarget:
    if kind == "wecom":
        return RobotTarget(
            "jt-wecom-a", "wh", "A班组", "wecom", f"{stub.wecom_url}?key=key-a", None, TZ
        )
    url = f"{stub.dingtalk_url}?access_token=token-b"
    return RobotTarget("jt-ding-b", "wh", "B班组", "dingtalk", url, SIGNING, TZ)


class Robot:
    """A worker with its sender, closed by the test's teardown."""

    def __init__(
        self, engine: Engine, clock: ManualClock, tgt: RobotTarget, **options: Any
    ) -> None:
        self.sender = make_sender(tgt, clock)
        self.worker = RobotDeliveryWorker(engine, clock, self.sender, tgt, **options)


@pytest.fixture
def robots() -> Iterator[list[Robot]]:
    made: list[Robot] = []
    yield made
    for robot in made:
        robot.sender.close()


def alert(
    engine: Engine,
    clock: ManualClock,
    tgt: RobotTarget,
    n: int,
    type_: str = "alert.unreported_departure",
    guard: str = "g-004",
) -> str:
    at = clock.now()
    with Session(engine) as session, session.begin():
        return enqueue(
            session,
            key=f"{type_}:{guard}:{n}",
            type=type_,
            subject=guard,
            time=at,
            data={
                "guard_name": "赵军",
                "post_name": "中心花园巡逻岗 (central garden patrol)",
                "started_at": at.isoformat(),
                "team": "A",
            },
            now=at,
            destinations=(tgt.destination,),
        )


def rows(engine: Engine, destination: str) -> list[OutboxRow]:
    with Session(engine, expire_on_commit=False) as session:
        found = list(
            session.scalars(
                select(OutboxRow)
                .where(OutboxRow.destination == destination)
                .order_by(OutboxRow.seq)
            )
        )
        session.expunge_all()
        return found


def refs(messages: list[ReceivedMessage]) -> list[str]:
    return [ref for m in messages for ref in m.refs]


def max_in_any_minute(messages: list[ReceivedMessage]) -> int:
    times = [m.received_at for m in messages]
    return max(
        (sum(1 for u in times if t <= u < t + timedelta(seconds=60)) for t in times), default=0
    )


def test_wecom_group_reads_the_alert_in_chinese_local_time(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    tgt = target(stub)
    event_id = alert(engine, clock, tgt, 1)
    robots.append(robot := Robot(engine, clock, tgt))
    stats = robot.worker.run_once()
    assert (stats.delivered, stats.failed, stats.next_due) == (1, 0, None)
    [message] = stub.messages
    assert message.label == "企业微信 A班组"
    assert message.plain_lines() == [
        "未报备离岗 (unreported departure)",
        "赵军 (g-004) 于 08:06 离开 中心花园巡逻岗，未报备。",
        f"3月2日 08:06 · 班组 A · 编号 {event_id[:8]}",
    ]
    [row] = rows(engine, tgt.destination)
    assert row.delivered_at == T0 and row.attempts == 1
    assert robot.worker.run_once().delivered == 0  # never twice


def test_dingtalk_group_gets_signed_markdown_with_a_title(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    tgt = target(stub, "dingtalk")
    alert(engine, clock, tgt, 1, type_="alert.sos")
    robots.append(robot := Robot(engine, clock, tgt))
    assert robot.worker.run_once().delivered == 1
    assert stub.refused == []  # signature and timestamp verified by the stub
    [message] = stub.messages
    assert (message.label, message.title) == ("钉钉 B班组", "SOS 紧急求助 (SOS)")
    assert "\n\n" in message.text  # a blank line keeps DingTalk's lines apart


@pytest.mark.parametrize(
    ("fault", "waits_s"),
    [
        ({"n": 2, "status": 500}, [1.0, 2.0]),  # exponential back-off
        ({"n": 1, "errcode": None}, [60.0]),  # the platform's rate limit: a minute
        ({"n": 1, "errcode": 93000}, [300.0]),  # a refusal: the longest back-off
    ],
)
def test_failures_are_retried_with_back_off_and_delivered_once(
    engine: Engine,
    clock: ManualClock,
    stub: RobotStub,
    robots: list[Robot],
    fault: dict[str, Any],
    waits_s: list[float],
) -> None:
    tgt = target(stub)
    alert(engine, clock, tgt, 1)
    options = dict(fault)
    stub.fail_next(options.pop("n"), **options)
    robots.append(robot := Robot(engine, clock, tgt, retry_max_s=300.0))
    for wait_s in waits_s:
        stats = robot.worker.run_once()
        assert (stats.delivered, stats.failed) == (0, 1)
        assert stats.next_due == clock.now() + timedelta(seconds=wait_s)
        clock.advance(wait_s - 0.5)
        assert robot.worker.run_once().delivered == 0  # not before its time
        clock.advance(0.5)
    assert robot.worker.run_once().delivered == 1
    assert len(stub.messages) == 1 and stub.duplicates == []
    [row] = rows(engine, tgt.destination)
    assert row.attempts == len(waits_s) + 1
    assert robot.worker.counts.failures == len(waits_s)


def test_a_flapping_terminal_cannot_flood_the_group_and_nothing_is_lost(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    """50 alerts, one every 2 s, a cap of 15 a minute: the first go one by one, the rest wait
    and go out as digests whenever the window allows; every alert arrives once, in order."""
    tgt = target(stub)
    robots.append(robot := Robot(engine, clock, tgt, max_per_min=15))
    ids = []
    for n in range(50):
        ids.append(alert(engine, clock, tgt, n))
        robot.worker.run_once()
        clock.advance(2)
    while (stats := robot.worker.run_once()).next_due is not None:
        clock.set(stats.next_due)
    assert all(r.delivered_at is not None for r in rows(engine, tgt.destination))
    messages = stub.messages
    assert refs(messages) == [i[:8] for i in ids]  # each once, in order
    assert stub.duplicates == [] and stub.refused == []
    assert max_in_any_minute(messages) <= 15
    sent = [(int((m.received_at - T0).total_seconds()), len(m.refs)) for m in messages]
    # Minute 1: 15 alone. At 60 s the first slot frees: the 16 waiting go as one digest; then
    # each slot freed lets the alert of that moment out alone; the last 5 wait for minute 3.
    assert sent == [(t, 1) for t in range(0, 30, 2)] + [(60, 16)] + [
        (t, 1) for t in range(62, 90, 2)
    ] + [(120, 5)]
    assert [m.title for m in messages if len(m.refs) > 1] == [
        "告警汇总 (digest) · 16 条",
        "告警汇总 (digest) · 5 条",
    ]
    counts = robot.worker.counts
    assert (counts.events, counts.messages, counts.digests, counts.failures) == (50, 31, 2, 0)


def test_a_burst_of_50_at_once_goes_out_as_a_few_digests(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    tgt = target(stub, "dingtalk")
    ids = [alert(engine, clock, tgt, n) for n in range(50)]
    robots.append(robot := Robot(engine, clock, tgt, max_per_min=15))
    stats = robot.worker.run_once()
    assert (stats.delivered, stats.held_back) == (50, 0)
    messages = stub.messages
    assert refs(messages) == [i[:8] for i in ids]
    assert len(messages) <= 15 and all(m.title.startswith("告警汇总") for m in messages[:-1])
    assert all(len(m.text.encode()) <= 4096 for m in messages)


def test_sos_goes_first_and_alone_when_the_window_opens(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    tgt = target(stub)
    robots.append(robot := Robot(engine, clock, tgt, max_per_min=2))
    alert(engine, clock, tgt, 1)
    alert(engine, clock, tgt, 2)
    assert robot.worker.run_once().delivered == 2  # the window is now full
    clock.advance(10)
    waiting = [alert(engine, clock, tgt, n) for n in (3, 4)]
    sos = alert(engine, clock, tgt, 5, type_="alert.sos", guard="g-007")
    stats = robot.worker.run_once()
    assert (stats.delivered, stats.held_back, stats.next_due) == (0, 3, T0 + timedelta(seconds=60))
    clock.set(T0 + timedelta(seconds=60))
    assert robot.worker.run_once().delivered == 3
    first, second = stub.messages[2:]
    assert first.refs == (sos[:8],) and first.title == "SOS 紧急求助 (SOS)"
    assert (
        second.refs == tuple(i[:8] for i in waiting) and second.title == "告警汇总 (digest) · 2 条"
    )


def test_a_restart_mid_delivery_sends_nothing_twice_and_keeps_the_cap(
    engine: Engine, db_url: str, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    tgt = target(stub)
    robots.append(before := Robot(engine, clock, tgt, max_per_min=5))
    ids = []
    for n in range(4):
        ids.append(alert(engine, clock, tgt, n))
        before.worker.run_once()
    stub.fail_next(1, status=500)
    ids.append(alert(engine, clock, tgt, 4))
    assert before.worker.run_once().failed == 1  # the gateway stops with this one failing
    before.worker.stop()
    before.sender.close()
    ids += [alert(engine, clock, tgt, n) for n in range(5, 9)]

    clock.advance(1)  # the back-off of the failed message
    from gateway.db.engine import make_engine

    fresh = make_engine(db_url)  # a new process: new engine, new sender, no memory
    try:
        robots.append(after := Robot(fresh, clock, tgt, max_per_min=5))
        stats = after.worker.run_once()
        # Four delivered rows in the last minute count against the window after the restart.
        assert stats.delivered == 5 and stats.held_back == 0
        assert len(stub.messages) == 5
    finally:
        fresh.dispose()
    assert refs(stub.messages) == [i[:8] for i in ids]
    assert stub.duplicates == []
    assert all(r.delivered_at is not None for r in rows(engine, tgt.destination))


def test_targets_join_the_stored_robots_with_their_secrets(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            insert(SiteRow).values(
                id="wh",
                name="江滩",
                timezone="Asia/Shanghai",
                policy={},
                roster=[],
                source_digest="x",
                loaded_at=T0,
            )
        )
        session.execute(
            insert(RobotRow),
            [
                {
                    "id": "a",
                    "site_id": "wh",
                    "name": "A",
                    "kind": "wecom",
                    "webhook_ref": "ka",
                    "secret_ref": None,
                    "url": None,
                    "teams": [],
                    "leader_ids": [],
                },
                {
                    "id": "b",
                    "site_id": "wh",
                    "name": "B",
                    "kind": "dingtalk",
                    "webhook_ref": "kb",
                    "secret_ref": "sb",
                    "url": "http://127.0.0.1:9/robot/send",
                    "teams": [],
                    "leader_ids": [],
                },
                {
                    "id": "c",
                    "site_id": "wh",
                    "name": "C",
                    "kind": "wecom",
                    "webhook_ref": "kc",
                    "secret_ref": None,
                    "url": None,
                    "teams": [],
                    "leader_ids": [],
                },
            ],
        )
    hook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a"
    targets = load_robot_targets(engine, {"ka": "k/1", "kb": "tok", "sb": "SEC1", "kc": hook})
    by_id = {t.robot_id: t for t in targets}
    assert by_id["a"].url == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k%2F1"
    assert by_id["b"].url == "http://127.0.0.1:9/robot/send?access_token=tok"
    assert by_id["b"].signing_secret == "SEC1" and by_id["c"].url == hook
    assert by_id["a"].destination == "robot:a" and by_id["b"].label == "钉钉 B"
    with pytest.raises(ConfigError) as caught:
        load_robot_targets(engine, {"ka": "x", "kb": "y", "sb": ""})
    text = str(caught.value)
    assert "site 'wh', robots (id 'b').secret_ref: secret 'sb' is not set" in text
    assert "site 'wh', robots (id 'c').webhook_ref: secret 'kc' is not set" in text


def test_a_message_refused_for_its_content_is_set_aside_and_the_groups_sos_goes_on(
    engine: Engine, clock: ManualClock, stub: RobotStub, robots: list[Robot]
) -> None:
    """WeCom refuses one message's content (40058): its event is set aside, not retried on
    the longest back-off with every later alert of the group, SOS included, waiting behind
    it; ``guard-gateway outbox retry`` sends it again once."""
    tgt = target(stub)
    refused = alert(engine, clock, tgt, 1)
    stub.fail_next(1, errcode=40058)
    robots.append(robot := Robot(engine, clock, tgt, retry_max_s=300.0))
    stats = robot.worker.run_once()
    assert (stats.delivered, stats.failed, stats.refused, stats.next_due) == (0, 0, 1, None)
    [row] = rows(engine, tgt.destination)
    assert row.refused_at == T0 and row.last_error == "robot errcode 40058: injected"

    clock.advance(5)
    sos = alert(engine, clock, tgt, 2, type_="alert.sos")
    later = alert(engine, clock, tgt, 3)
    assert robot.worker.run_once().delivered == 2
    assert refs(stub.messages) == [sos[:8], later[:8]]

    assert retry_refused(engine, destination=tgt.destination) == 1
    assert robot.worker.run_once().delivered == 1
    assert refs(stub.messages) == [sos[:8], later[:8], refused[:8]]
    assert stub.duplicates == []
    assert [r.delivered_at is not None for r in rows(engine, tgt.destination)] == [True] * 3
