"""The mass deadline over N processes of ``guard-gateway run``: every guard absent at once.

``bench --scenario shift-change --processes N`` (N above 1) runs this twice, with one process
and with N, on the same PostgreSQL and broker: G guards whose shifts start at the same minute,
nobody present, so G ``alert.absent_at_shift_start`` deadlines fall on one instant and each
process fires those of the guards in the partitions it holds.

The launcher writes the roster, starts the processes (``gateway.bench.multiproc.gateways``) on
one shared test clock (``GATEWAY_TEST_CLOCK`` with an origin file) standing ``LEAD_S`` before
the deadline, after the shifts' start, and waits until the partitions are held, shared evenly
and settled, and every shift's machine is saved: as in the field, where the absences fall a
grace (ten minutes) after the start. It then writes the clock's origin, so every process's
clock runs from there, and waits until the outbox holds an absence alert for every guard.
Lateness is each alert's outbox row creation minus its deadline, both on that clock, as in the
one-process scenario.
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from gateway.bench.common import bench_database, clear_bench, write_roster
from gateway.bench.measures import percentiles
from gateway.bench.multiproc import (
    PARTITIONS,
    await_partitions,
    check_available,
    gateways,
    held_by,
)
from gateway.bench.scenarios.live import alert_lateness, count_events, machines_saved, wait_until
from gateway.clock import CLOCK_ENV, SystemClock
from gateway.cluster.leases import RENEW_EVERY
from gateway.outbox.tables import EVENT_DESTINATIONS, OutboxRow
from gateway.policy import SitePolicy
from gateway.rules.events import ALERT_ABSENT_AT_SHIFT_START

__all__ = ["launch_absences"]

LEAD_S = 2.0
SETTLE_S = 2 * RENEW_EVERY.total_seconds() + 1.0
"""Two lease cycles and a second: a process that took partitions has reloaded its guards."""
BALANCE_GIVE_UP_S = 180.0
STARTED_GIVE_UP_S = 900.0
RAISED_GIVE_UP_S = 1800.0


def launch_absences(
    *, processes: list[int], guards: int, database_url: str, broker_url: str
) -> list[dict[str, Any]]:
    """One leg per entry of ``processes`` (e.g. ``[1, 2]``), each on a roster written afresh
    and cleared after it; returns each leg's figures (see the module docstring)."""
    check_available(database_url)
    legs = []
    with bench_database(database_url) as engine:
        for count in processes:
            try:
                legs.append(_leg(count, guards, engine, database_url, broker_url))
            finally:
                clear_bench(engine)
    return legs


def _leg(
    processes: int, guards: int, engine: Engine, database_url: str, broker_url: str
) -> dict[str, Any]:
    grace = SitePolicy().shift_start_grace_s
    t0 = SystemClock().now().replace(second=0, microsecond=0)
    deadline = t0 + timedelta(seconds=grace)
    stands_at = deadline - timedelta(seconds=LEAD_S)
    # Only the absences fall in the run: the silences an hour later.
    roster = write_roster(
        engine,
        guards=guards,
        starts=[t0] * guards,
        policy={"device_silent_s": 3600.0},
        loaded_at=t0 - timedelta(minutes=30),
    )
    with tempfile.TemporaryDirectory(prefix="gg-bench-absent-") as tmp:
        origin = Path(tmp) / "clock-origin"
        env = {CLOCK_ENV: f"{stands_at.isoformat()},1,file:{origin}"}
        with gateways(processes, None, database_url, broker_url, Path(tmp), env) as launched:
            ports = launched.ports
            ready_s = await_partitions(ports, Path(tmp))
            balanced_s = _await_balance(ports)
            began = time.perf_counter()
            if not wait_until(
                lambda: machines_saved(engine) >= guards,
                lambda: time.perf_counter() - began > STARTED_GIVE_UP_S,
            ):
                raise RuntimeError(f"the machines did not all start in {STARTED_GIVE_UP_S} s")
            started_s = time.perf_counter() - began
            # Whole or not at all: a process reading half a number would keep a wrong origin.
            written = origin.with_suffix(".new")
            written.write_text(repr(time.monotonic()), encoding="ascii")
            written.replace(origin)
            raised_from = time.perf_counter()
            all_raised = wait_until(
                lambda: count_events(engine, ALERT_ABSENT_AT_SHIFT_START) >= guards,
                lambda: time.perf_counter() - raised_from > RAISED_GIVE_UP_S,
            )
            raised_s = time.perf_counter() - raised_from
    lateness = alert_lateness(engine, ALERT_ABSENT_AT_SHIFT_START)
    late = percentiles(lateness)
    return {
        "processes": processes,
        "partitions": PARTITIONS,
        "guards": guards,
        "roster_seconds": round(roster.seconds, 3),
        "ready_seconds": round(ready_s, 3),
        "balanced_seconds": round(balanced_s, 3),
        "machines_started_seconds": round(started_s, 3),
        "absences": len(lateness),
        "alerts_per_guard_at_most": _most_alerts_of_one_guard(engine),
        "all_raised": all_raised,
        "lateness_s": late,
        "last_lateness_s": late["max"],
        "wall_seconds_from_origin": round(raised_s, 3),
        "deadline": deadline.isoformat(),
    }


def _await_balance(ports: list[int]) -> float:
    """Seconds until the processes hold the partitions evenly (one apart at most), unchanged
    for ``SETTLE_S``: a partition handed over after the clock runs would have its guards'
    machines reloaded as the deadline falls, and its absences fire late for that alone."""
    began = time.perf_counter()
    stable_since: float | None = None
    last: list[int] = []
    while time.perf_counter() - began < BALANCE_GIVE_UP_S:
        held = held_by(ports)
        now = time.perf_counter()
        even = sum(held) == PARTITIONS and max(held) - min(held) <= 1
        if not even or held != last:
            stable_since = now if even else None
        elif stable_since is not None and now - stable_since >= SETTLE_S:
            return now - began
        last = held
        time.sleep(0.25)
    raise TimeoutError(f"the partitions were not shared evenly in {BALANCE_GIVE_UP_S} s")


def _most_alerts_of_one_guard(engine: Engine) -> int:
    """The most absence alerts in the outbox for one guard (its event history): 1 when no
    guard's absence was raised by two processes."""
    with engine.connect() as conn:
        counts = (
            select(func.count().label("n"))
            .where(OutboxRow.type == ALERT_ABSENT_AT_SHIFT_START)
            .where(OutboxRow.destination.in_(EVENT_DESTINATIONS))
            .group_by(OutboxRow.subject)
            .subquery()
        )
        return int(conn.scalar(select(func.max(counts.c.n))) or 0)
