"""The node that runs a forwarded command reads the forwarding node's key once, not once a
command, and still believes that node after it restarts with a new key, on PostgreSQL with a
private mosquitto: two partitioned gateways built as ``guard-gateway run`` builds them (nodes
``a`` and ``b``; ``tests.fixtures.cluster_nodes``).

Before, ``b`` read ``a``'s row in ``cluster_nodes`` for every command ``a`` forwarded. The
statements ``b``'s engine sends are counted with a ``before_cursor_execute`` listener.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from drivers.mqtt.broker import RunningBroker
from tests.fixtures.api_tokens import new_token
from tests.fixtures.cluster_nodes import HELD_BY_A, HELD_BY_B, Node, caller, join_b, start_node
from tests.fixtures.live_gateway import wait_for
from tests.fixtures.sql_statements import Statements
from tests.integration.test_cluster_forwarded_audit import audit_clients, report


def _key_reads(statements: Statements) -> int:
    """The reads of one node's row for its key (``LeaseStore.peer_key_of``)."""
    return sum(
        1
        for sql, _many in statements.touching("cluster_nodes")
        if sql.startswith("SELECT") and "cluster_nodes.node_id = " in sql
    )


def _forward(node: Node, token: str, at: datetime, count: int, guard: str = HELD_BY_B) -> None:
    """``count`` reports for ``guard`` (one ``b`` holds), a minute apart from ``at``, each to a
    place of its own, filed with ``node`` from 127.0.0.2."""
    with caller("127.0.0.2", node.url, token) as phone:
        for n in range(count):
            place = f"{node.url} {n}"
            sent = phone.post("/reports", json=report(guard, at + timedelta(minutes=n), place))
            assert sent.status_code == 201, sent.text


def test_a_forwarders_key_is_read_once_and_again_after_it_restarts(
    cluster_nodes: list[Node], db_url: str, mqtt_broker: RunningBroker
) -> None:
    a, b = join_b(cluster_nodes, db_url, mqtt_broker)
    settings, clock = a.gateway.settings, a.gateway.clock
    leader = new_token(a.gateway.engine, "admin", name="leader phone")
    statements = Statements(b.gateway.engine)
    statements.on = True
    now = clock.now()

    _forward(a, leader, now - timedelta(minutes=15), 1)
    assert _key_reads(statements) == 1
    _forward(a, leader, now - timedelta(minutes=10), 4)
    assert _key_reads(statements) == 1

    # a restarts under the same id: it draws a new key, which b has not read yet.
    cluster_nodes.remove(a)
    a.server.stop()
    a.gateway.stop()
    wait_for(lambda: b.held() == [0, 1], "node b did not take a's partition", 30)
    again = start_node("a", db_url, mqtt_broker, settings.mqtt_client_id, clock)
    cluster_nodes.insert(0, again)
    wait_for(
        lambda: len(again.held()) == len(b.held()) == 1, "a and b did not share the partitions", 30
    )
    (kept,) = b.held()
    _forward(again, leader, now - timedelta(minutes=5), 2, HELD_BY_A if kept == 0 else HELD_BY_B)

    assert _key_reads(statements) == 2
    assert [client for _, _, client in audit_clients(b, leader)] == ["127.0.0.2"] * 7
