"""End to end, a partitioned gateway: two or three ``guard-gateway run --partitions 6`` processes
on one PostgreSQL schema and one private mosquitto, one of them killed with SIGKILL mid-stream.

Each process holds its fair share of the six partitions through leases; each partition is one
persistent MQTT session (``<prefix>-pNN``) subscribed to its own guards' device topics. A
publisher streams QoS-1 fixes of ``GUARDS`` guards who arrive, walk off their post and come back
(``presence.arrived``, ``presence.departed``, ``presence.returned`` each, decided by the fixes
alone: they are dated minutes in the past and the report grace is an hour, so no clock deadline
falls during the test). Once a quarter is stored, the process holding partition 0 is killed: its
leases expire, the others take its partitions over, reconnect under the same client ids and
get what the broker queued. Exact counts: every fix stored once, every event at the core stub
(real HTTP) once, each guard's events in the order they happened.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker, free_port
from fwsim.core_stub import CoreStub
from gateway.cluster.partitions import partition_client_id, partition_of, partition_topics
from gateway.db.engine import make_engine
from tests.fixtures import live_gateway as live
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.mqtt import BrokerPublisher

GUARDS = 40
FIXES_PER_GUARD = 150
N = GUARDS * FIXES_PER_GUARD
PARTITIONS = 6
KILL_WHEN_STORED = N // 4
EXPECTED_TYPES = ("presence.arrived", "presence.departed", "presence.returned")
WAIT_S = 180.0


class Node(live.GatewayProcess):
    """One ``guard-gateway run --partitions`` process with its own API port and node id."""

    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self.port = free_port()
        node_env = {**env, "GATEWAY_API_PORT": str(self.port), "GATEWAY_NODE_ID": name}
        # Three processes starting on a busy 2-core machine: minutes, not seconds.
        super().__init__(node_env, log, "--partitions", str(PARTITIONS), start_s=120.0, stop_s=60.0)

    def held(self) -> list[int]:
        cluster = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).json()["cluster"]
        return sorted(int(p) for p in cluster["held"])


def check_forwarded(nodes: list[Node], token: str, now: datetime) -> None:
    """A leave for a guard held by another process, sent to this one, is forwarded to the
    holder, which records it (201), once: sent again it is the one stored before (200). The
    leave is tomorrow's, so no rule of today's shift changes."""
    guard = "g-00000"
    owner = next(n for n in nodes if partition_of(guard, PARTITIONS) in n.held())
    other = next(n for n in nodes if n is not owner)
    leave = {
        "guard_id": guard,
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=1)).isoformat(),
        "approved_by": "leader",
    }
    url = f"http://127.0.0.1:{other.port}/leaves"
    done = httpx.post(url, json=leave, headers=bearer(token), timeout=40)
    assert done.status_code == 201, done.text
    again = httpx.post(url, json=leave, headers=bearer(token), timeout=40)
    assert (again.status_code, again.json()["id"]) == (200, done.json()["id"])
    anonymous = httpx.post(url, json=leave, timeout=10)
    assert anonymous.status_code == 401  # checked by the process reached, before forwarding


@pytest.mark.timeout(420)  # several processes on a shared 2-core machine: minutes, not seconds
@pytest.mark.parametrize("processes", [2, 3])
def test_kill_one_of_several_processes_loses_nothing_and_doubles_nothing(
    processes: int, db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("the partitions' sessions must outlive their processes: mosquitto")
    stub = core_stub
    now = datetime.now(UTC)
    site, stream = live.walk_site(GUARDS, FIXES_PER_GUARD, now)
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    env = live.gateway_env(db_url, mqtt_broker, prefix, stub, GATEWAY_API_HOST="127.0.0.1")
    live.load_site(env, site, tmp_path / "site.json")
    engine = make_engine(db_url)
    topics = partition_topics(engine, PARTITIONS, "devices")
    assert sorted(topics) == list(range(PARTITIONS))  # 40 guards spread over all six
    # Each partition's session subscribed once, as an earlier run would have.
    for partition, filters in topics.items():
        live.open_session(mqtt_broker, partition_client_id(prefix, partition), filters)
    publisher = BrokerPublisher(mqtt_broker.url, timeout_s=60)
    nodes: list[Node] = []
    try:
        for index in range(processes):
            nodes.append(Node(env, f"node-{index}", tmp_path / f"node-{index}.log"))
        for node in nodes:
            node.wait_serving()
        share = -(-PARTITIONS // processes)

        def balanced() -> bool:
            held = [node.held() for node in nodes]
            flat = sorted(p for h in held for p in h)
            return flat == list(range(PARTITIONS)) and all(len(h) <= share for h in held)

        live.wait_for(balanced, "the partitions were not spread over the processes", 60)
        check_forwarded(nodes, new_token(engine, "admin", name="cluster test"), now)
        victim = next(node for node in nodes if 0 in node.held())
        victim_held = victim.held()
        sending = threading.Thread(target=publisher.publish_many, args=(stream,))
        sending.start()
        live.wait_for(
            lambda: live.positions(engine)[0] >= KILL_WHEN_STORED, "too few stored", WAIT_S
        )
        victim.kill()
        killed_at = time.monotonic()
        stored_at_kill = live.positions(engine)[0]
        sending.join(120)
        assert not sending.is_alive()
        survivors = [node for node in nodes if node is not victim]

        def taken_over() -> bool:
            return sorted(p for node in survivors for p in node.held()) == list(range(PARTITIONS))

        live.wait_for(taken_over, "the killed process's partitions were not taken over", 60)
        takeover_s = time.monotonic() - killed_at
        expected_events = GUARDS * len(EXPECTED_TYPES)
        live.wait_for(
            lambda: live.positions(engine)[0] >= N and len(stub.events) >= expected_events,
            "not all stored and delivered",
            WAIT_S,
        )
        time.sleep(2.0)  # a duplicate or stray event would arrive by now
        for node in survivors:
            assert node.stop() == 0
        stored, distinct = live.positions(engine)
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.kill()
        publisher.close()
        engine.dispose()

    print(
        f"\n{processes} processes, killed the holder of {victim_held} at {stored_at_kill}/{N} "
        f"stored; taken over in {takeover_s:.1f} s; stored {stored}, distinct {distinct}, "
        f"events {len(stub.events)}, re-sent ids {len(stub.duplicates)}"
    )
    assert 0 < stored_at_kill < N  # killed mid-stream
    assert (stored, distinct) == (N, N)  # 0 lost, 0 stored twice
    events = stub.events
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)) == expected_events  # 0 lost, 0 duplicated at the core
    assert Counter(event["type"] for event in events) == dict.fromkeys(EXPECTED_TYPES, GUARDS)
    order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        order[event["data"]["guard_id"]].append(event["type"])
    assert set(map(tuple, order.values())) == {EXPECTED_TYPES}  # each guard's in order
