"""What only the ingest process has: a child that dies, or hangs, under the gateway.

Against the private mosquitto; the contract shared with ``MqttIngest`` is tested for both in
``test_mqtt_ingest.py`` and ``test_mqtt_ingest_ack.py``.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import sys
from collections.abc import Iterator

import pytest
from pytest_mock import MockerFixture

from drivers.mqtt import child_process, ingest_process
from drivers.mqtt.broker import RunningBroker
from drivers.mqtt.ingest_process import SILENT_CHILD_S, IngestProcess
from drivers.mqtt.ingest_types import MqttMessage
from gateway.clock import ManualClock
from tests.fixtures.mqtt import BrokerPublisher
from tests.integration.test_mqtt_ingest import (
    CONNECT_TIMEOUT_S,
    Collector,
    clock,
    wait_until,
)

__all__ = ["clock"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto") is None,
    reason="redelivery of a persistent session needs mosquitto (amqtt keeps none)",
)

TOPIC = "devices/T-0001/gps"


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def ingest(
    mqtt_broker: RunningBroker, clock: ManualClock, collector: Collector
) -> Iterator[IngestProcess]:
    process = IngestProcess(
        mqtt_broker.url,
        client_id="gateway-child",
        topic_filters=["devices/#"],
        handoff=collector,
        clock=clock,
        restart_s=0.2,
    )
    process.start()
    assert process.wait_connected(CONNECT_TIMEOUT_S)
    yield process
    process.stop()


def test_a_killed_child_is_replaced_and_the_broker_gives_the_new_one_what_was_not_acknowledged(
    ingest: IngestProcess, collector: Collector, mqtt_publisher: BrokerPublisher
) -> None:
    for payload in (b"a", b"b", b"c"):
        mqtt_publisher.publish(TOPIC, payload)
    first = collector.take(3)
    assert ingest.acknowledge(first[:1]) == 1  # "a" committed; "b" and "c" still in the works
    assert wait_until(lambda: ingest.stats.acknowledged == 1)
    dead = ingest.process_id
    assert dead is not None

    os.kill(dead, signal.SIGKILL)
    assert wait_until(lambda: ingest.process_id not in (None, dead) and ingest.connected, 15)
    again = collector.take(2)
    assert [m.payload for m in again] == [b"b", b"c"]  # not "a": it was acknowledged
    assert collector.nothing_more(0.5)

    # The dead child's packet ids belong to the new connection's messages now: skipped.
    assert ingest.acknowledge(first[1:]) == 0
    assert ingest.acknowledge(again) == 2
    assert wait_until(lambda: ingest.stats.acknowledged == 3)
    stats = ingest.stats
    assert (stats.process_restarts, stats.reconnects, stats.stale_acks) == (1, 1, 2)
    assert stats.last_error is None  # connected again
    mqtt_publisher.publish(TOPIC, b"d")
    assert [m.payload for m in collector.take(1)] == [b"d"]


def test_a_hung_child_shows_as_not_connected_until_it_answers_again(
    ingest: IngestProcess, collector: Collector, mqtt_publisher: BrokerPublisher
) -> None:
    child = ingest.process_id
    assert child is not None
    os.kill(child, signal.SIGSTOP)
    try:
        assert wait_until(lambda: not ingest.connected, SILENT_CHILD_S + 5)
        assert ingest.process_id == child  # a hung child is reported, not replaced
    finally:
        os.kill(child, signal.SIGCONT)
    assert wait_until(lambda: ingest.connected, 5)
    mqtt_publisher.publish(TOPIC, b"after")
    assert [m.payload for m in collector.take(1)] == [b"after"]


def test_stop_ends_the_child_and_keeps_its_last_counters(
    ingest: IngestProcess, collector: Collector, mqtt_publisher: BrokerPublisher
) -> None:
    mqtt_publisher.publish(TOPIC, b"x")
    ingest.acknowledge(collector.take(1))
    child = ingest.process_id
    ingest.stop()
    assert ingest.process_id is None and not ingest.connected
    assert not os.path.exists(f"/proc/{child}")  # waited for: not even a zombie
    assert ingest.stats.acknowledged == 1  # the child's last frame, sent as it stopped


def test_a_child_that_cannot_be_started_again_is_tried_again_later(
    ingest: IngestProcess,
    collector: Collector,
    mqtt_publisher: BrokerPublisher,
    mocker: MockerFixture,
) -> None:
    failing = mocker.patch(
        "drivers.mqtt.child_process.subprocess.Popen",
        side_effect=OSError("Resource temporarily unavailable"),
    )
    dead = ingest.process_id
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    assert wait_until(lambda: failing.call_count == 1, 10)
    assert wait_until(lambda: "not started" in (ingest.stats.last_error or ""), 5)
    mocker.stopall()  # the next attempt finds an interpreter to start
    assert wait_until(lambda: ingest.process_id not in (None, dead) and ingest.connected, 15)
    assert ingest.stats.process_restarts == 1
    mqtt_publisher.publish(TOPIC, b"back")
    assert [m.payload for m in collector.take(1)] == [b"back"]


SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")
"""A child that starts and ignores nothing: as the ingest child is before its first line runs."""


@pytest.mark.parametrize("stopping", [True, False], ids=["with-the-gateway", "alone"])
def test_a_child_ended_by_sigterm_while_starting_waits_for_the_gateways_stop(
    mqtt_broker: RunningBroker,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stopping: bool,
) -> None:
    """systemd's stop sends SIGTERM to the child too, maybe before it could ignore it: with the
    gateway stopping as well that is no crash; a SIGTERM of the child alone still is."""
    monkeypatch.setattr(IngestProcess, "command", SLEEPER)
    monkeypatch.setattr(child_process, "GROUP_SIGNAL_GRACE_S", 0.5)
    monkeypatch.setattr(ingest_process, "STOP_WAIT_S", 1.0)
    process = IngestProcess(
        mqtt_broker.url,
        client_id="gateway-sigterm",
        topic_filters=["devices/#"],
        handoff=Collector(),
        clock=clock,
        restart_s=0.1,
    )
    process.start()
    try:
        child = process.process_id
        assert child is not None
        os.kill(child, signal.SIGTERM)
        if stopping:
            assert wait_until(lambda: process.process_id is None, 5)
            process.stop()
        else:
            assert wait_until(lambda: process.process_id not in (None, child), 5)
    finally:
        process.stop()
    crashes = [r for r in caplog.records if "ended with code" in r.getMessage()]
    if stopping:
        assert crashes == [] and process.stats.process_restarts == 0
    else:
        assert "ended with code -15" in crashes[0].getMessage()
        assert process.stats.process_restarts == 1


def test_a_full_pipeline_queue_is_told_in_the_log_once_and_the_message_taken_after(
    mqtt_broker: RunningBroker,
    clock: ManualClock,
    collector: Collector,
    mqtt_publisher: BrokerPublisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The ingest `run` uses by default. Before, it only counted the waits while the pipeline's
    # queue was full: reading from the broker paused, and nothing said so in the log.
    refusals = iter(range(3))

    def handoff(message: MqttMessage) -> None:
        if next(refusals, None) is not None:
            raise queue.Full("the pipeline queue is full")
        collector(message)

    process = IngestProcess(
        mqtt_broker.url,
        client_id="gateway-full",
        topic_filters=["devices/#"],
        handoff=handoff,
        clock=clock,
    )
    process.start()
    try:
        assert process.wait_connected(CONNECT_TIMEOUT_S)
        with caplog.at_level(logging.WARNING, logger="drivers.mqtt.handoff"):
            mqtt_publisher.publish(TOPIC, b"x")
            assert [m.payload for m in collector.take(1)] == [b"x"]
    finally:
        process.stop()
    paused = [
        r.getMessage() for r in caplog.records if "reading from the broker paused" in r.message
    ]
    assert paused == [
        "MQTT ingest 'gateway-full': the pipeline's queue is full; reading from the broker "
        "paused (1 waits so far)"
    ]
