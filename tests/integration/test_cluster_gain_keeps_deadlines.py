"""A process that takes over a dead process's partition keeps its own guards' deadlines on
time, on PostgreSQL with the injected clock: node ``a`` (a ``Processor`` as ``guard-gateway
run`` drives it, scoped by its ``ClusterNode`` on real leases) holds g-001, node ``b`` holds
g-005 and dies (stops renewing). g-001 left his post at 08:10:30 without a report; his
15 minutes run out at 08:25:30. ``a`` takes b's partition at 08:25:20. Before, the takeover's
reload told every state of ``a`` that nobody had watched it, g-001's too, and his overtime
waited for a backlog the broker keeps only for the partition taken over: raised at 08:25:50,
30 s after the takeover and 20 s after it fell due. Now it is raised at 08:25:30, not late;
g-005, taken over, is the one whose deadlines wait for his partition's backlog."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.cluster.leases import LeaseStore
from gateway.cluster.node import ClusterNode
from gateway.cluster.partitions import partition_of
from gateway.db.models import PresenceStateRow
from gateway.outbox.tables import OutboxRow
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import fix_at, roster_site
from tests.integration.test_site_load_mid_shift import at, points

PARTITIONS = 2
KEPT = ("g-001", "jt-gate-north", "gps-001")  # partition 0: node a's all along
TAKEN = ("g-005", "jt-plaza", "gps-005")  # partition 1: node b's, until b dies
STEP = timedelta(seconds=5)


class ProcessorScope:
    """The node's view of the pipeline: a scope applied by the next transaction, as
    ``PipelineScope`` has the runtime's next call apply it."""

    def __init__(self, processor: Processor) -> None:
        self._processor = processor

    def set_scope(self, scope: Callable[[str], bool] | None) -> None:
        self._processor.set_scope(scope)

    def settle(self) -> None:
        self._processor.run_command(lambda _session, _processor: None)


class StandIn:
    """Node b's pipeline and both nodes' MQTT clients: they only need to exist here."""

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


def overtime_alerts(engine: Engine) -> list[tuple[str, bool, str]]:
    """``(guard, late, detected_at)`` of each overtime alert for the core."""
    with Session(engine) as session:
        bodies = session.scalars(
            select(OutboxRow.body)
            .where(OutboxRow.destination == "core", OutboxRow.type == "alert.overtime_departure")
            .order_by(OutboxRow.seq)
        ).all()
    datas = [json.loads(body)["data"] for body in bodies]
    return [(data["guard_id"], data["late"], data["detected_at"]) for data in datas]


def unwatched(engine: Engine, guard_id: str) -> tuple[str | None, str | None]:
    with Session(engine) as session:
        state = session.scalar(
            select(PresenceStateRow.state).where(PresenceStateRow.shift_id.like(f"{guard_id}/%"))
        )
    assert state is not None
    return state.get("unwatched_from"), state.get("unwatched_until")


def test_the_takers_own_guard_is_raised_overtime_on_time_after_it_takes_a_partition(
    engine: Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several nodes share leases on PostgreSQL")
    assert partition_of(KEPT[0], PARTITIONS) == 0 and partition_of(TAKEN[0], PARTITIONS) == 1
    load_site_file(roster_site(tmp_path, [KEPT, TAKEN]), engine, at(-60))
    gate = points(engine, "jt-gate-north", at(1))
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    pipeline = ProcessorScope(processor)
    stand_in = StandIn()
    a = ClusterNode(LeaseStore(engine, clock, "a", PARTITIONS), pipeline, stand_in.client, dict)
    b = ClusterNode(
        LeaseStore(engine, clock, "b", PARTITIONS),
        stand_in,
        stand_in.client,
        dict,
        api_url="http://b.invalid",
    )
    a._store.join(None)
    b._store.join("http://b.invalid")
    pipeline.set_scope(a.owns_guard)  # as ClusterNode.start: nothing held yet
    pipeline.settle()

    a.cycle()
    b.cycle()
    assert (a.held(), b.held()) == ([0], [1])
    now = clock.now()

    def run_until(end: datetime, nodes: tuple[ClusterNode, ...]) -> None:
        """Every 5 s of the clock: g-001's fix at :30 each minute (on post until 08:10, then
        out), a tick, and the nodes' cycles (their leases last 10 s)."""
        nonlocal now
        while now < end:
            now += STEP
            clock.set(now)
            if now.second == 30 and now < at(25):
                where = gate.outside if now >= at(10) else gate.inside
                processor.process_fixes([fix_at(KEPT[2], now, where, received_after_s=0)])
            processor.tick()
            for node in nodes:
                node.cycle()

    run_until(at(25) + timedelta(seconds=10), (a, b))  # b's last renewal: gone at 08:25:20
    assert overtime_alerts(engine) == []
    assert (a.held(), b.held()) == ([0], [1])
    run_until(at(25) + timedelta(seconds=20), (a,))
    assert a.held() == [0, 1]  # taken over at 08:25:20
    run_until(at(25) + timedelta(seconds=35), (a,))  # his 15 minutes ran out at 08:25:30
    assert overtime_alerts(engine) == [(KEPT[0], False, at(25.5).isoformat())]
    assert unwatched(engine, KEPT[0]) == (None, None)
    assert unwatched(engine, TAKEN[0])[1] == (at(25) + timedelta(seconds=20)).isoformat()
