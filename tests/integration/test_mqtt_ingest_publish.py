"""The MQTT ingest adapter's ``publish`` (replies owed to terminals) against a real private
broker: QoS 1 delivery, a message published while the broker is down going out once it is
back, and a refusal before the adapter is started."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt.broker import RunningBroker, start_broker
from drivers.mqtt.ingest import MqttIngest
from drivers.mqtt.url import parse_broker_url
from gateway.clock import ManualClock
from gateway.errors import TransportError

WAIT_S = 15.0


class Listener:
    """A subscriber with a persistent session, so nothing published for it is lost while the
    broker restarts."""

    def __init__(self, url: str, topic: str) -> None:
        self.url, self.topic = url, topic
        self.got: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"listener-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.on_message = lambda _c, _u, m: self.got.put((m.topic, bytes(m.payload), m.qos))
        subscribed = queue.Queue[bool]()
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        address = parse_broker_url(url)
        self.client.connect(address.host, address.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        subscribed.get(timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _ingest(url: str) -> MqttIngest:
    return MqttIngest(
        url,
        client_id=f"gateway-{uuid.uuid4().hex[:8]}",
        topic_filters=["devices/+/jt808"],
        handoff=lambda _m: None,
        clock=ManualClock(datetime(2026, 3, 2, tzinfo=UTC)),
        reconnect_min_s=1,
        reconnect_max_s=1,
    )


@pytest.fixture
def broker() -> Iterator[RunningBroker]:
    running = start_broker()
    yield running
    running.stop()


def test_publish_delivers_with_qos_1_and_is_counted(broker: RunningBroker) -> None:
    listener = Listener(broker.url, "devices/+/jt808/down")
    ingest = _ingest(broker.url)
    ingest.start()
    try:
        assert ingest.wait_connected(WAIT_S)
        ingest.publish("devices/13800000001/jt808/down", b"\x7e\x80\x01\x7e")
        assert listener.got.get(timeout=WAIT_S) == (
            "devices/13800000001/jt808/down",
            b"\x7e\x80\x01\x7e",
            1,
        )
        assert (ingest.stats.published, ingest.stats.publish_failed) == (1, 0)
    finally:
        ingest.stop()
        listener.close()


def test_publish_while_the_broker_is_down_goes_out_after_it_returns(
    broker: RunningBroker,
) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("a broker restart keeping the listener's session needs mosquitto")
    listener = Listener(broker.url, "devices/+/jt808/down")
    ingest = _ingest(broker.url)
    ingest.start()
    try:
        assert ingest.wait_connected(WAIT_S)
        broker.halt()
        ingest.publish("devices/13800000001/jt808/down", b"while-down")
        assert ingest.stats.published == 1  # kept by paho until the connection is back
        broker.start()
        assert listener.got.get(timeout=WAIT_S)[1] == b"while-down"
    finally:
        ingest.stop()
        listener.close()


def test_publish_before_start_is_refused(broker: RunningBroker) -> None:
    with pytest.raises(TransportError, match="not started"):
        _ingest(broker.url).publish("devices/x/jt808/down", b"")
