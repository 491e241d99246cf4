"""End to end, the MQTT ingest process of ``guard-gateway run`` killed with SIGKILL mid-burst.

``guard-gateway run`` reads the broker from a child process (``drivers.mqtt.ingest_process``).
Killing that child in the middle of a burst must cost nothing: the gateway starts another under
the same client id, the broker hands it what the dead one had read and the gateway had not
committed, and every fix is stored once and every event reaches the core once. The gateway's
own SIGKILL must take the child with it (its pipe closes), leaving no reader of the session.
The setting is the gateway kill test's (``tests.e2e.test_gateway_kill_end_to_end``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from drivers.gps.topics import subscription_filters
from drivers.mqtt.broker import RunningBroker, free_port
from fwsim.core_stub import CoreStub
from gateway.db.engine import make_engine
from tests.e2e.test_gateway_kill_end_to_end import (
    EXPECTED_TYPES,
    FIXES_PER_TERMINAL,
    KILL_WHEN_STORED,
    TERMINALS,
    WAIT_S,
    N,
)
from tests.fixtures.live_gateway import (
    GatewayProcess,
    alive,
    gateway_env,
    load_site,
    open_session,
    positions,
    wait_for,
    walk_site,
)
from tests.fixtures.mqtt import BrokerPublisher


def _metric(api_port: str, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{api_port}/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _two_guard_gateway(
    name: str, db_url: str, broker: RunningBroker, core: CoreStub, tmp_path: Path
) -> tuple[GatewayProcess, str]:
    """``guard-gateway run`` (starting) on a two-guard site, and its API port."""
    site, _ = walk_site(2, 1, datetime.now(UTC))
    api = str(free_port())
    client_id = f"gateway-{name}-{uuid.uuid4().hex[:8]}"
    env = gateway_env(db_url, broker, client_id, core, GATEWAY_API_PORT=api)
    load_site(env, site, tmp_path / "site.json")
    return GatewayProcess(env, tmp_path / "gateway.log"), api


def test_a_sigkilled_ingest_process_is_replaced_and_nothing_is_lost_or_stored_twice(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("the session must outlive the ingest process: mosquitto (amqtt keeps none)")
    site, burst = walk_site(TERMINALS, FIXES_PER_TERMINAL, datetime.now(UTC))
    client_id = f"gateway-ingest-kill-{uuid.uuid4().hex[:8]}"
    api = str(free_port())
    env = gateway_env(db_url, mqtt_broker, client_id, core_stub, GATEWAY_API_PORT=api)
    load_site(env, site, tmp_path / "site.json")
    open_session(mqtt_broker, client_id, subscription_filters())
    engine = make_engine(db_url)
    publisher = BrokerPublisher(mqtt_broker.url, timeout_s=60)
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    try:
        gateway.wait_serving()
        [reader] = gateway.children()
        sending = threading.Thread(target=publisher.publish_many, args=(burst,))
        sending.start()
        wait_for(
            lambda: positions(engine)[0] >= KILL_WHEN_STORED,
            lambda: f"only {positions(engine)[0]} stored",
            WAIT_S,
            every_s=0.002,
        )
        os.kill(reader, signal.SIGKILL)
        stored_at_kill = positions(engine)[0]
        sending.join(60)
        assert not sending.is_alive()

        expected_events = TERMINALS * len(EXPECTED_TYPES)
        wait_for(
            lambda: positions(engine)[0] >= N and len(core_stub.events) >= expected_events,
            lambda: (positions(engine), len(core_stub.events)),
            WAIT_S,
            every_s=0.1,
        )
        time.sleep(1.0)  # anything extra (a duplicate, a stray event) would arrive by now
        [replacement] = gateway.children()
        restarts = _metric(api, "guard_gateway_mqtt_process_restarts_total")
        connected = _metric(api, "guard_gateway_mqtt_connected")
        assert gateway.stop() == 0
        stored, distinct = positions(engine)
    finally:
        if gateway.process.poll() is None:
            gateway.kill()
        publisher.close()
        engine.dispose()

    print(
        f"\ningest process killed at {stored_at_kill} of {N} stored; stored {stored}, "
        f"distinct {distinct}, events {len(core_stub.events)}, restarts {restarts}"
    )
    assert 0 < stored_at_kill < N  # killed mid-burst
    assert replacement != reader and (restarts, connected) == (1.0, 1.0)
    assert (stored, distinct) == (N, N)  # 0 lost, 0 stored twice
    ids = [event["id"] for event in core_stub.events]
    assert len(ids) == len(set(ids)) == expected_events  # 0 lost, 0 duplicated at the core
    assert Counter(e["type"] for e in core_stub.events) == dict.fromkeys(EXPECTED_TYPES, TERMINALS)
    assert not alive(replacement)  # stopped with the gateway


def test_the_ingest_process_ends_with_a_sigkilled_gateway(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    gateway, _ = _two_guard_gateway("orphan", db_url, mqtt_broker, core_stub, tmp_path)
    try:
        gateway.wait_serving()
        [reader] = gateway.children()
        assert alive(reader)
        gateway.kill()
        wait_for(lambda: not alive(reader), f"ingest process {reader} outlived its gateway", 10)
    finally:
        if gateway.process.poll() is None:
            gateway.kill()


def test_a_sigterm_to_the_whole_group_stops_the_gateway_in_order(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    """systemd stops a unit by sending SIGTERM to every process of its cgroup at once, and a
    terminal's Ctrl-C reaches the whole process group: the ingest process must leave the stop
    to the gateway, not die first (which the gateway would log as a crash and restart)."""
    gateway, api = _two_guard_gateway("sigterm", db_url, mqtt_broker, core_stub, tmp_path)
    try:
        gateway.wait_serving()
        wait_for(lambda: _metric(api, "guard_gateway_mqtt_connected") == 1, "not connected", 10)
        [reader] = gateway.children()
        os.kill(reader, signal.SIGTERM)  # the child's alone: it is the gateway's to stop
        time.sleep(1.0)
        assert alive(reader) and gateway.children() == [reader]
        assert _metric(api, "guard_gateway_mqtt_connected") == 1
        os.kill(reader, signal.SIGTERM)  # and the group's, first, as the kernel may deliver it
        os.kill(gateway.process.pid, signal.SIGTERM)
        assert gateway.process.wait(30) == 0
        wait_for(lambda: not alive(reader), f"ingest process {reader} outlived its gateway", 10)
    finally:
        if gateway.process.poll() is None:
            gateway.kill()
    log = (tmp_path / "gateway.log").read_text(errors="replace")
    assert "ended with code" not in log and "another starts" not in log, log
