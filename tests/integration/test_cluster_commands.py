"""A command for a guard whose partition moves while it waits for the pipeline, on PostgreSQL
with a private mosquitto: a partitioned gateway built as ``guard-gateway run`` builds it (node
``a``) gives the guard's partition back to a node that joins (``b``, whose MQTT clients and
pipeline are recorders) between the API's look at who holds him and the command's turn on the
pipeline. The command must not be stored without reaching his rules: it is answered as while
his partition moves (``503``, ``Retry-After``), and sent again it is forwarded to the new owner
(a real HTTP stub standing for b's API) and answered with its answer."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from gateway.api.server import ApiServer
from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.cluster.leases import LeaseStore
from gateway.cluster.node import ClusterNode
from gateway.cluster.partitions import partition_of
from gateway.db.models import ReportRow
from gateway.lifecycle import Gateway
from gateway.settings import Settings
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, roster_site
from tests.fixtures.api_tokens import bearer, new_token
from tests.fixtures.holder_api import NodeB
from tests.fixtures.live_gateway import wait_for

PARTITIONS = 2
MOVING = "g-005"  # partition 1: the one node a gives back when b joins
STAYING = "g-001"  # partition 0


class StandIn:
    """Node b's pipeline and MQTT clients: they only need to exist here."""

    def set_scope(self, scope: Any) -> None:
        pass

    def settle(self) -> None:
        pass

    def client(self, partition: int, topics: list[str]) -> StandIn:
        return self

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.fixture
def node_a(db_url: str, mqtt_broker: RunningBroker, tmp_path: Path) -> Iterator[Gateway]:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    assert partition_of(MOVING, PARTITIONS) == 1 and partition_of(STAYING, PARTITIONS) == 0
    roster = [(STAYING, "jt-gate-north", "gps-001"), (MOVING, "jt-plaza", "gps-005")]
    clock = ManualClock(DAY_START + timedelta(minutes=20))
    settings = Settings(
        database_url=db_url,
        mqtt_url=mqtt_broker.url,
        mqtt_client_id=f"gw-{uuid.uuid4().hex[:8]}",
        partitions=PARTITIONS,
        node_id="a",
    )
    gateway = build_gateway(settings, clock)
    load_site_file(roster_site(tmp_path, roster), gateway.engine, DAY_START)
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def reports(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(ReportRow)) or 0)


def test_a_report_whose_guard_moves_before_its_turn_is_not_stored_by_the_old_owner(
    node_a: Gateway, node_b_api: tuple[str, type[NodeB]]
) -> None:
    b_url, b_api = node_b_api
    cluster = node_a.cluster
    assert cluster is not None
    wait_for(lambda: cluster.held() == [0, 1], "node a did not take both partitions", 30)
    server = ApiServer(node_a.app)
    url = server.start()
    token = new_token(node_a.engine, "admin", name="control room")
    now = node_a.clock.now()
    report = {"guard_id": MOVING, "reported_at": now.isoformat(), "destination": "toilet"}
    busy = threading.Event()
    free = threading.Event()

    def long_batch(_session: Any, _processor: Any) -> None:
        busy.set()  # the pipeline works through a long batch while the report waits
        assert free.wait(30)

    answers: list[httpx.Response] = []
    b = ClusterNode(
        LeaseStore(node_a.engine, node_a.clock, "b", PARTITIONS),
        StandIn(),
        StandIn().client,
        dict,
        api_url=b_url,
    )
    try:
        working = threading.Thread(target=node_a.runtime.call, args=(long_batch,))
        working.start()
        assert busy.wait(10)
        sending = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{url}/reports", json=report, headers=bearer(token), timeout=30)
            )
        )
        sending.start()  # a holds g-005 now: the report is let in and queued
        wait_for(lambda: node_a.runtime.backlog() >= 1, "the report did not reach the queue", 10)
        b._store.join(b._api_url)  # b joins; a's next renewal gives partition 1 back
        b.cycle()
        wait_for(lambda: cluster.held() == [0], "node a did not give partition 1 back", 10)
        free.set()  # the batch ends; the report's turn comes with g-005 no longer held here
        sending.join(30)
        working.join(30)
        assert len(answers) == 1
        answer = answers[0]
        # Not stored where nobody applies it: his new owner would raise his departure
        # unreported, with the report on record.
        assert reports(node_a.engine) == 0
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        # a releases it once its pipeline has let g-005 go; then b takes it.
        wait_for(lambda: 1 not in b._store.owners(), "node a kept partition 1's lease", 10)
        b.cycle()
        assert b.held() == [1] and cluster.held() == [0]
        again = httpx.post(f"{url}/reports", json=report, headers=bearer(token), timeout=10)
        assert (again.status_code, again.json()) == (201, {"id": 7, "sent_again": False})
        assert b_api.received == [("POST", "/reports", f"Bearer {token}", report)]
        assert reports(node_a.engine) == 0
    finally:
        free.set()
        server.stop()
