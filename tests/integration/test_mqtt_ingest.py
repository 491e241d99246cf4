"""The MQTT ingest adapter against a real private broker (mosquitto, else amqtt).

The adapter acknowledges nothing by itself (paho's manual ack): a ``Collector`` acknowledges each
message as the test takes it, as the pipeline does once it committed. What is acknowledged when,
and what the broker does with the rest, is in ``test_mqtt_ingest_ack.py``.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drivers.mqtt.broker import RunningBroker, start_broker
from drivers.mqtt.ingest import MqttIngest, MqttMessage
from drivers.mqtt.ingest_process import IngestProcess
from drivers.mqtt.ingest_types import Ingest
from gateway.clock import ManualClock
from tests.fixtures.mqtt import BrokerPublisher

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CONNECT_TIMEOUT_S = 10.0

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None,
    reason="persistent sessions across a broker restart need mosquitto (amqtt keeps none)",
)


class Collector:
    """A handoff that queues messages, as the pipeline's does; once ``ingest`` is set, ``take``
    acknowledges what it takes, as the pipeline does after its commit."""

    def __init__(self) -> None:
        self.queue: queue.Queue[MqttMessage] = queue.Queue()
        self.ingest: Ingest | None = None

    def __call__(self, message: MqttMessage) -> None:
        self.queue.put_nowait(message)

    def take(self, count: int, timeout_s: float = 10.0) -> list[MqttMessage]:
        deadline = time.monotonic() + timeout_s
        taken: list[MqttMessage] = []
        while len(taken) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(taken)} of {count} messages: {taken!r}")
            try:
                message = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            taken.append(message)
            if self.ingest is not None:
                assert self.ingest.acknowledge([message]) == 1
        return taken

    def nothing_more(self, wait_s: float = 0.3) -> bool:
        time.sleep(wait_s)
        return self.queue.empty()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["in-process", "child-process"])
def make_ingest(
    clock: ManualClock, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Ingest]]:
    """Build ingest adapters (subscribing to ``devices/#`` by default); all stopped at teardown.

    Each test runs with both: ``MqttIngest`` in the test's process, and ``IngestProcess``
    running one in a child (what ``guard-gateway run`` uses), which keeps the same contract."""
    made: list[Ingest] = []
    kind = MqttIngest if request.param == "in-process" else IngestProcess

    def make(url: str, handoff: Callable[[MqttMessage], None], **kwargs: object) -> Ingest:
        options: dict[str, object] = {
            "client_id": "gateway-test",
            "topic_filters": ["devices/#"],
            "clock": clock,
        }
        options.update(kwargs)
        ingest = kind(url, handoff=handoff, **options)  # type: ignore[arg-type]
        made.append(ingest)
        return ingest

    yield make
    for ingest in made:
        ingest.stop()


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_qos1_messages_reach_the_handoff_intact_with_received_at_from_the_clock(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
    clock: ManualClock,
) -> None:
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got, topic_filters=["devices/+/gps"])
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)

    binary = bytes(range(256))
    mqtt_publisher.publish("devices/T-0001/gps", b'{"lat":30.59,"lon":114.30}')
    first = got.take(1)[0]
    clock.advance(timedelta(minutes=5))
    mqtt_publisher.publish("devices/T-0002/gps", binary)
    mqtt_publisher.publish("devices/T-0002/status", b"not subscribed")
    second = got.take(1)[0]

    assert first == MqttMessage(
        topic="devices/T-0001/gps",
        payload=b'{"lat":30.59,"lon":114.30}',
        received_at=T0,
        qos=1,
        retain=False,
    )
    assert first.mid > 0 and first.connection > 0  # what acknowledging it takes
    assert second.connection == first.connection
    assert second.topic == "devices/T-0002/gps"
    assert second.payload == binary and type(second.payload) is bytes
    assert second.received_at == T0 + timedelta(minutes=5)
    assert got.nothing_more()
    assert ingest.stats.messages == 2 and ingest.stats.dropped == 0


def test_messages_keep_their_per_topic_order_in_a_burst(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = got.ingest = make_ingest(mqtt_broker.url, got)
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)

    # More than the broker's in-flight window: the rest comes only as the test acknowledges.
    sent = [(f"devices/T-{i % 3}/gps", str(i).encode()) for i in range(3000)]
    mqtt_publisher.publish_many(sent)
    received = got.take(len(sent), timeout_s=30)

    for device in range(3):
        topic = f"devices/T-{device}/gps"
        assert [m.payload for m in received if m.topic == topic] == [
            p for t, p in sent if t == topic
        ]
    # A child's counters reach the gateway with its next frame (within STATS_EVERY_S).
    assert wait_until(lambda: ingest.stats.acknowledged == 3000)


def test_a_handoff_that_raises_is_counted_as_dropped_and_the_client_goes_on(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()

    def handoff(message: MqttMessage) -> None:
        if message.payload == b"poison":
            raise RuntimeError("a bug in the handoff")
        got(message)

    ingest = got.ingest = make_ingest(mqtt_broker.url, handoff, client_id="gateway-drops")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)

    for payload in (b"one", b"poison", b"two"):
        mqtt_publisher.publish("devices/T-0001/gps", payload)

    assert [m.payload for m in got.take(2)] == [b"one", b"two"]
    assert ingest.connected
    assert wait_until(
        lambda: (
            (ingest.stats.messages, ingest.stats.dropped, ingest.stats.acknowledged) == (2, 1, 2)
        )
    )
    if mqtt_broker.kind != "mosquitto":
        return  # amqtt keeps no session for an anonymous client that disconnected
    # Not acknowledged, so not lost: the next connection of the session gets it again.
    ingest.stop()
    again = Collector()
    later = make_ingest(mqtt_broker.url, again, client_id="gateway-drops")
    later.start()
    assert [m.payload for m in again.take(1)] == [b"poison"]
    assert again.nothing_more()


def test_ingest_reconnects_after_the_broker_restarts_and_receives_again(
    mqtt_broker: RunningBroker,
    mqtt_publisher_factory: Callable[[str], BrokerPublisher],
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got)
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    mqtt_publisher_factory(mqtt_broker.url).publish("devices/T-0001/gps", b"before")
    assert [m.payload for m in got.take(1)] == [b"before"]

    mqtt_broker.restart()
    assert wait_until(lambda: ingest.stats.reconnects == 1 and ingest.connected, 15)

    after = mqtt_publisher_factory(mqtt_broker.url)
    after.publish("devices/T-0001/gps", b"after-1")
    after.publish("devices/T-0001/gps", b"after-2")
    if mqtt_broker.kind == "mosquitto":
        # Never acknowledged: mosquitto kept it in the session through its restart.
        assert [m.payload for m in got.take(1)] == [b"before"]
    assert [m.payload for m in got.take(2)] == [b"after-1", b"after-2"]
    assert got.nothing_more()
    assert ingest.stats.last_error is None


def test_ingest_waits_with_backoff_while_the_broker_is_down(
    make_ingest: Callable[..., Ingest],
) -> None:
    broker = start_broker()
    got = Collector()
    ingest = make_ingest(broker.url, got, reconnect_min_s=1, reconnect_max_s=2)
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    broker.halt()
    try:
        assert wait_until(lambda: not ingest.connected, 5)
        time.sleep(1.5)  # a few failed attempts on the closed port must not kill the client
        assert not ingest.connected
        # The latest attempt's reason, for /ready: the port is closed now.
        assert wait_until(lambda: "refused" in (ingest.stats.last_error or "").lower(), 5)
        broker.start()
        assert ingest.wait_connected(CONNECT_TIMEOUT_S)
        assert ingest.stats.reconnects == 1
    finally:
        broker.stop()


def test_messages_published_while_the_gateway_was_stopped_arrive_when_it_returns(
    mqtt_broker: RunningBroker,
    mqtt_publisher: BrokerPublisher,
    make_ingest: Callable[..., Ingest],
) -> None:
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("amqtt keeps no session for an anonymous client that disconnected")
    got = Collector()
    first_run = make_ingest(mqtt_broker.url, got, client_id="gateway-site-7")
    first_run.start()
    assert first_run.wait_connected(CONNECT_TIMEOUT_S)
    first_run.stop()
    assert not any(t.name == "paho-mqtt-client-gateway-site-7" for t in threading.enumerate())

    for i in range(5):
        mqtt_publisher.publish("devices/T-0001/gps", f"offline-{i}".encode())

    second_run = make_ingest(mqtt_broker.url, got, client_id="gateway-site-7")
    second_run.start()
    assert [m.payload for m in got.take(5)] == [f"offline-{i}".encode() for i in range(5)]


@needs_mosquitto
def test_queued_messages_survive_a_broker_restart_while_the_gateway_is_down(
    mqtt_broker: RunningBroker,
    mqtt_publisher_factory: Callable[[str], BrokerPublisher],
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = make_ingest(mqtt_broker.url, got, client_id="gateway-site-8")
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)
    ingest.stop()

    publisher = mqtt_publisher_factory(mqtt_broker.url)
    publisher.publish("devices/T-0009/gps", b"while-down-1")
    publisher.publish("devices/T-0009/gps", b"while-down-2")
    mqtt_broker.restart()

    ingest.start()
    assert [m.payload for m in got.take(2)] == [b"while-down-1", b"while-down-2"]
    assert ingest.stats.reconnects == 1


@pytest.fixture
def broker_with_users() -> Iterator[RunningBroker]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("password users need the mosquitto and mosquitto_passwd binaries")
    broker = start_broker(kind="mosquitto", users={"gateway": "s3cret:with@odd chars"})
    yield broker
    broker.stop()


def test_ingest_logs_in_with_username_and_password(
    broker_with_users: RunningBroker,
    mqtt_publisher_factory: Callable[[str], BrokerPublisher],
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    ingest = make_ingest(
        broker_with_users.url, got, username="gateway", password="s3cret:with@odd chars"
    )
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)

    url = f"mqtt://gateway:s3cret%3Awith%40odd%20chars@127.0.0.1:{broker_with_users.port}"
    mqtt_publisher_factory(url).publish("devices/T-0001/gps", b"authenticated")
    assert [m.payload for m in got.take(1)] == [b"authenticated"]


def test_wrong_credentials_leave_the_ingest_disconnected_with_the_reason_not_crashed(
    broker_with_users: RunningBroker,
    make_ingest: Callable[..., Ingest],
) -> None:
    got = Collector()
    url = f"mqtt://gateway:wrong@127.0.0.1:{broker_with_users.port}"
    ingest = make_ingest(url, got)
    ingest.start()

    assert not ingest.wait_connected(2.0)
    stats = ingest.stats
    assert not stats.connected
    assert stats.last_error is not None
    assert stats.last_error.startswith("broker refused the connection: ")
    assert "authori" in stats.last_error.lower() or "password" in stats.last_error.lower()
    assert _client_alive(ingest)
    ingest.stop()
    assert not _client_alive(ingest)


def _client_alive(ingest: Ingest) -> bool:
    """paho's thread runs (in this process, or in the ingest's child)."""
    if isinstance(ingest, IngestProcess):
        return ingest.process_id is not None and Path(f"/proc/{ingest.process_id}").exists()
    return any(t.name == "paho-mqtt-client-gateway-test" for t in threading.enumerate())


def test_ingest_works_through_the_embedded_amqtt_fallback(
    amqtt_broker: RunningBroker,
    mqtt_publisher_factory: Callable[[str], BrokerPublisher],
    make_ingest: Callable[..., Ingest],
    clock: ManualClock,
) -> None:
    assert amqtt_broker.kind == "amqtt"
    got = Collector()
    ingest = make_ingest(amqtt_broker.url, got)
    ingest.start()
    assert ingest.wait_connected(CONNECT_TIMEOUT_S)

    publisher = mqtt_publisher_factory(amqtt_broker.url)
    publisher.publish("devices/T-0001/gps", b"via amqtt")
    publisher.publish("elsewhere/T-0001", b"not subscribed")

    assert got.take(1) == [MqttMessage("devices/T-0001/gps", b"via amqtt", T0, 1, False)]
    assert got.nothing_more()
