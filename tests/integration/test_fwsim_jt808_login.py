"""Simulated JT/T 808 terminals logging in through the real gateway's replies.

The gateway as ``build_gateway`` wires it (ingest, pipeline, database, JT/T 808 platform
replies) and a private Mosquitto; the scenario runner plays the terminals on the rig's manual
clock. A terminal with ``register`` subscribes to ``devices/<id>/jt808/down``, registers, waits
for the 0x8100, authenticates with the code it was given and only then reports: no
authentication is refused, and every position it sends is stored.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from drivers.mqtt.broker import RunningBroker
from fwsim.gps import jt808
from fwsim.gps.jt808_login import parse_platform_reply
from fwsim.scenario import load_scenario
from gateway.db.models import PositionRow
from tests.e2e.rig import Rig, running_rig, terminal
from tests.fixtures.mqtt import BrokerPublisher

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"


class Tap:
    """A bare subscriber to one terminal's uplink and downlink topics, in arrival order."""

    def __init__(self, broker_url: str, device_id: str) -> None:
        self.up = f"devices/{device_id}/jt808"
        self.down = f"{self.up}/down"
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        subscribed: queue.Queue[int] = queue.Queue()
        host, port = broker_url.removeprefix("mqtt://").rsplit(":", 1)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tap-{uuid.uuid4().hex}")
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda c, u, mid, codes, props: subscribed.put(mid)
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe([(self.up, 1), (self.down, 1)])
        subscribed.get(timeout=10)

    def frames(self, topic: str) -> list[bytes]:
        """Every frame seen so far on ``topic`` (hex text decoded)."""
        seen: list[tuple[str, bytes]] = []
        while not self.messages.empty():
            seen.append(self.messages.get_nowait())
        for item in seen:
            self.messages.put(item)
        return [_frame(p) for t, p in seen if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _frame(payload: bytes) -> bytes:
    return bytes.fromhex(payload.decode()) if payload[:2] == b"7e" else payload


def _msg_id(frame: bytes) -> str:
    return frame[1:3].hex()


def _stored(rig: Rig, device_id: str) -> int:
    with rig.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(PositionRow).where(PositionRow.device_id == device_id)
        ).scalar_one()
    return int(count)


@pytest.fixture
def rig_for(
    db_url: str, mqtt_broker: RunningBroker, mqtt_publisher: BrokerPublisher, tmp_path: Path
) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(roster: list[tuple[str, str, str]]) -> Rig:
        context = running_rig(db_url, mqtt_broker.url, mqtt_publisher, tmp_path, roster)
        contexts.append(context)
        return context.__enter__()

    yield make
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def test_all_formats_scenario_logs_in_and_every_position_is_stored(rig_for: Any) -> None:
    scenario = load_scenario(SCENARIOS / "all-formats.yaml")
    devices = {"13800000012": "guard/13800000012"}  # OwnTracks: <user>/<device>
    roster = [
        (f"g-00{n}", "jt-gate-north", devices.get(t.device_id, t.device_id))
        for n, t in enumerate(scenario.terminals, start=1)
    ]
    rig: Rig = rig_for(roster)
    lon, lat = rig.anchors["jt-gate-north"]
    # The site-day file's terminals at the rig's post (all start at the file's start).
    scenario = replace(
        scenario, terminals=tuple(replace(t, anchor=(lat, lon)) for t in scenario.terminals)
    )
    tap = Tap(rig.broker_url, "13800000014")
    try:
        runner = rig.scenario_runner(scenario, rig.clock.now())
        rig.play(runner.end_time + timedelta(seconds=30))
        uplink, downlink = tap.frames(tap.up), tap.frames(tap.down)
    finally:
        tap.close()

    counters = rig.counters()
    assert "rejected.authentication_failed" not in counters
    assert not [k for k in counters if k.startswith(("rejected.", "errors."))]
    stats = runner.stats()
    assert (stats["13800000014"].logins, stats["13800000014"].login_failures) == (1, 0)
    for site_device, sim_device in zip(
        (d for _, _, d in roster), (t.device_id for t in scenario.terminals), strict=True
    ):
        assert _stored(rig, site_device) == stats[sim_device].fixes > 0
    # The terminal registered, authenticated with the code of the 0x8100, then reported.
    assert [_msg_id(f) for f in uplink[:3]] == ["0100", "0102", "0200"]
    assert {_msg_id(f) for f in uplink[2:]} == {"0200"}
    registered = parse_platform_reply(downlink[0])
    assert registered.msg_id == jt808.MSG_REGISTRATION_REPLY and registered.auth_code
    assert uplink[1][13:-2] == registered.auth_code.encode()
    accepted = parse_platform_reply(downlink[1])
    assert (accepted.reply_msg_id, accepted.result) == (jt808.MSG_AUTHENTICATION, 0)


def test_hex_terminal_logs_in_again_after_power_off_and_its_indoor_sos_is_raised(
    rig_for: Any,
) -> None:
    rig: Rig = rig_for([("g-001", "jt-gate-north", "13800000022")])
    timeline = [
        {"stay": {"duration_s": 120}},
        {"silent": {"duration_s": 300}},
        {"stay": {"duration_s": 60}},
        {"sos": {"count": 1, "fix": False}},
        {"stay": {"duration_s": 60}},
    ]
    tap = Tap(rig.broker_url, "13800000022")
    try:
        runner = rig.runner(
            [
                terminal(
                    "13800000022",
                    "jt808-hex",
                    rig.anchors["jt-gate-north"],
                    timeline,
                    options={"register": True},
                )
            ]
        )
        rig.play(runner.end_time + timedelta(seconds=30))
        uplink = [_msg_id(f) for f in tap.frames(tap.up)]
    finally:
        tap.close()
    rig.delivered()

    counters = rig.counters()
    assert "rejected.authentication_failed" not in counters
    stats = runner.stats()["13800000022"]
    assert (stats.logins, stats.login_failures) == (2, 0)
    # Fixes at 0..90 s, off from 120 s, on again at 420 s: 420..540 s but the SOS at 480 s.
    assert _stored(rig, "13800000022") == stats.fixes == 4 + 4
    assert stats.messages == stats.fixes + 1 + 2 * 2  # the alarm, two log-ins
    assert uplink[:3] == ["0100", "0102", "0200"]
    resumed = uplink.index("0100", 1)
    assert uplink[resumed : resumed + 3] == ["0100", "0102", "0200"]
    (sos,) = [e for e in rig.stub.events if e["type"] == "alert.sos"]
    assert sos["data"]["position"]["quality"] == "terminal_last_known"
