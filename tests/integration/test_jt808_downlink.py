"""Platform replies to JT/T 808 terminals behind a transparent bridge, through the real path:
the gateway as ``build_gateway`` wires it (MQTT ingest, pipeline thread, database) and a private
Mosquitto. A test client plays the bridge: it publishes raw frames on ``devices/<id>/jt808`` and
reads the replies on ``devices/<id>/jt808/down``, decoded by firmware-sim's parser (written
from the standard, apart from the gateway's reply builder); firmware-sim's terminal log-in
consumes them (register, then authenticate with the code it was given)."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from drivers.mqtt.broker import RunningBroker
from drivers.mqtt.url import parse_broker_url
from fwsim.gps import jt808 as sim
from fwsim.gps.jt808_login import Jt808Login, PlatformReply, parse_platform_reply
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.db.models import PositionRow
from gateway.errors import ConfigError
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START
from tests.e2e.rig import Rig, running_rig
from tests.fixtures.mqtt import BrokerPublisher
from tests.unit.drivers.gps.corpus_data import FRAMES

REGISTRATION = FRAMES[33]  # a real terminal's 0x0100 (traccar's test), serial 36
PHONE = REGISTRATION["expected"]["go_jt808_decode"]["phone"]
UPLINK = f"devices/{PHONE}/jt808"
DOWNLINK = f"{UPLINK}/down"
WAIT_S = 10.0


@dataclass(frozen=True)
class Received:
    """A downlink as the bridge got it, and how many positions of the terminal were stored at
    that moment (counted in the subscriber's callback, before anything else can happen)."""

    topic: str
    reply: PlatformReply
    payload: bytes
    qos: int
    stored_positions: int


class Bridge:
    """The transparent bridge's MQTT side: subscribed to every downlink the gateway may send."""

    def __init__(self, broker_url: str, engine: Engine) -> None:
        self.engine = engine
        self.inbox: queue.Queue[Received] = queue.Queue()
        self._subscribed = threading.Event()
        address = parse_broker_url(broker_url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"bridge-{uuid.uuid4().hex[:8]}",
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.subscribe([("devices/+/jt808/down", 1), ("jt808/+/+/dn", 1)])
        self.client.loop_start()
        assert self._subscribed.wait(WAIT_S)

    def stored(self) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(PositionRow).where(PositionRow.device_id == PHONE)
            ).scalar_one()
        return int(count)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        self.inbox.put(
            Received(
                message.topic,
                parse_platform_reply(payload),
                payload,
                message.qos,
                self.stored(),
            )
        )

    def next(self) -> Received:
        return self.inbox.get(timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def rig(
    db_url: str, mqtt_broker: RunningBroker, mqtt_publisher: BrokerPublisher, tmp_path: Path
) -> Iterator[Rig]:
    roster = [("g-001", "jt-gate-north", PHONE)]
    with running_rig(
        db_url,
        mqtt_broker.url,
        mqtt_publisher,
        tmp_path,
        roster,
        jt808_auth_secret=SecretStr("integration-test secret"),
    ) as running:
        yield running


@pytest.fixture
def bridge(rig: Rig) -> Iterator[Bridge]:
    bridge = Bridge(rig.broker_url, rig.engine)
    yield bridge
    bridge.close()


def _location_frame(rig: Rig, serial: int) -> bytes:
    lon, lat = rig.anchors["jt-gate-north"]
    body = sim.LocationBody(
        alarm=0,
        status=sim.STATUS_LOCATED,
        lat_e6=round(lat * 1e6),
        lon_e6=round(lon * 1e6),
        altitude_m=20,
        speed_0_1kmh=0,
        direction_deg=0,
        time=rig.clock.now(),
    )
    return sim.build_frame(sim.MSG_LOCATION, sim.bcd_phone(PHONE), serial, sim.location_body(body))


def test_registration_from_the_corpus_gets_a_code_that_authenticates(
    rig: Rig, bridge: Bridge
) -> None:
    serials = iter(range(37, 100))  # the terminal's own numbering, after the corpus frame's 36
    login = Jt808Login(sim.bcd_phone(PHONE), lambda: next(serials))

    rig.publish(UPLINK, bytes.fromhex(REGISTRATION["frame_hex"]))
    registered = bridge.next()
    assert (registered.topic, registered.qos) == (DOWNLINK, 1)
    reply = registered.reply
    assert (reply.msg_id, reply.result, reply.reply_serial) == (0x8100, 0, 36)
    assert reply.phone == sim.bcd_phone(PHONE)
    assert reply.auth_code

    authenticate = login.on_downlink(registered.payload)
    assert authenticate is not None and login.auth_code == reply.auth_code
    rig.publish(UPLINK, authenticate)
    accepted = bridge.next()
    assert (accepted.reply.msg_id, accepted.reply.reply_msg_id) == (0x8001, 0x0102)
    assert (accepted.reply.reply_serial, accepted.reply.result) == (37, 0)
    assert login.on_downlink(accepted.payload) is None
    assert login.authenticated
    rig.settle()
    assert "rejected.authentication_failed" not in rig.counters()


def test_wrong_auth_code_gets_failure_and_is_counted(rig: Rig, bridge: Bridge) -> None:
    frame = sim.build_frame(
        sim.MSG_AUTHENTICATION, sim.bcd_phone(PHONE), 5, sim.authentication_body("0123456789abcdef")
    )
    rig.publish(UPLINK, frame)
    refused = bridge.next()
    assert (refused.reply.reply_msg_id, refused.reply.reply_serial) == (0x0102, 5)
    assert refused.reply.result == 1
    rig.settle()
    assert rig.counters()["rejected.authentication_failed"] == 1


def test_location_report_is_acknowledged_only_once_its_fix_is_stored(
    rig: Rig, bridge: Bridge
) -> None:
    assert bridge.stored() == 0
    rig.publish(UPLINK, _location_frame(rig, serial=9))
    acknowledged = bridge.next()
    assert (acknowledged.reply.reply_msg_id, acknowledged.reply.reply_serial) == (0x0200, 9)
    assert acknowledged.reply.result == 0
    assert acknowledged.stored_positions == 1  # committed before the reply left the gateway
    rig.settle()
    assert rig.counters()["fixes.stored"] == 1


def test_heartbeat_is_acknowledged_and_flow_numbers_count_per_terminal(
    rig: Rig, bridge: Bridge
) -> None:
    heartbeat = sim.build_frame(sim.MSG_HEARTBEAT, sim.bcd_phone(PHONE), 3, b"")
    rig.publish(UPLINK, heartbeat)
    rig.publish(UPLINK, heartbeat)
    first, second = bridge.next(), bridge.next()
    assert [r.reply.reply_msg_id for r in (first, second)] == [0x0002, 0x0002]
    assert second.reply.serial == first.reply.serial + 1


def test_emqx_gateway_uplinks_are_not_answered(rig: Rig, bridge: Bridge) -> None:
    # EMQX's JT/T 808 gateway answers its terminals itself: nothing may go back from here.
    uplink = b'{"header": {"msg_id": 2, "encrypt": 0, "phone": "%s", "msg_sn": 1}, "body": {}}'
    rig.publish(f"jt808/c1/{PHONE}/up", uplink % PHONE.encode())
    rig.publish(UPLINK, sim.build_frame(sim.MSG_HEARTBEAT, sim.bcd_phone(PHONE), 4, b""))
    only = bridge.next()  # the raw frame's reply, published after the EMQX message's batch
    assert only.topic == DOWNLINK
    rig.settle()
    assert bridge.inbox.empty()


def test_an_empty_auth_secret_is_refused_at_start(db_url: str) -> None:
    settings = Settings(database_url=db_url, jt808_auth_secret=SecretStr(""))
    with pytest.raises(ConfigError, match="GATEWAY_JT808_AUTH_SECRET"):
        build_gateway(settings, ManualClock(DAY_START), with_ingest=False)
