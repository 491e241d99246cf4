"""End to end, a checkpoint reader two gateway processes of a host share, and the process
reading it killed with SIGKILL.

Two ``guard-gateway run --partitions 2`` processes on one PostgreSQL schema, one private
mosquitto and one lock directory (``GATEWAY_LOCK_DIR``) find the same EM4100 reader (``fwsim``,
on a real pseudo-terminal) in the site file. One of them owns the reader (its peer lock) and
reads it; the other stands by; each one's ``/metrics`` say which
(``guard_gateway_reader_state``). Guards of both partitions show their cards: each arrives
once at the core (real HTTP). The reader's owner is killed with SIGKILL; the kernel drops its
locks, the survivor takes the reader over and the dead process's partition, and the guards who
show their cards now arrive too, once. Nobody reports the reader lost: it never was.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.mqtt.broker import RunningBroker
from fwsim.core_stub import CoreStub
from fwsim.em4100.reader import SimulatedEm4100Reader
from gateway.cluster.partitions import partition_of
from tests.e2e.helpers import gate_site, state_in_metrics
from tests.e2e.test_cluster_relay_end_to_end import PARTITIONS, WAIT_S, Node
from tests.fixtures import live_gateway as live

SITE = "reader-takeover-site"
GUARDS = [f"g-{n:02d}" for n in (2, 3, 4, 5)]  # two of each partition
CARDS = {guard: f"02000031{n:02d}" for n, guard in enumerate(GUARDS)}
BEFORE = ["g-02", "g-04"]  # show their cards while the first owner reads: one each partition
AFTER = ["g-03", "g-05"]  # and after it was killed


def reader_site(now: datetime, url: str) -> dict[str, Any]:
    """One gate post with the card reader at ``url``; every guard on duty there from a minute
    ago, with his own card."""
    return gate_site(
        SITE,
        now,
        [{"id": g, "cards": [CARDS[g]]} for g in GUARDS],
        [{"id": "em-gate", "kind": "em4100_reader", "post": "gate", "url": url}],
    )


def reader_state(node: Node) -> str | None:
    """``em-gate``'s state in ``node``'s ``/metrics`` (``None``: not reported, or no answer)."""
    return state_in_metrics(node.url, "guard_gateway_reader_state", "reader", "em-gate")


@pytest.mark.timeout(300)  # two processes on a shared 2-core machine
def test_a_reader_whose_process_is_killed_is_taken_over_and_every_card_counts_once(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    for shown in (BEFORE, AFTER):
        assert {partition_of(g, PARTITIONS) for g in shown} == {0, 1}
    now = datetime.now(UTC)
    env = live.gateway_env(
        db_url,
        mqtt_broker,
        f"gw-{uuid.uuid4().hex[:8]}",
        core_stub,
        GATEWAY_API_HOST="127.0.0.1",
        GATEWAY_LOCK_DIR=str(tmp_path / "locks"),
    )
    reader = SimulatedEm4100Reader(link_dir=tmp_path)
    live.load_site(env, reader_site(now, reader.url), tmp_path / "site.json")
    nodes: list[Node] = []

    def at_core() -> Counter[tuple[str, str]]:
        return Counter((e["type"], e["subject"]) for e in core_stub.events)

    try:
        nodes = [Node(env, f"node-{i}", tmp_path / f"node-{i}.log") for i in range(2)]
        for node in nodes:
            node.wait_serving()
        live.wait_for(
            lambda: sorted(str(reader_state(node)) for node in nodes) == ["reading", "standby"],
            lambda: f"reader states: {[reader_state(node) for node in nodes]}",
            60,
        )
        owner = next(node for node in nodes if reader_state(node) == "reading")
        survivor = next(node for node in nodes if node is not owner)
        live.wait_for(
            lambda: [len(node.held()) for node in nodes] == [1, 1],
            "the two partitions were not spread over the two processes",
            60,
        )
        for guard in BEFORE:
            reader.send(CARDS[guard])
        arrived_before = Counter(("presence.arrived", g) for g in BEFORE)
        live.wait_for(
            lambda: at_core() == arrived_before, lambda: f"at the core: {at_core()}", WAIT_S
        )
        assert owner.scans("stored") == len(BEFORE) and survivor.scans("stored") == 0
        # The card of the guard the survivor holds was relayed to it, and placed him there.
        (own_partition,) = survivor.held()
        relayed = [g for g in BEFORE if partition_of(g, PARTITIONS) == own_partition]
        live.wait_for(
            lambda: survivor.scans("guard_card") == len(relayed),
            lambda: f"cards counted by the survivor: {survivor.scans('guard_card')}",
            WAIT_S,
        )

        owner.kill()
        live.wait_for(
            lambda: reader_state(survivor) == "reading",
            lambda: f"the survivor says {reader_state(survivor)}",
            30,
        )
        live.wait_for(
            lambda: survivor.held() == [0, 1],
            lambda: f"the survivor holds {survivor.held()}",
            WAIT_S,
        )
        for guard in AFTER:
            reader.send(CARDS[guard])
        arrived = Counter(("presence.arrived", g) for g in GUARDS)
        live.wait_for(lambda: at_core() == arrived, lambda: f"at the core: {at_core()}", WAIT_S)
        assert survivor.scans("stored") == len(AFTER)  # read by the survivor itself now
        assert survivor.scans("guard_card") == len(relayed) + len(AFTER)
        assert core_stub.duplicates == [] and core_stub.rejected == 0
        # The reader was never lost: no process reported it so, before or after the kill.
        assert "is read by another gateway process of this host" in survivor.log_text()
        assert "reader em-gate lost its device" not in survivor.log_text()
        assert "reader em-gate lost its device" not in owner.log_text()
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.stop()
        reader.close()
