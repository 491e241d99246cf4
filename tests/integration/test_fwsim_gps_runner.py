"""The scenario runner publishing to a real, private Mosquitto, read back by a bare paho
subscriber: every planned message arrives, on its topic, in order, byte for byte. (Log-ins
through the gateway's replies: ``test_fwsim_jt808_login.py``.)"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt.broker import RunningBroker
from fwsim.scenario import (
    ScenarioRunner,
    add_gps_command,
    load_scenario,
    parse_scenario,
    run_gps,
)
from fwsim.scenario.model import Scenario
from fwsim.scenario.runner import RunnerError
from gateway.clock import AcceleratedClock, ManualClock

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def broker_url(mqtt_broker: RunningBroker) -> str:
    """A private broker on a free loopback port (mosquitto, or the embedded one without it)."""
    return mqtt_broker.url


class Subscriber:
    """A bare paho client collecting (topic, payload) on the given filters."""

    def __init__(self, url: str, filters: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._subscribed = queue.Queue[int]()
        port = int(url.rsplit(":", 1)[1])
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-subscriber")
        self.client.on_message = lambda c, u, msg: self.messages.put(
            (msg.topic, bytes(msg.payload))
        )
        self.client.on_subscribe = lambda c, u, mid, codes, props: self._subscribed.put(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        self._subscribed.get(timeout=10)

    def take(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        got: list[tuple[str, bytes]] = []
        while len(got) < count:
            got.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
        return got

    def nothing_more(self, wait_s: float = 0.2) -> bool:
        try:
            self.messages.get(timeout=wait_s)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _without_login(scenario: Scenario) -> Scenario:
    """The scenario with no terminal logging in (nothing here answers a log-in)."""
    terminals = tuple(
        replace(t, options=replace(t.options, register=False)) for t in scenario.terminals
    )
    return replace(scenario, terminals=terminals)


@pytest.fixture
def subscriber(broker_url: str) -> Iterator[Subscriber]:
    sub = Subscriber(broker_url, ["devices/#", "owntracks/#", "jt808/#"])
    yield sub
    sub.close()


def test_manual_clock_steps_publish_exactly_what_is_due_in_order(
    broker_url: str, subscriber: Subscriber
) -> None:
    scenario = _without_login(load_scenario(SCENARIOS / "all-formats.yaml"))
    clock = ManualClock(T0)
    runner = ScenarioRunner(scenario, broker_url, clock)
    runner.connect()
    try:
        # At T0: one fix from each of the five terminals.
        assert runner.run_until() == 5
        received = subscriber.take(5)
        assert [topic for topic, _ in received] == [p.topic for p in runner.plan[:5]]
        assert subscriber.nothing_more()

        clock.advance(timedelta(seconds=14))
        assert runner.run_until() == 0  # nothing due before the next 15 s report
        clock.advance(timedelta(seconds=1))
        assert runner.run_until() == 5
        received += subscriber.take(5)

        while not runner.finished:
            clock.advance(timedelta(seconds=15))
            runner.run_until()
        received += subscriber.take(len(runner.plan) - len(received))
        assert subscriber.nothing_more()
    finally:
        runner.stop()

    assert received == [(p.topic, p.payload) for p in runner.plan]
    stats = runner.stats()
    assert stats["13800000014"].messages == stats["13800000014"].fixes == 39
    assert stats["13800000011"].messages == stats["13800000011"].fixes == 39
    assert sum(s.messages for s in stats.values()) == len(received) == 195


def test_unanswered_login_is_sent_again_on_the_clock_then_the_terminal_reports_anyway(
    broker_url: str, subscriber: Subscriber
) -> None:
    scenario = parse_scenario(
        {
            "terminals": [
                {
                    "device_id": "13800000041",
                    "format": "jt808",
                    "anchor": {"lat": 30.5928, "lon": 114.3055},
                    "interval_s": 15,
                    "options": {"register": True},
                    "timeline": [{"stay": {"duration_s": 60}}],
                }
            ]
        }
    )
    clock = ManualClock(T0)
    runner = ScenarioRunner(scenario, broker_url, clock, login_timeout_s=20, reply_wait_s=0.2)
    with runner:
        assert runner.run_until() == 1  # the 0x0100; its fix waits for the log-in
        assert runner.logging_in == {"13800000041"}
        clock.advance(timedelta(seconds=15))
        assert runner.run_until() == 0  # the 15 s fix waits too; no reply is overdue yet
        clock.advance(timedelta(seconds=5))
        assert runner.run_until() == 1  # 20 s: the 0x0100 again
        clock.advance(timedelta(seconds=20))
        assert runner.run_until() == 1  # 40 s: and a third time
        assert runner.pending == 5  # fixes of 0, 15 and 30 s held; 45 and 60 s not yet due
        clock.advance(timedelta(seconds=20))
        # 60 s: the log-in has failed; the held fixes and the one due now go up in order.
        assert runner.run_until() == 5
        assert runner.finished and not runner.logging_in
        frames = [payload for _, payload in subscriber.take(8)]
    assert [f[1:3].hex() for f in frames] == ["0100"] * 3 + ["0200"] * 5
    assert frames[0] == frames[1] == frames[2]  # sent again unchanged, same serial number
    stats = runner.stats()["13800000041"]
    assert (stats.messages, stats.fixes, stats.logins, stats.login_failures) == (8, 5, 0, 1)


def test_blind_area_batches_arrive_after_reconnection_on_each_terminal_topic(
    broker_url: str, subscriber: Subscriber
) -> None:
    scenario = load_scenario(SCENARIOS / "blind-area-batch.yaml")
    clock = ManualClock(T0)
    with ScenarioRunner(scenario, broker_url, clock) as runner:
        clock.set(runner.end_time)
        assert runner.run_until() == len(runner.plan)
        received = subscriber.take(len(runner.plan))
    per_topic: dict[str, list[bytes]] = {}
    for topic, payload in received:
        per_topic.setdefault(topic, []).append(payload)
    jt808 = per_topic["devices/13800000002/jt808"]
    batches = [frame for frame in jt808 if frame[1:3] == b"\x07\x04"]
    assert len(batches) == 1 and batches[0][15] == 1  # type 1: blind-area re-upload
    assert b'"fixes":[' in b"".join(per_topic["devices/13800000001/json"])
    emqx = [json.loads(p) for p in per_topic["jt808/013800000003/013800000003/up"]]
    (batch,) = [m for m in emqx if m["header"]["msg_id"] == 0x0704]
    assert batch["body"]["type"] == 1 and batch["body"]["length"] == len(batch["body"]["location"])
    assert len(batch["body"]["location"]) == runner.stats()["13800000003"].fixes - (len(emqx) - 1)


def test_accelerated_clock_plays_a_scenario_in_wall_seconds(
    broker_url: str, subscriber: Subscriber
) -> None:
    scenario = parse_scenario(
        {
            "terminals": [
                {
                    "device_id": f"1380000009{i}",
                    "format": fmt,
                    "anchor": {"lat": 30.5928, "lon": 114.3055},
                    "interval_s": 10,
                    "seed": i,
                    "timeline": [
                        {"stay": {"duration_s": 60}},
                        {"walk": {"to": {"north_m": 100}}},
                        {"offline": {"duration_s": 60}},
                        {"return": {}},
                    ],
                }
                for i, fmt in enumerate(("json", "nmea", "jt808"))
            ]
        }
    )
    clock = AcceleratedClock(T0, rate=600.0)  # ~280 s of scenario in about half a second
    runner = ScenarioRunner(scenario, broker_url, clock)
    started = time.monotonic()
    runner.start()
    try:
        assert runner.wait(timeout_s=20)
    finally:
        runner.stop()
    assert time.monotonic() - started < 10
    received = subscriber.take(len(runner.plan))
    assert received == [(p.topic, p.payload) for p in runner.plan]


def test_unreachable_broker_is_reported() -> None:
    runner = ScenarioRunner(
        load_scenario(SCENARIOS / "single-guard-departure.yaml"),
        f"mqtt://127.0.0.1:{_free_port()}",
        ManualClock(T0),
    )
    with pytest.raises(RunnerError, match="cannot reach broker"):
        runner.connect(timeout_s=2)


def test_gps_command_plays_a_scenario_file_and_exits_zero(
    broker_url: str, subscriber: Subscriber, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="fwsim")
    add_gps_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "gps",
            "--scenario",
            str(SCENARIOS / "single-guard-departure.yaml"),
            "--broker",
            broker_url,
            "--rate",
            "6000",  # 36.5 minutes of scenario in well under a second
        ]
    )
    assert args.handler(args) == 0
    received = subscriber.take(74)
    assert {topic for topic, _ in received} == {"devices/13800000001/json"}
    assert "13800000001: 74 messages, 74 fixes" in capsys.readouterr().err


def test_gps_command_reports_an_invalid_scenario_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    site = SCENARIOS / "sites" / "riverside-plaza.yaml"
    bad.write_text(
        f"site: {site}\ndate: '2026-03-02'\nstart: '08:00'\nend: '08:10'\n"
        "terminals:\n  - {device_id: x, format: json, post: rp-nowhere, timeline: []}\n"
    )
    assert run_gps(bad, "mqtt://127.0.0.1:1", rate=60) == 2
    err = capsys.readouterr().err
    assert "terminals[0]: 'post' 'rp-nowhere' is not a post of the site" in err
    assert "terminals[0] (x): 'timeline' must be a non-empty list" in err


def test_gps_command_refuses_a_file_that_is_not_a_site_day_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        "terminals:\n  - device_id: x\n    format: json\n"
        "    anchor: {lat: 30.5928, lon: 114.3055}\n    timeline: [{stay: {duration_s: 60}}]\n"
    )
    assert run_gps(old, "mqtt://127.0.0.1:1", rate=60) == 2
    assert "not a site-day scenario: the file names no 'site'" in capsys.readouterr().err
