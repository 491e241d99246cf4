"""End to end, a network clock-in terminal on a host running two gateway processes, and the
process talking to it killed with SIGKILL.

Two ``guard-gateway run --partitions 2`` processes on one PostgreSQL schema, one private
mosquitto and one lock directory (``GATEWAY_LOCK_DIR``) find the same ZKTeco terminal (the
binary protocol over real TCP, simulated by ``fwsim``) in the site file. One of them holds the
terminal's host lock and talks to it; the other stands by, and each one's ``/metrics`` say which
(``guard_gateway_terminal_state``). The holder is killed with SIGKILL; guards punch while no
process talks to the terminal. The survivor takes the terminal over (the kernel dropped the dead
process's lock), reads its log again and stores only the punches it had not seen; it also takes
over the dead process's partition. At the core (real HTTP): every punch once, none lost, none
twice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from drivers.mqtt.broker import RunningBroker
from fwsim.core_stub import CoreStub
from fwsim.zkteco.binary_terminal import BinaryTerminal, LogRecord
from gateway.cluster.partitions import partition_of
from gateway.db.engine import make_engine
from gateway.db.patrol_models import PunchRow
from tests.e2e.helpers import gate_site, state_in_metrics
from tests.e2e.test_cluster_relay_end_to_end import PARTITIONS, WAIT_S, Node
from tests.fixtures import live_gateway as live

SITE = "takeover-site"
GUARDS = [f"g-{n:02d}" for n in (2, 3, 4, 5)]  # two of each partition
PINS = {guard: str(4001 + n) for n, guard in enumerate(GUARDS)}
LATER = ["g-03", "g-04"]  # punch again while no process talks to the terminal: one each
CHECK_IN, BREAK_OUT = 0, 2  # the terminal's punch states


def terminal_site(now: datetime, url: str) -> dict[str, Any]:
    """One gate post with the network terminal at ``url``; every guard on duty there from a
    minute ago."""
    return gate_site(
        SITE,
        now,
        [{"id": g, "pin": PINS[g]} for g in GUARDS],
        [{"id": "zk-gate", "kind": "clock_in", "post": "gate", "url": url}],
    )


def terminal_state(node: Node) -> str | None:
    """``zk-gate``'s state in ``node``'s ``/metrics`` (``None``: not reported, or no answer)."""
    return state_in_metrics(node.url, "guard_gateway_terminal_state", "terminal", "zk-gate")


def test_a_terminal_whose_process_is_killed_is_taken_over_and_no_punch_is_lost_or_doubled(
    db_url: str, mqtt_broker: RunningBroker, core_stub: CoreStub, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL")
    assert {partition_of(g, PARTITIONS) for g in GUARDS} == {0, 1}
    assert {partition_of(g, PARTITIONS) for g in LATER} == {0, 1}
    now = datetime.now(UTC)
    local_now = now.replace(tzinfo=None, microsecond=0)
    first = [LogRecord(PINS[g], local_now - timedelta(seconds=30), CHECK_IN, 1) for g in GUARDS]
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    env = live.gateway_env(
        db_url,
        mqtt_broker,
        prefix,
        core_stub,
        GATEWAY_API_HOST="127.0.0.1",
        GATEWAY_LOCK_DIR=str(tmp_path / "locks"),
    )
    engine = make_engine(db_url)
    nodes: list[Node] = []
    # Its clock reads as its records were made (the gateway measures it and dates by it).
    with BinaryTerminal(records=first, transport="tcp", now=local_now) as terminal:
        live.load_site(
            env, terminal_site(now, f"tcp://127.0.0.1:{terminal.port}"), tmp_path / "site.json"
        )
        try:
            nodes = [Node(env, f"node-{i}", tmp_path / f"node-{i}.log") for i in range(2)]
            for node in nodes:
                node.wait_serving()
            live.wait_for(
                lambda: (
                    sorted(str(terminal_state(node)) for node in nodes) == ["holding", "standby"]
                ),
                lambda: f"terminal states: {[terminal_state(node) for node in nodes]}",
                60,
            )
            holder = next(node for node in nodes if terminal_state(node) == "holding")
            survivor = next(node for node in nodes if node is not holder)

            def punches_at_core() -> Counter[str]:
                return Counter(
                    e["subject"] for e in core_stub.events if e["type"] == ("attendance.punch")
                )

            live.wait_for(
                lambda: punches_at_core() == Counter(GUARDS),
                lambda: f"punches at the core: {punches_at_core()}",
                WAIT_S,
            )
            assert terminal.connects == 1  # one session for the host, not one per process
            assert holder.punches("stored") == len(GUARDS) and survivor.punches("stored") == 0

            holder.kill()
            # Punched while no process talks to the terminal: kept in its log only.
            later = [
                terminal.punch(PINS[g], BREAK_OUT, 1, local_now + timedelta(seconds=1))
                for g in LATER
            ]
            live.wait_for(
                lambda: terminal_state(survivor) == "holding",
                lambda: f"the survivor says {terminal_state(survivor)}",
                30,
            )
            live.wait_for(
                lambda: survivor.held() == [0, 1],
                lambda: f"the survivor holds {survivor.held()}",
                WAIT_S,
            )
            expected = Counter(GUARDS) + Counter(LATER)
            live.wait_for(
                lambda: punches_at_core() == expected,
                lambda: f"punches at the core: {punches_at_core()}",
                WAIT_S,
            )
            assert terminal.connects == 2
            # It read the whole log again: what the dead process stored is known, not doubled.
            assert survivor.punches("duplicate") == len(first)
            assert survivor.punches("stored") == len(later)
            assert core_stub.duplicates == [] and core_stub.rejected == 0
            with Session(engine) as session:
                stored = session.scalar(select(func.count()).select_from(PunchRow))
            assert stored == len(first) + len(later)
        finally:
            for node in nodes:
                if node.process.poll() is None:
                    node.stop()
            engine.dispose()
