"""The audit of a command one process forwards to another names the real caller, on PostgreSQL
with a private mosquitto: two partitioned gateways built as ``guard-gateway run`` builds them
(nodes ``a`` and ``b``), each with its API over real HTTP at its ``GATEWAY_PUBLIC_URL``. A
caller on 127.0.0.2 files a report with ``a`` for a guard ``b`` holds: ``b`` runs it and audits
it as from 127.0.0.2, not from ``a``'s address. A caller on 127.0.0.3 that sets the forwarding
headers itself on a direct call to ``b`` is audited as from 127.0.0.3."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from drivers.mqtt.broker import RunningBroker
from gateway.cluster.peer_auth import (
    FORWARDED_BY_HEADER,
    FORWARDED_FOR_HEADER,
    SIGNATURE_HEADER,
)
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.cluster_nodes import HELD_BY_A, HELD_BY_B, Node, caller, join_b


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
    cluster_nodes: list[Node],
) -> None:
    (a,) = cluster_nodes
    token = new_token(a.gateway.engine, "admin", name="forger")
    now = a.gateway.clock.now()
    with caller("127.0.0.3", a.url, token) as direct:
        forged = direct.post("/reports", json=report(HELD_BY_A, now, "gate"), headers=FORGED)
    assert forged.status_code == 201, forged.text
    assert audit_clients(a, token) == [("forger", HELD_BY_A, "127.0.0.3")]


def test_a_forwarded_report_is_audited_as_from_its_caller_and_a_forged_claim_is_not(
    cluster_nodes: list[Node], db_url: str, mqtt_broker: RunningBroker
) -> None:
    a, b = join_b(cluster_nodes, db_url, mqtt_broker)
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
