"""Partition leases on a real database, on the injected clock: acquire, renew, expire, take
over, rebalance, fence. PostgreSQL is the backend several processes share; SQLite is checked
for its one-process refusal."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.cluster.leases import LEASE_TTL, Lease, LeaseLost, LeaseStore, fair_share
from gateway.cluster.partitions import device_topics, partition_client_id, partition_of
from gateway.errors import ConfigError

START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several processes share leases on PostgreSQL only")


def test_partition_of_is_crc32_and_stable() -> None:
    # crc32, not hash(): the same partition in every process whatever its hash seed.
    assert partition_of("g-001", 16) == zlib.crc32(b"g-001") % 16
    assert partition_of("guard-ä", 7) == zlib.crc32("guard-ä".encode()) % 7
    assert partition_of("anyone", 1) == 0
    assert partition_client_id("gw", 3) == "gw-p03"
    assert device_topics("t1") == [
        "devices/t1/json",
        "devices/t1/nmea",
        "devices/t1/jt808",
        "jt808/+/t1/up",
    ]
    assert device_topics("alice/phone", "devices") == ["owntracks/alice/phone"]
    assert device_topics("bad+id") == []
    assert fair_share(16, 3) == 6
    assert fair_share(4, 0) == 4


def test_acquire_renew_expire_take_over_and_fence(engine: Engine) -> None:
    postgres_only(engine)
    clock = ManualClock(START)
    a = LeaseStore(engine, clock, "node-a", 4)
    b = LeaseStore(engine, clock, "node-b", 4)
    a.join("http://a")
    assert a.heartbeat() == 1
    held_a = set(a.acquire(4))
    assert held_a == {Lease(p, 1) for p in range(4)}
    b.join("http://b")
    assert b.heartbeat() == 2
    assert b.acquire(2) == []  # all held and unexpired
    assert a.owners() == {p: ("node-a", "http://a") for p in range(4)}

    clock.advance(LEASE_TTL - timedelta(seconds=1))
    assert a.renew(held_a) == held_a
    clock.advance(LEASE_TTL - timedelta(seconds=1))
    assert b.acquire(4) == []  # renewed: still a's

    # a stops renewing (killed): after the TTL b takes everything, each at the next epoch.
    clock.advance(LEASE_TTL + timedelta(seconds=1))
    assert b.heartbeat() == 1
    taken = b.acquire(4)
    assert taken == [Lease(p, 2) for p in range(4)]
    assert a.renew(held_a) == set()  # a, back from its pause, finds them gone
    with Session(engine) as session, pytest.raises(LeaseLost) as lost:
        a.fence(session, frozenset(held_a))
    assert lost.value.lost == frozenset(held_a)
    with Session(engine) as session:
        b.fence(session, frozenset(taken))  # the new owner passes
    assert a.release(Lease(0, 1)) is False  # a stale release changes nothing
    assert b.owners()[0] == ("node-b", "http://b")


def test_rebalance_gives_back_and_a_new_node_takes(engine: Engine) -> None:
    postgres_only(engine)
    clock = ManualClock(START)
    a = LeaseStore(engine, clock, "node-a", 5)
    a.join(None)
    held_a = set(a.acquire(fair_share(5, a.heartbeat())))
    assert len(held_a) == 5
    b = LeaseStore(engine, clock, "node-b", 5)
    b.join(None)
    assert fair_share(5, a.heartbeat()) == 3
    extra = sorted(held_a, reverse=True)[:2]
    for lease in extra:
        assert a.release(lease)
        held_a.remove(lease)
    taken = b.acquire(fair_share(5, b.heartbeat()))
    assert taken == [Lease(3, 2), Lease(4, 2)]
    assert {p for p, (node, _) in a.owners().items() if node == "node-b"} == {3, 4}
    a.leave(held_a)  # a clean stop frees its partitions at once and leaves one live node
    assert b.heartbeat() == 1
    assert b.acquire(5) == [Lease(0, 2), Lease(1, 2), Lease(2, 2)]


def test_two_nodes_racing_for_free_partitions_never_share_one(engine: Engine) -> None:
    postgres_only(engine)
    clock = ManualClock(START)
    stores = [LeaseStore(engine, clock, f"node-{i}", 8) for i in range(3)]
    for store in stores:
        store.join(None)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda s: s.acquire(8), stores))
    partitions = [lease.partition for leases in results for lease in leases]
    assert sorted(partitions) == list(range(8))  # each taken exactly once


def test_a_different_partition_count_is_refused(engine: Engine) -> None:
    clock = ManualClock(START)
    LeaseStore(engine, clock, "node-a", 4).join(None)
    with pytest.raises(ConfigError, match="GATEWAY_PARTITIONS=8"):
        LeaseStore(engine, clock, "node-b", 8).join(None)


def test_sqlite_refuses_a_second_live_process(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the one-process rule is SQLite's")
    clock = ManualClock(START)
    LeaseStore(engine, clock, "node-a", 4).join(None)
    with pytest.raises(ConfigError, match="SQLite serves one process"):
        LeaseStore(engine, clock, "node-b", 4).join(None)
    clock.advance(LEASE_TTL + timedelta(seconds=1))
    LeaseStore(engine, clock, "node-b", 4).join(None)  # a's heartbeat expired: allowed
