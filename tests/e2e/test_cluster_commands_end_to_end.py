"""End to end, a leader's commands reaching a process that does not hold his guard: two
``guard-gateway run --partitions 2`` processes on one PostgreSQL schema and one private
mosquitto, the guard's SOS raising an alert on the process holding him, and the leader's
acknowledgement and resolution sent to the other one, as his phone or the live page does when
it talks to one address. The client follows redirects as a browser's ``fetch`` does (dropping
``Authorization`` on the way to another origin).

Exact counts: the acknowledgement and the resolution land once and are audited once, as from
the page's own address (not the forwarding process's); while the
holder is dead (``kill -9``) and its lease still runs, a command is answered ``503`` with
``Retry-After``, audited nowhere, and run once the other process took the guard over.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker, free_port
from fwsim.core_stub import CoreStub
from gateway.bench.e2e import bench_site
from gateway.cluster.partitions import partition_client_id, partition_of, partition_topics
from gateway.db.engine import make_engine
from tests.fixtures import live_gateway as live
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.mqtt import BrokerPublisher

PARTITIONS = 2
GUARD = "g-00000"
DEVICE = "bench-00000"
LEADER = "leader-1"
WAIT_S = 60.0
PAGE_ADDRESS = "127.0.0.2"


class Node(live.GatewayProcess):
    """One ``guard-gateway run --partitions 2`` process with its own API port and node id."""

    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        node_env = {**env, "GATEWAY_API_PORT": str(self.port), "GATEWAY_NODE_ID": name}
        super().__init__(node_env, log, "--partitions", str(PARTITIONS), start_s=120.0)

    def held(self) -> list[int]:
        cluster = httpx.get(f"{self.url}/health", timeout=5).json()["cluster"]
        return sorted(int(p) for p in cluster["held"])


def audited(page: httpx.Client, action: str) -> int:
    return len(page.get("/audit", params={"action": action}).json())


def audit_clients(page: httpx.Client, action: str) -> list[str | None]:
    return [row["client"] for row in page.get("/audit", params={"action": action}).json()]


def sos(now: datetime, site: dict[str, Any]) -> bytes:
    lon, lat = site["sites"][0]["posts"][0]["fence"]["center"]
    when = now.isoformat().replace("+00:00", "Z")
    fix = {"time": when, "lat": lat, "lon": lon, "accuracy_m": 8, "alarms": ["sos"]}
    return json.dumps(fix).encode()


@pytest.mark.timeout(300)  # two processes on a shared 2-core machine
def test_a_leader_acts_on_an_alert_through_the_process_not_holding_his_guard(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    if mqtt_broker.kind != "mosquitto":
        pytest.skip("the partitions' sessions must outlive their processes: mosquitto")
    now = datetime.now(UTC)
    site = bench_site(1, now)
    site["sites"][0]["leaders"] = [{"id": LEADER, "name": "leader", "team": "bench"}]
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    env = live.gateway_env(db_url, mqtt_broker, prefix, core_stub, GATEWAY_API_HOST="127.0.0.1")
    live.load_site(env, site, tmp_path / "site.json")
    engine = make_engine(db_url)
    for partition, filters in partition_topics(engine, PARTITIONS, "devices").items():
        live.open_session(mqtt_broker, partition_client_id(prefix, partition), filters)
    token = new_token(engine, "admin", name="control room")
    publisher = BrokerPublisher(mqtt_broker.url)
    nodes = [Node(env, f"node-{i}", tmp_path / f"node-{i}.log") for i in range(PARTITIONS)]
    try:
        for node in nodes:
            node.wait_serving()
        live.wait_for(
            lambda: [node.held() for node in nodes] in ([[0], [1]], [[1], [0]]),
            "the partitions were not spread over the processes",
            WAIT_S,
        )
        holder = next(n for n in nodes if partition_of(GUARD, PARTITIONS) in n.held())
        other = next(n for n in nodes if n is not holder)
        # The page, served by the process that does not hold the guard, talks to it alone.
        # From an address of its own: the audit names it, not the forwarding process's.
        page = httpx.Client(
            base_url=other.url,
            headers=bearer(token),
            follow_redirects=True,
            timeout=60,
            transport=httpx.HTTPTransport(local_address=PAGE_ADDRESS),
        )
        publisher.publish(f"devices/{DEVICE}/json", sos(now, site))
        alerts: list[dict[str, Any]] = []

        def raised() -> bool:
            alerts[:] = page.get("/alerts", params={"guard_id": GUARD}).json()
            return len(alerts) == 1

        live.wait_for(raised, lambda: f"no SOS alert: {alerts}", WAIT_S)
        alert_id = alerts[0]["id"]

        acked = page.post(f"/alerts/{alert_id}/acknowledge", json={"by": LEADER})
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == LEADER
        assert audited(page, "alert.acknowledge") == 1
        assert audit_clients(page, "alert.acknowledge") == [PAGE_ADDRESS]

        holder.kill()  # its lease runs on for seconds: the guard is still his on record
        assert partition_of(GUARD, PARTITIONS) not in other.held()
        refused = page.post(f"/alerts/{alert_id}/resolve", json={"note": "checked on site"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        assert partition_of(GUARD, PARTITIONS) not in other.held()  # answered before takeover

        live.wait_for(
            lambda: other.held() == [0, 1], "the guard's partition was not taken over", WAIT_S
        )
        resolved = page.post(f"/alerts/{alert_id}/resolve", json={"note": "checked on site"})
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved"
        live.wait_for(
            lambda: any(e["type"] == "alert.resolved" for e in core_stub.events),
            "alert.resolved did not reach the core",
            WAIT_S,
        )
        final = page.get("/alerts", params={"guard_id": GUARD}).json()
        assert [(a["id"], a["status"], a["acknowledged_by"]) for a in final] == [
            (alert_id, "resolved", LEADER)
        ]
        assert audited(page, "alert.acknowledge") == 1
        assert audited(page, "alert.resolve") == 1
        assert audit_clients(page, "alert.resolve") == [PAGE_ADDRESS]
        assert [e["type"] for e in core_stub.events].count("alert.resolved") == 1
        assert other.stop() == 0
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.kill()
        publisher.close()
        engine.dispose()
