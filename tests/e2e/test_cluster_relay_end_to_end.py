"""End to end, a partitioned gateway with a clock-in terminal and a card reader: two
``guard-gateway run --partitions 2`` processes on one PostgreSQL schema and one private
mosquitto, a ZKTeco PUSH terminal talking to one of them, an EM4100 reader on a
pseudo-terminal that both find in the site file, and guards of both partitions punching on the
terminal and showing their cards to the reader.

The process the terminal talks to stores every punch; those of the guards the other process
holds are relayed to it through the database (``gateway.pipeline.relay``) and applied there,
once: the core stub (real HTTP) gets each guard's ``attendance.punch`` and ``presence.arrived``
once, from the process that runs his rules, and the relay tables are empty afterwards. The
reader is read by one process (its peer lock), the other standing by without
reporting it lost; its card scans reach each guard's own process the same way.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker, free_port
from fwsim.core_stub import CoreStub
from fwsim.em4100.reader import SimulatedEm4100Reader
from fwsim.zkteco.push_terminal import PushTerminal
from gateway.cluster.partitions import partition_of
from gateway.cluster.tables import RelayedPunchRow, RelayedScanRow
from gateway.db.engine import make_engine
from tests.e2e.helpers import gate_site
from tests.fixtures import live_gateway as live
from tests.fixtures.api_tokens import bearer, new_token

PARTITIONS = 2
SN = "CKRELAY0001"
SITE = "relay-site"
GUARDS = [f"g-{n:02d}" for n in range(6)]
PINS = {guard: str(2001 + n) for n, guard in enumerate(GUARDS)}
CARDS = {guard: f"02000021{n:02d}" for n, guard in enumerate(GUARDS)}
WAIT_S = 90.0


class Node(live.GatewayProcess):
    """One ``guard-gateway run --partitions 2`` process with its own API port and node id."""

    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self.port = free_port()
        node_env = {**env, "GATEWAY_API_PORT": str(self.port), "GATEWAY_NODE_ID": name}
        self.name = name
        super().__init__(
            node_env, log, "--partitions", str(PARTITIONS), start_s=120.0, options=("-v",)
        )

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def held(self) -> list[int]:
        cluster = httpx.get(f"{self.url}/health", timeout=5).json()["cluster"]
        return sorted(int(p) for p in cluster["held"])

    def punches(self, outcome: str) -> int:
        """``guard_gateway_punches_total{outcome=...}`` of this process (0 before the first)."""
        return self.counted("punches", outcome)

    def scans(self, outcome: str) -> int:
        """``guard_gateway_scans_total{outcome=...}`` of this process (0 before the first)."""
        return self.counted("scans", outcome)

    def counted(self, what: str, outcome: str) -> int:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        found = re.search(rf'^guard_gateway_{what}_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
        return int(float(found.group(1))) if found else 0


def clock_in_site(now: datetime, reader_url: str) -> dict[str, Any]:
    """One gate post with a PUSH terminal and a card reader; every guard on duty there from a
    minute ago."""
    return gate_site(
        SITE,
        now,
        [{"id": g, "pin": PINS[g], "cards": [CARDS[g]]} for g in GUARDS],
        [
            {"id": "zk-gate", "kind": "clock_in", "post": "gate", "sn": SN},
            {"id": "em-gate", "kind": "em4100_reader", "post": "gate", "url": reader_url},
        ],
    )


def check_whereabouts(nodes: list[Node], engine: Engine) -> None:
    """Either process shows every guard of the site (its own and the other's, asked with the
    caller's token), or only its own with ``local``; a leader of another team sees none."""
    team_a = bearer(new_token(engine, "leader", name="leader A", sites=(SITE,), teams=("A",)))
    team_b = bearer(new_token(engine, "leader", name="leader B", sites=(SITE,), teams=("B",)))
    for node in nodes:
        for path in ("/whereabouts", "/map/whereabouts"):
            seen = httpx.get(f"{node.url}{path}", headers=team_a, timeout=10).json()
            assert [g["guard_id"] for g in seen["guards"]] == GUARDS
            assert {g["state"] for g in seen["guards"]} == {"on_post"}  # placed by the punches
            assert seen["nodes"] == {
                "answered": [other.name for other in nodes if other != node],
                "missing": [],
                "unheld_partitions": [],
            }
        own = httpx.get(
            f"{node.url}/whereabouts", params={"local": "true"}, headers=team_a, timeout=10
        ).json()
        held = node.held()
        assert [g["guard_id"] for g in own["guards"]] == [
            g for g in GUARDS if partition_of(g, PARTITIONS) in held
        ]
        assert (
            httpx.get(f"{node.url}/whereabouts", headers=team_b, timeout=10).json()["guards"] == []
        )


@pytest.mark.timeout(300)  # two processes on a shared 2-core machine
def test_punches_and_scans_on_one_process_reach_the_rules_of_each_guards_own_process_once(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    assert {partition_of(g, PARTITIONS) for g in GUARDS} == {0, 1}  # both partitions punch
    now = datetime.now(UTC)
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    env = live.gateway_env(db_url, mqtt_broker, prefix, core_stub, GATEWAY_API_HOST="127.0.0.1")
    reader = SimulatedEm4100Reader(link_dir=tmp_path)
    live.load_site(env, clock_in_site(now, reader.url), tmp_path / "site.json")
    engine = make_engine(db_url)
    nodes: list[Node] = []
    try:
        nodes = [Node(env, f"node-{i}", tmp_path / f"node-{i}.log") for i in range(2)]
        for node in nodes:
            node.wait_serving()
        live.wait_for(
            lambda: [len(node.held()) for node in nodes] == [1, 1],
            "the two partitions were not spread over the two processes",
            60,
        )
        receiver, other = nodes
        held_there = [g for g in GUARDS if partition_of(g, PARTITIONS) in other.held()]
        assert held_there and len(held_there) < len(GUARDS)  # each process holds some
        with PushTerminal(receiver.url, SN) as terminal:
            terminal.handshake()
            punched = now.replace(tzinfo=None, microsecond=0)
            for guard in GUARDS:
                terminal.punch(PINS[guard], punched)
            assert terminal.push() == len(GUARDS)  # every punch stored, then answered OK

        def arrived() -> Counter[tuple[str, str]]:
            return Counter((e["type"], e["subject"]) for e in core_stub.events)

        expected = Counter(
            (kind, g) for g in GUARDS for kind in ("attendance.punch", "presence.arrived")
        )
        live.wait_for(lambda: arrived() == expected, lambda: f"at the core: {arrived()}", WAIT_S)
        assert core_stub.duplicates == [] and core_stub.rejected == 0
        assert receiver.punches("stored") == len(GUARDS)
        assert receiver.punches("relayed") == len(held_there)
        assert other.punches("relayed_in") == len(held_there) and other.punches("stored") == 0
        assert receiver.punches("relayed_in") == 0 and receiver.punches("off_duty") == 0
        check_whereabouts(nodes, engine)

        # Each guard shows his card to the reader, which one of the two processes reads.
        for guard in GUARDS:
            reader.send(CARDS[guard])
        live.wait_for(
            lambda: sorted(node.scans("stored") for node in nodes) == [0, len(GUARDS)],
            lambda: f"scans stored: {[node.scans('stored') for node in nodes]}",
            WAIT_S,
        )
        reading = next(node for node in nodes if node.scans("stored"))
        standby = other if reading is receiver else receiver
        owned_by_standby = [g for g in GUARDS if partition_of(g, PARTITIONS) in standby.held()]
        live.wait_for(
            lambda: standby.scans("relayed_in") == len(owned_by_standby),
            lambda: f"relayed in: {standby.scans('relayed_in')}",
            WAIT_S,
        )
        assert reading.scans("relayed") == len(owned_by_standby)
        assert standby.scans("guard_card") == len(owned_by_standby)
        assert reading.scans("guard_card") == len(GUARDS) - len(owned_by_standby)
        assert standby.scans("stored") == 0 and reading.scans("relayed_in") == 0
        # The standby found the reader owned by the reading process (its peer lock), and waits.
        assert "is read by another gateway process of this host" in standby.log_text()
        assert "standing by" not in reading.log_text()
        # Already placed by their punches: the cards add no event, and the standby reported
        # no reader lost (the core would have an alert.device_silent for em-gate).
        assert arrived() == expected and core_stub.duplicates == []
        with Session(engine) as session:
            for table in (RelayedPunchRow, RelayedScanRow):
                assert session.scalar(select(func.count()).select_from(table)) == 0
    finally:
        for node in nodes:
            node.stop()
        reader.close()
        engine.dispose()
