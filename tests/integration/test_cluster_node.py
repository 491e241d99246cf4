"""The node's cycle on PostgreSQL with the injected clock: rebalance when a node joins (client
stopped, pipeline settled and rescoped, then the lease released), takeover when one stops
renewing, and the fence dropping what was taken over, with the partitions' clients and the
group robots it ran for them. The pipeline and the MQTT clients are recorders here: the real
ones run in tests/e2e/test_cluster_kill_end_to_end.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.cluster import node as node_module
from gateway.cluster.leases import LEASE_TTL, LeaseLost, LeaseStore
from gateway.cluster.node import ClusterNode
from gateway.cluster.partitions import partition_of

START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
PARTITIONS = 4
GUARDS = [f"g-{n:03d}" for n in range(40)]


class Recorder:
    """Records what the node asks of the pipeline and of its partition clients, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: list[str] = []
        self.scope: Callable[[str], bool] | None = None

    def set_scope(self, scope: Callable[[str], bool] | None) -> None:
        self.scope = scope
        self.steps.append("scope")

    def settle(self) -> None:
        self.steps.append("settle")

    def scoped(self) -> set[int]:
        assert self.scope is not None
        return {partition_of(g, PARTITIONS) for g in GUARDS if self.scope(g)}

    def client(self, partition: int, topics: list[str]) -> Client:
        return Client(self, partition)


class Client:
    def __init__(self, recorder: Recorder, partition: int) -> None:
        self.recorder = recorder
        self.partition = partition

    def start(self) -> None:
        self.recorder.steps.append(f"start p{self.partition}")

    def stop(self) -> None:
        self.recorder.steps.append(f"stop p{self.partition}")


def topics() -> dict[int, list[str]]:
    return {p: [f"devices/d{p}/json"] for p in range(PARTITIONS)}


def node(
    engine: Engine,
    clock: ManualClock,
    name: str,
    on_primary: Callable[[bool], None] | None = None,
) -> tuple[ClusterNode, Recorder]:
    recorder = Recorder(name)
    store = LeaseStore(engine, clock, name, PARTITIONS)
    made = ClusterNode(
        store, recorder, recorder.client, topics, api_url=f"http://{name}", on_primary=on_primary
    )
    return made, recorder


def test_join_rebalance_takeover_and_fence(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several nodes share leases on PostgreSQL")
    clock = ManualClock(START)
    a, rec_a = node(engine, clock, "a")
    a._store.join(a._api_url)
    a.cycle()
    assert a.held() == [0, 1, 2, 3]
    assert rec_a.scoped() == {0, 1, 2, 3}
    assert rec_a.steps == ["scope", "settle"] + [f"start p{p}" for p in range(4)]

    b, rec_b = node(engine, clock, "b")
    b._store.join(b._api_url)
    b.cycle()
    assert b.held() == []  # everything still a's until a gives back
    rec_a.steps.clear()
    a.cycle()
    assert a.held() == [0, 1]
    # Highest first, each: client stopped, pipeline rescoped and settled, then released.
    assert rec_a.steps == ["stop p3", "scope", "settle", "stop p2", "scope", "settle"]
    assert rec_a.scoped() == {0, 1}
    b.cycle()
    assert b.held() == [2, 3]
    assert rec_b.scoped() == {2, 3}
    assert a.owner_url(next(g for g in GUARDS if partition_of(g, PARTITIONS) == 2)) == "http://b"
    assert a.owner_url(next(g for g in GUARDS if partition_of(g, PARTITIONS) == 0)) is None

    # b stops renewing (killed): after the TTL, a takes its partitions at the next epoch.
    clock.advance(LEASE_TTL + timedelta(seconds=1))
    a.cycle()
    assert a.held() == [0, 1, 2, 3]
    assert a.describe()["held"] == {"0": 1, "1": 1, "2": 3, "3": 3}  # a, b, a again
    # b, back from its pause, is fenced: its transaction fails and it drops 2 and 3.
    with Session(engine) as session, pytest.raises(LeaseLost):
        b.fence(session)
    assert b.held() == []
    assert rec_b.scoped() == set()
    with Session(engine) as session:
        a.fence(session)  # the holder passes


def test_partitions_lost_at_the_fence_stop_their_clients_and_the_group_robots(
    engine: Engine, mocker: MockerFixture
) -> None:
    """A process paused past its TTL (a long GC, a frozen VM) whose pipeline commits before its
    node renews learns at the fence that its partitions were taken over. Their MQTT clients
    must stop at once: left running, each reconnects under the new owner's client id, takes
    the session back, and its fixes, out of this process's scope, are dropped and acknowledged,
    lost to the new owner. The group robots of partition 0 must stop too, or two processes
    post every group message."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several nodes share leases on PostgreSQL")
    # The next renewal a minute away: only what the fence does can stop the clients in time.
    mocker.patch.object(node_module, "RENEW_EVERY", timedelta(minutes=1))
    clock = ManualClock(START)
    robots: list[bool] = []
    a, rec_a = node(engine, clock, "a", on_primary=robots.append)
    a.start()
    try:
        assert a.held() == [0, 1, 2, 3] and robots == [True]
        clock.advance(LEASE_TTL + timedelta(seconds=1))  # a is paused; b takes everything
        b, _rec_b = node(engine, clock, "b")
        b._store.join(b._api_url)
        b.cycle()
        assert b.held() == [0, 1, 2, 3]
        rec_a.steps.clear()
        with Session(engine) as session, pytest.raises(LeaseLost):
            a.fence(session)  # back from the pause, its pipeline commits first
        deadline = time.monotonic() + 10.0
        while len([s for s in rec_a.steps if s.startswith("stop")]) < 4:
            assert time.monotonic() < deadline, f"clients still running: {rec_a.steps}"
            time.sleep(0.02)
        assert sorted(s for s in rec_a.steps if s.startswith("stop")) == [
            f"stop p{p}" for p in range(4)
        ]
        assert robots == [True, False]
        assert a.held() == [] and rec_a.scoped() == set()
    finally:
        a.stop()
    assert robots == [True, False]  # stopped once
