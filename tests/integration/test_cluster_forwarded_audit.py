"""The audit of a command one process forwards to another names the real caller, on PostgreSQL
with a private mosquitto: two partitioned gateways built as ``guard-gateway run`` builds them
(nodes ``a`` and ``b``), each with its API over real HTTP at its ``GATEWAY_PUBLIC_URL``. A
caller on 127.0.0.2 files a report with ``a`` for a guard ``b`` holds: ``b`` runs it and audits
it as from 127.0.0.2, not from ``a``'s address. A caller on 127.0.0.3 that sets the forwarding
headers itself on a direct call to ``b`` is audited as from 127.0.0.3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from drivers.mqtt.broker import RunningBroker
from gateway.api.server import ApiServer, free_port
from gateway.bootstrap import Gateway, build_gateway
from gateway.clock import Clock, ManualClock
from gateway.cluster.partitions import partition_of
from gateway.cluster.peer_auth import (
    FORWARDED_BY_HEADER,
    FORWARDED_FOR_HEADER,
    SIGNATURE_HEADER,
)
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, roster_site
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.live_gateway import wait_for

PARTITIONS = 2
HELD_BY_B = "g-005"  # partition 1: the one node a gives back when b joins
HELD_BY_A = "g-001"  # partition 0


@dataclass
class Node:
    gateway: Gateway
    server: ApiServer
    url: str

    def held(self) -> list[int]:
        assert self.gateway.cluster is not None
        return self.gateway.cluster.held()


def caller(address: str, base_url: str, token: str) -> httpx.Client:
    """A client whose connections come from ``address`` (a loopback address of its own)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, headers=bearer(token), transport=transport, timeout=30)


def start_node(
    name: str,
    db_url: str,
    broker: RunningBroker,
    prefix: str,
    clock: Clock,
    site: Path | None = None,
) -> Node:
    """A partitioned gateway as ``run`` builds it (``site`` loaded before it starts), its API
    served at its public URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=db_url,
        mqtt_url=broker.url,
        mqtt_client_id=prefix,
        partitions=PARTITIONS,
        node_id=name,
        public_url=url,
    )
    gateway = build_gateway(settings, clock)
    if site is not None:
        load_site_file(site, gateway.engine, DAY_START)
    gateway.start()
    server = ApiServer(gateway.app, port=port)
    server.start()
    return Node(gateway, server, url)


@pytest.fixture
def started(db_url: str, mqtt_broker: RunningBroker, tmp_path: Path) -> Iterator[list[Node]]:
    """Node ``a`` holding both partitions; a test may start more into the list."""
    assert partition_of(HELD_BY_B, PARTITIONS) == 1 and partition_of(HELD_BY_A, PARTITIONS) == 0
    clock = ManualClock(DAY_START + timedelta(minutes=20))
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    roster = [(HELD_BY_A, "jt-gate-north", "gps-001"), (HELD_BY_B, "jt-plaza", "gps-005")]
    nodes: list[Node] = []
    try:
        site = roster_site(tmp_path, roster)
        nodes.append(start_node("a", db_url, mqtt_broker, prefix, clock, site))
        wait_for(lambda: nodes[0].held() == [0, 1], "node a did not take both partitions", 30)
        yield nodes
    finally:
        for node in reversed(nodes):
            node.server.stop()
            node.gateway.stop()


def audit_clients(node: Node, token: str) -> list[tuple[str, str | None, str | None]]:
    rows = httpx.get(
        f"{node.url}/audit", params={"action": "report.file"}, headers=bearer(token), timeout=10
    ).json()
    return [(row["token_name"], row["guard_id"], row["client"]) for row in reversed(rows)]


def report(guard_id: str, at: datetime, destination: str) -> dict[str, str]:
    return {"guard_id": guard_id, "reported_at": at.isoformat(), "destination": destination}


FORGED = {
    FORWARDED_FOR_HEADER: "203.0.113.9",
    FORWARDED_BY_HEADER: "a",
    SIGNATURE_HEADER: "0" * 64,
}
"""What a caller claiming to be a forward from node ``a`` would send: it has no key of a's."""


def test_a_caller_setting_the_forwarding_headers_itself_is_audited_by_its_own_address(
    started: list[Node],
) -> None:
    (a,) = started
    token = new_token(a.gateway.engine, "admin", name="forger")
    now = a.gateway.clock.now()
    with caller("127.0.0.3", a.url, token) as direct:
        forged = direct.post("/reports", json=report(HELD_BY_A, now, "gate"), headers=FORGED)
    assert forged.status_code == 201, forged.text
    assert audit_clients(a, token) == [("forger", HELD_BY_A, "127.0.0.3")]


def test_a_forwarded_report_is_audited_as_from_its_caller_and_a_forged_claim_is_not(
    started: list[Node], db_url: str, mqtt_broker: RunningBroker
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    (a,) = started
    settings = a.gateway.settings
    b = start_node("b", db_url, mqtt_broker, settings.mqtt_client_id, a.gateway.clock)
    started.append(b)
    wait_for(
        lambda: (a.held(), b.held()) == ([0], [1]),
        "the partitions were not spread over the two nodes",
        30,
    )
    engine = a.gateway.engine
    leader = new_token(engine, "admin", name="leader phone")
    forger = new_token(engine, "admin", name="forger")
    now = a.gateway.clock.now()

    with caller("127.0.0.2", a.url, leader) as phone:
        sent = phone.post("/reports", json=report(HELD_BY_B, now, "toilet"))
    assert sent.status_code == 201, sent.text
    with caller("127.0.0.3", b.url, forger) as direct:
        later = now + timedelta(seconds=1)
        forged = direct.post("/reports", json=report(HELD_BY_B, later, "canteen"), headers=FORGED)
    assert forged.status_code == 201, forged.text

    assert audit_clients(b, leader) == [
        ("leader phone", HELD_BY_B, "127.0.0.2"),
        ("forger", HELD_BY_B, "127.0.0.3"),
    ]
