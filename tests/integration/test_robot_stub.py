"""The group-robot stub checks what the real WeCom and DingTalk robots check, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

import httpx
import pytest

from fwsim.robot_stub import RobotStub
from gateway.clock import ManualClock

T0 = datetime(2026, 3, 2, 0, 6, tzinfo=UTC)
SECRET = "SECdemo0123456789"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def stub(clock: ManualClock) -> Iterator[RobotStub]:
    robots = RobotStub(clock=clock, limit_per_min=3)
    robots.add_wecom("key-a", "A班组")
    robots.add_dingtalk("token-b", "B班组", SECRET)
    with robots:
        yield robots


def wecom(stub: RobotStub, content: str, key: str = "key-a") -> dict[str, object]:
    body = {"msgtype": "markdown", "markdown": {"content": content}}
    reply: dict[str, object] = httpx.post(f"{stub.wecom_url}?key={key}", json=body).json()
    return reply


def signed(at: datetime, secret: str = SECRET) -> str:
    timestamp = str(int(at.timestamp() * 1000))
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return f"timestamp={timestamp}&sign={quote_plus(base64.b64encode(mac.digest()).decode())}"


def dingtalk(
    stub: RobotStub, query: str, text: str = "### 漏巡\n编号 0badc0de"
) -> dict[str, object]:
    body = {"msgtype": "markdown", "markdown": {"title": "漏巡", "text": text}}
    url = f"{stub.dingtalk_url}?access_token=token-b&{query}"
    reply: dict[str, object] = httpx.post(url, json=body).json()
    return reply


def test_wecom_markdown_is_accepted_and_shown_as_the_group_reads_it(stub: RobotStub) -> None:
    reply = wecom(stub, "### 未报备离岗 (unreported departure)\n**赵军** 离开\n> 编号 3f2a9c1d")
    assert reply == {"errcode": 0, "errmsg": "ok"}
    [message] = stub.messages
    assert message.label == "企业微信 A班组"
    assert message.plain_lines() == [
        "未报备离岗 (unreported departure)",
        "赵军 离开",
        "编号 3f2a9c1d",
    ]
    assert message.refs == ("3f2a9c1d",) and message.received_at == T0


def test_wecom_refuses_an_unknown_key_and_content_over_4096_bytes(stub: RobotStub) -> None:
    assert wecom(stub, "x", key="nope")["errcode"] == 93000
    assert wecom(stub, "离" * 1366)["errcode"] == 40058  # 4098 bytes
    assert wecom(stub, "离" * 1365)["errcode"] == 0  # 4095 bytes
    assert [r[1] for r in stub.refused] == [93000, 40058]


def test_dingtalk_checks_the_signature_and_the_timestamp(
    stub: RobotStub, clock: ManualClock
) -> None:
    assert dingtalk(stub, signed(T0))["errcode"] == 0
    assert dingtalk(stub, signed(T0, secret="SECwrong"))["errcode"] == 310000
    assert dingtalk(stub, signed(T0 - timedelta(minutes=61)))["errcode"] == 310000
    assert dingtalk(stub, "")["errcode"] == 310000
    clock.advance(timedelta(minutes=59))
    assert dingtalk(stub, signed(T0), text="### 漏巡\n编号 0badc0de")["errcode"] == 0
    assert stub.duplicates == ["0badc0de"]
    assert [m.title for m in stub.messages] == ["漏巡", "漏巡"]


def test_each_robot_refuses_more_than_its_limit_per_minute_of_its_clock(
    stub: RobotStub, clock: ManualClock
) -> None:
    assert [wecom(stub, f"m{n}")["errcode"] for n in range(4)] == [0, 0, 0, 45009]
    assert dingtalk(stub, signed(T0))["errcode"] == 0  # another robot, another window
    clock.advance(timedelta(seconds=59))
    assert wecom(stub, "late")["errcode"] == 45009
    clock.advance(timedelta(seconds=1))
    assert wecom(stub, "window moved")["errcode"] == 0


def test_faults_on_demand_over_http(stub: RobotStub) -> None:
    assert httpx.post(f"{stub.base_url}/_stub/fail?count=1&status=500").status_code == 200
    assert httpx.post(f"{stub.base_url}/_stub/fail?count=1").status_code == 200
    response = httpx.post(
        f"{stub.dingtalk_url}?access_token=token-b&{signed(T0)}",
        json={"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}},
    )
    assert response.status_code == 500
    assert dingtalk(stub, signed(T0))["errcode"] == 130101
    assert dingtalk(stub, signed(T0))["errcode"] == 0
    listing = httpx.get(f"{stub.base_url}/_stub/messages").json()
    assert listing["requests"] == 3 and len(listing["messages"]) == 1
    assert [r[1] for r in listing["refused"]] == [500, 130101]


def test_fwsim_robot_stub_command_prints_each_message_with_its_group() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fwsim.cli", "robot-stub", "--wecom", "k1=北门班组"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("WeCom ")[1].split(",")[0]
        body = {"msgtype": "markdown", "markdown": {"content": "### 漏巡 (missed)\n赵军 漏巡"}}
        assert httpx.post(f"{url}?key=k1", json=body).json()["errcode"] == 0
        assert proc.stdout.readline() == "[企业微信 北门班组] 漏巡 (missed)\n"
        assert proc.stdout.readline() == "    赵军 漏巡\n"
    finally:
        proc.terminate()
        proc.wait(10)
