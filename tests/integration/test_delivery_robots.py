"""Alerts posted to WeCom / DingTalk group robots, against a local robot endpoint over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.outbox.delivery import DeliveryWorker
from gateway.outbox.robots import DingTalkRobotSender, WeComRobotSender
from gateway.outbox.tables import OutboxRow
from gateway.outbox.writer import enqueue

T0 = datetime(2026, 3, 1, 8, 31, tzinfo=UTC)


class RobotEndpoint:
    """Records each POST (query, JSON) and answers with the next scripted JSON reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, list[str]], dict[str, Any]]] = []
        self.replies: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests.append((parse_qs(urlsplit(self.path).query), json.loads(body)))
                reply = endpoint.replies.pop(0) if endpoint.replies else {"errcode": 0}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send?key=k-1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def robot() -> Iterator[RobotEndpoint]:
    endpoint = RobotEndpoint()
    yield endpoint
    endpoint.close()


def _put(engine: Engine, type_: str, destination: str, key: str = "ep-1") -> str:
    with Session(engine) as session, session.begin():
        return enqueue(
            session,
            key=key,
            type=type_,
            subject="guard-7",
            time=datetime(2026, 3, 1, 8, 15, tzinfo=UTC),
            data={"post": "东门岗", "off_post_s": 960, "evidence": {"fixes": 3}},
            now=T0,
            destinations=("core", destination),
        )


def _row(engine: Engine, destination: str) -> OutboxRow:
    with Session(engine) as session:
        return session.scalars(select(OutboxRow).where(OutboxRow.destination == destination)).one()


def test_wecom_group_gets_a_readable_overtime_alert_in_local_time(
    engine: Engine, robot: RobotEndpoint
) -> None:
    _put(engine, "alert.overtime_departure", "wecom")
    sender = WeComRobotSender(robot.url)
    try:
        stats = DeliveryWorker(engine, ManualClock(T0), sender, destination="wecom").run_once()
    finally:
        sender.close()
    assert stats.delivered == 1
    [(query, payload)] = robot.requests
    assert query == {"key": ["k-1"]}
    assert payload["msgtype"] == "markdown"
    content = payload["markdown"]["content"]
    assert content.startswith("### 离岗超时")
    assert "**guard-7**" in content
    assert "2026-03-01 16:15:00+08:00" in content
    assert "- post: 东门岗" in content and "- off_post_s: 960" in content
    assert "evidence" not in content
    assert _row(engine, "core").delivered_at is None  # the core destination is separate


def test_non_alert_events_are_not_posted_to_the_group(engine: Engine, robot: RobotEndpoint) -> None:
    _put(engine, "presence.departed", "wecom")
    sender = WeComRobotSender(robot.url)
    try:
        stats = DeliveryWorker(engine, ManualClock(T0), sender, destination="wecom").run_once()
        assert stats.delivered == 1
    finally:
        sender.close()
    assert robot.requests == []


@pytest.mark.parametrize(
    ("reply", "delay_s"),
    [({"errcode": 45009, "errmsg": "api freq out of limit"}, 1.0), ({"errcode": 93000}, 300.0)],
)
def test_robot_error_codes_are_retried_rate_limits_soon_others_late(
    engine: Engine, robot: RobotEndpoint, reply: dict[str, Any], delay_s: float
) -> None:
    _put(engine, "alert.sos", "wecom")
    robot.replies.append(reply)
    clock = ManualClock(T0)
    sender = WeComRobotSender(robot.url)
    try:
        worker = DeliveryWorker(engine, clock, sender, destination="wecom", retry_max_s=300.0)
        stats = worker.run_once()
        assert stats.failed == 1
        assert stats.next_due is not None
        assert (stats.next_due - T0).total_seconds() == delay_s
        clock.set(stats.next_due)
        assert worker.run_once().delivered == 1
    finally:
        sender.close()
    assert len(robot.requests) == 2
    assert str(reply["errcode"]) in (_row(engine, "wecom").last_error or "")


def test_dingtalk_signed_robot_gets_timestamp_and_signature(
    engine: Engine, robot: RobotEndpoint
) -> None:
    _put(engine, "alert.unreported_departure", "dingtalk")
    clock = ManualClock(T0)
    sender = DingTalkRobotSender(robot.url, secret="SEC-robot", clock=clock)
    try:
        DeliveryWorker(engine, clock, sender, destination="dingtalk").run_once()
    finally:
        sender.close()
    [(query, payload)] = robot.requests
    timestamp = query["timestamp"][0]
    assert timestamp == str(int(T0.timestamp() * 1000))
    # DingTalk's documented scheme: base64(HmacSHA256(key=secret, msg=timestamp + "\n" + secret)).
    expected = base64.b64encode(
        hmac.new(b"SEC-robot", f"{timestamp}\nSEC-robot".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"].startswith("未报备离岗")
    assert payload["markdown"]["text"].startswith("### 未报备离岗")


def test_signed_dingtalk_robot_without_a_clock_is_refused() -> None:
    with pytest.raises(ValueError):
        DingTalkRobotSender("http://127.0.0.1:1/send", secret="x")
