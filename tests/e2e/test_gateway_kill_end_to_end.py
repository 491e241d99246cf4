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

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from drivers.gps.topics import subscription_filters
from drivers.mqtt.broker import RunningBroker, free_port
from fwsim.core_stub import CoreStub
from gateway.bench.e2e import bench_site
from gateway.db.engine import make_engine
from gateway.db.models import PositionRow
from tests.fixtures.mqtt import BrokerPublisher

TERMINALS = 20
FIXES_PER_TERMINAL = 150
N = TERMINALS * FIXES_PER_TERMINAL
KILL_WHEN_STORED = N // 4
SECRET = "kill-test-secret"
EXPECTED_TYPES = ("presence.arrived", "presence.departed", "presence.returned")
WAIT_S = 120.0
GATEWAY = Path(sys.executable).with_name("guard-gateway")


def walk_m(second: int) -> float:
    """Metres north of the post's centre ``second`` s into the walk: 20 s on post, out at 5 m/s to
    150 m, back, and 50 s on post (the fence is 40 m, the boundary margin 15 m)."""
    out, back = 20, 115
    return max(0.0, min(150.0, 5.0 * (second - out), 5.0 * (back - second)))


def site_and_fixes(now: datetime) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The site (a post, guard, terminal and running shift per terminal) and the burst."""
    site = bench_site(TERMINALS, now - timedelta(minutes=6))
    site["sites"][0]["policy"] = {"report_grace_s": 3600}  # no unreported-departure deadline
    base = now - timedelta(seconds=FIXES_PER_TERMINAL + 150)
    burst = []
    roster = site["sites"][0]
    for second in range(FIXES_PER_TERMINAL):
        for post, device in zip(roster["posts"], roster["devices"], strict=True):
            lon, lat = post["fence"]["center"]
            fix = {
                "time": (base + timedelta(seconds=second)).isoformat().replace("+00:00", "Z"),
                "lat": round(lat + walk_m(second) / 111_320.0, 7),
                "lon": lon,
                "accuracy_m": 8,
            }
            burst.append((f"devices/{device['id']}/json", json.dumps(fix).encode()))
    assert len(burst) == N
    return site, burst


def positions(engine: Engine) -> tuple[int, int]:
    """Rows stored, and distinct (device, fix time) among them."""
    with Session(engine) as session:
        rows = session.scalar(select(func.count()).select_from(PositionRow)) or 0
        distinct = session.scalar(
            select(func.count()).select_from(
                select(PositionRow.device_id, PositionRow.fix_time).distinct().subquery()
            )
        )
    return rows, distinct or 0


class GatewayProcess:
    """``guard-gateway run`` in a process of its own; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(GATEWAY), "run"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_serving(self) -> None:
        deadline = time.monotonic() + 30
        while "guard-gateway: API on" not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise
        return self.process.returncode


def open_session(broker: RunningBroker, client_id: str) -> None:
    """Subscribe the gateway's persistent session once, as an earlier run of it would have: the
    broker queues the burst for it whatever the moment the gateway process connects."""
    ready = threading.Event()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.on_subscribe = lambda *_: ready.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.subscribe([(f, 1) for f in subscription_filters()])
    assert ready.wait(10)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def stub() -> Iterator[CoreStub]:
    core = CoreStub(SECRET)
    core.start()
    yield core
    core.stop()


def test_a_sigkill_mid_burst_loses_nothing_and_stores_nothing_twice(
    db_url: str, mqtt_broker: RunningBroker, stub: CoreStub, tmp_path: Path
) -> None:
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("the gateway's session must outlive its process: mosquitto (amqtt keeps none)")
    now = datetime.now(UTC)
    site, burst = site_and_fixes(now)
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(site), encoding="utf-8")
    client_id = f"gateway-kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": db_url,
        "GATEWAY_MQTT_URL": mqtt_broker.url,
        "GATEWAY_MQTT_CLIENT_ID": client_id,
        "GATEWAY_CORE_URL": stub.url,
        "GATEWAY_CORE_SECRET": SECRET,
        "GATEWAY_DELIVERY_RETRY_INITIAL_S": "0.5",
        "GATEWAY_API_PORT": str(free_port()),
    }
    loaded = subprocess.run(
        [str(GATEWAY), "site", "load", str(site_file)], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    open_session(mqtt_broker, client_id)
    engine = make_engine(db_url)
    publisher = BrokerPublisher(mqtt_broker.url, timeout_s=60)
    first = second = None
    try:
        first = GatewayProcess(env, tmp_path / "gateway-1.log")
        first.wait_serving()
        sending = threading.Thread(target=publisher.publish_many, args=(burst,))
        sending.start()
        deadline = time.monotonic() + WAIT_S
        while (stored_at_kill := positions(engine)[0]) < KILL_WHEN_STORED:
            assert time.monotonic() < deadline, f"only {stored_at_kill} stored"
            time.sleep(0.002)
        first.kill()
        stored_at_kill = positions(engine)[0]
        sending.join(60)
        assert not sending.is_alive()  # the broker took the whole burst for the session

        second = GatewayProcess(env, tmp_path / "gateway-2.log")
        second.wait_serving()
        expected_events = TERMINALS * len(EXPECTED_TYPES)
        deadline = time.monotonic() + WAIT_S
        while positions(engine)[0] < N or len(stub.events) < expected_events:
            assert time.monotonic() < deadline, (positions(engine), len(stub.events))
            time.sleep(0.1)
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
