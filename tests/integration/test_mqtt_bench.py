"""The bare-subscriber baseline and the load publishers, on a private broker (small counts)."""

from __future__ import annotations

import shutil
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt.broker import RunningBroker, start_broker
from drivers.mqtt.url import parse_broker_url
from gateway.bench.baseline import measure_bare_subscriber, publish_load
from gateway.bench.wire_publisher import publish_qos1
from gateway.errors import TransportError


def test_bare_subscriber_counts_every_message_and_reports_a_rate(
    mqtt_broker: RunningBroker,
) -> None:
    result = measure_bare_subscriber(mqtt_broker.url, messages=3000, publishers=2)

    assert set(result) == {"messages", "seconds", "msgs_per_s"}
    assert result["messages"] == 3000
    assert result["seconds"] > 0
    assert result["msgs_per_s"] == (3000 - 1) / result["seconds"]


def test_publish_load_keeps_each_topics_order_across_publishers(
    mqtt_broker: RunningBroker,
) -> None:
    received: list[tuple[str, bytes]] = []
    ready, done = threading.Event(), threading.Event()
    sent = [(f"load/dev-{i % 7}", f"{i}".encode()) for i in range(1400)]

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        received.append((m.topic, bytes(m.payload)))
        if len(received) == len(sent):
            done.set()

    subscriber = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_: ready.set()
    subscriber.connect("127.0.0.1", mqtt_broker.port)
    subscriber.subscribe("load/#", qos=1)
    subscriber.loop_start()
    try:
        assert ready.wait(10)
        assert publish_load(mqtt_broker.url, sent, publishers=3) == len(sent)
        assert done.wait(20)
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()

    assert sorted(received) == sorted(sent)
    for device in range(7):
        topic = f"load/dev-{device}"
        assert [p for t, p in received if t == topic] == [p for t, p in sent if t == topic]


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="password users need mosquitto")
def test_the_wire_publisher_logs_in_and_is_refused_without_the_password() -> None:
    with start_broker(kind="mosquitto", users={"loader": "pa55:wörd"}) as broker:
        good = parse_broker_url(f"mqtt://loader:pa55%3Aw%C3%B6rd@127.0.0.1:{broker.port}")
        sent = [(f"load/dev-{i % 3}", b"x" * (i % 300)) for i in range(1200)]
        assert publish_qos1(good, "loader-1", sent, window=50) == 1200

        stranger = parse_broker_url(f"mqtt://127.0.0.1:{broker.port}")
        with pytest.raises(TransportError, match="refused the connection"):
            publish_qos1(stranger, "loader-2", sent[:1])
