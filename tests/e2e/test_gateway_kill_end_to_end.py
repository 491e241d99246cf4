"""End to end, the gateway killed with SIGKILL in the middle of a burst: none lost, none twice.

``guard-gateway run`` runs as its own process, configured by environment like a deployment: the
test database (SQLite, and PostgreSQL when configured), the private mosquitto, and the
management-core stub over real HTTP. Its site is stored beforehand with ``guard-gateway site load``.
A publisher sends a burst of ``N`` QoS-1 fixes from ``TERMINALS`` terminals; once part of them is
stored the gateway gets SIGKILL, then a new process starts on the same database and broker
session. Every fix must be stored exactly once, and the core must hold every event exactly once.

Each terminal's guard arrives, walks off his post for a little over a minute and comes back:
``presence.arrived``, ``presence.departed`` and ``presence.returned`` per guard, all decided by
the fixes themselves. The fixes are dated minutes in the past and the site's report grace is an
hour, so no clock deadline (an unreported departure, absence, silence) falls due during the
test and the events do not depend on when the kill happens.
"""

from __future__ import annotations

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
from tests.fixtures.live_gateway import (
    GatewayProcess,
    gateway_env,
    load_site,
    open_session,
    positions,
    wait_for,
    walk_site,
)
from tests.fixtures.mqtt import BrokerPublisher

TERMINALS = 20
FIXES_PER_TERMINAL = 150
N = TERMINALS * FIXES_PER_TERMINAL
KILL_WHEN_STORED = N // 4
EXPECTED_TYPES = ("presence.arrived", "presence.departed", "presence.returned")
WAIT_S = 120.0


def test_a_sigkill_mid_burst_loses_nothing_and_stores_nothing_twice(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("the gateway's session must outlive its process: mosquitto (amqtt keeps none)")
    stub = core_stub
    site, burst = walk_site(TERMINALS, FIXES_PER_TERMINAL, datetime.now(UTC))
    assert len(burst) == N
    client_id = f"gateway-kill-{uuid.uuid4().hex[:8]}"
    env = gateway_env(db_url, mqtt_broker, client_id, stub, GATEWAY_API_PORT=str(free_port()))
    load_site(env, site, tmp_path / "site.json")
    # Subscribed before any gateway process connects, so the broker queues the whole burst.
    open_session(mqtt_broker, client_id, subscription_filters())
    engine = make_engine(db_url)
    publisher = BrokerPublisher(mqtt_broker.url, timeout_s=60)
    first = second = None
    try:
        first = GatewayProcess(env, tmp_path / "gateway-1.log")
        first.wait_serving()
        sending = threading.Thread(target=publisher.publish_many, args=(burst,))
        sending.start()
        # Polled often: the kill must fall early in the burst, with most of it still to come.
        wait_for(
            lambda: positions(engine)[0] >= KILL_WHEN_STORED,
            lambda: f"only {positions(engine)[0]} stored",
            WAIT_S,
            every_s=0.002,
        )
        first.kill()
        stored_at_kill = positions(engine)[0]
        sending.join(60)
        assert not sending.is_alive()  # the broker took the whole burst for the session

        second = GatewayProcess(env, tmp_path / "gateway-2.log")
        second.wait_serving()
        expected_events = TERMINALS * len(EXPECTED_TYPES)
        wait_for(
            lambda: positions(engine)[0] >= N and len(stub.events) >= expected_events,
            lambda: (positions(engine), len(stub.events)),
            WAIT_S,
            every_s=0.1,
        )
        time.sleep(1.0)  # anything extra (a duplicate, a stray event) would arrive by now
        api = env["GATEWAY_API_PORT"]
        counters = httpx.get(f"http://127.0.0.1:{api}/health").json()["counters"]
        assert second.stop() == 0
        stored, distinct = positions(engine)
    finally:
        for process in (first, second):
            if process is not None and process.process.poll() is None:
                process.kill()
        publisher.close()
        engine.dispose()

    print(
        f"\nkilled at {stored_at_kill} of {N} stored; after the restart: stored {stored}, "
        f"distinct {distinct}, events {len(stub.events)}, re-sent ids {len(stub.duplicates)}, "
        f"restarted gateway counters {counters}"
    )
    assert 0 < stored_at_kill < N  # killed mid-burst
    assert (stored, distinct) == (N, N)  # 0 lost, 0 stored twice
    events = stub.events
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)) == expected_events  # 0 lost, 0 duplicated at the core
    assert Counter(event["type"] for event in events) == dict.fromkeys(EXPECTED_TYPES, TERMINALS)
    per_guard = Counter((event["type"], event["data"]["guard_id"]) for event in events)
    assert set(per_guard.values()) == {1}
