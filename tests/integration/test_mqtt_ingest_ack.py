"""MQTT ingest acknowledges only what its consumer says is settled, on the connection it came on.

Against the private mosquitto (persistent sessions; its in-flight window is
``MAX_INFLIGHT_MESSAGES``). A message the consumer has not acknowledged stays in the broker's
session and comes again after a reconnection; one acknowledged is gone for good.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Callable

import pytest

from drivers.mqtt.broker import MAX_INFLIGHT_MESSAGES, RunningBroker
from drivers.mqtt.ingest import MqttMessage
from drivers.mqtt.ingest_types import Ingest
from tests.fixtures.mqtt import BrokerPublisher
from tests.integration.test_mqtt_ingest import (
    CONNECT_TIMEOUT_S,
    Collector,
    clock,
    make_ingest,
    wait_until,
)

__all__ = ["clock", "make_ingest"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None,
    reason="redelivery of a persistent session needs mosquitto (amqtt keeps none)",
)

TOPIC = "devices/T-0001/gps"


def payloads(messages: list[MqttMessage]) -> list[bytes]:
    return [m.payload for m in messages]


def test_only_what_was_not_acknowledged_comes_again_at_the_next_connection(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got, client_id="gateway-ack-1")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    for i in range(6):
        mqtt_publisher.publish(TOPIC, f"m{i}".encode())
    received = got.take(6)

    assert ingest.acknowledge(received[:4]) == 4  # the first four are "committed"
    ingest.stop()  # paho writes the queued PUBACKs before its DISCONNECT

    again = Collector()
    second = make_ingest(mqtt_broker.url, again, client_id="gateway-ack-1")
    second.start()
    redelivered = again.take(2)
    assert payloads(redelivered) == [b"m4", b"m5"]
    assert again.nothing_more(0.5)
    assert second.acknowledge(redelivered) == 2
    second.stop()

    third = Collector()
    last = make_ingest(mqtt_broker.url, third, client_id="gateway-ack-1")
    last.start()
    assert last.wait_connected(CONNECT_TIMEOUT_S)
    assert third.nothing_more(0.5)  # all six are acknowledged: the session holds nothing


def test_an_acknowledgement_held_over_from_an_earlier_connection_is_skipped(
    mqtt_broker: RunningBroker,
    mqtt_publisher_factory: Callable[[str], BrokerPublisher],
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got, client_id="gateway-ack-2")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    mqtt_publisher_factory(mqtt_broker.url).publish_many([(TOPIC, b"a"), (TOPIC, b"b")])
    old = got.take(2)
    assert len({m.connection for m in old}) == 1

    # The connection drops while the two are still being "processed".
    mqtt_broker.restart()
    assert wait_until(lambda: ingest.stats.reconnects == 1 and ingest.connected, 15)
    copies = got.take(2)  # the broker sends both again on the new connection
    assert payloads(copies) == [b"a", b"b"]
    assert {m.connection for m in copies} == {old[0].connection + 1}

    # Their packet ids may now name other messages: the held-over PUBACKs must not go out.
    assert ingest.acknowledge(old) == 0
    assert ingest.acknowledge(copies) == 2
    assert wait_until(lambda: (ingest.stats.acknowledged, ingest.stats.stale_acks) == (2, 2))
    ingest.stop()

    after = Collector()
    again = make_ingest(mqtt_broker.url, after, client_id="gateway-ack-2")
    again.start()
    assert again.wait_connected(CONNECT_TIMEOUT_S)
    assert after.nothing_more(0.5)


def test_the_brokers_window_bounds_what_it_sends_before_the_first_acknowledgement(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    window = MAX_INFLIGHT_MESSAGES
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got, client_id="gateway-ack-3")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    mqtt_publisher.publish_many([(TOPIC, str(i).encode()) for i in range(window + 50)])

    first = got.take(window, timeout_s=30)
    assert got.nothing_more(0.5)  # the broker waits for PUBACKs before sending more
    # How many each PUBACK lets through is the broker's business (mosquitto 2.0.11 sends up to
    # a whole window more per PUBACK, issue 2301): the rest comes, in order, and only once.
    assert ingest.acknowledge(first) == window
    rest = got.take(50)
    assert got.nothing_more(0.5)
    assert payloads(first + rest) == [str(i).encode() for i in range(window + 50)]


def test_a_full_handoff_holds_the_message_until_there_is_room_and_keeps_the_order(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    refusals = 3

    def handoff(message: MqttMessage) -> None:
        nonlocal refusals
        if message.payload == b"one" and refusals:
            refusals -= 1
            raise queue.Full("the pipeline queue is full")
        got(message)

    ingest = make_ingest(mqtt_broker.url, handoff, client_id="gateway-ack-4")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    mqtt_publisher.publish_many([(TOPIC, b"one"), (TOPIC, b"two")])

    assert payloads(got.take(2)) == [b"one", b"two"]
    assert got.nothing_more()
    stats = ingest.stats
    assert (stats.messages, stats.dropped, stats.backpressure) == (2, 0, 3)


def test_stop_gives_up_a_message_the_handoff_keeps_refusing_and_the_broker_keeps_it(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    def always_full(message: MqttMessage) -> None:
        raise queue.Full("the pipeline queue is full")

    ingest = make_ingest(mqtt_broker.url, always_full, client_id="gateway-ack-5")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    mqtt_publisher.publish(TOPIC, b"held")
    assert wait_until(lambda: ingest.stats.backpressure >= 2)

    started = time.monotonic()
    ingest.stop()
    assert time.monotonic() - started < 2.0
    assert not any(t.name == "paho-mqtt-client-gateway-ack-5" for t in threading.enumerate())
    assert ingest.stats.messages == 0

    got = Collector()
    later = make_ingest(mqtt_broker.url, got, client_id="gateway-ack-5")
    later.start()
    assert payloads(got.take(1)) == [b"held"]
