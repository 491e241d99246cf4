"""The bench's own helpers: its clock, percentiles, and reading held partitions from /health."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway.bench.common import BenchClock
from gateway.bench.measures import percentiles
from gateway.bench.multiproc import partitions_held

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_bench_clock_runs_with_the_wall_and_jumps_only_ahead() -> None:
    clock = BenchClock(START, rate=10.0)
    time.sleep(0.05)
    ran = clock.now() - START
    assert timedelta(seconds=0.5) <= ran < timedelta(seconds=5)
    clock.jump(START + timedelta(minutes=10))
    assert START + timedelta(minutes=10) <= clock.now() < START + timedelta(minutes=11)
    with pytest.raises(ValueError, match="does not go backwards"):
        clock.jump(START)


def test_another_process_reads_the_same_time_from_the_state() -> None:
    clock = BenchClock(START, rate=2.0)
    copy = BenchClock.from_state(clock.state())
    assert abs((copy.now() - clock.now()).total_seconds()) < 0.05
    assert copy.rate == 2.0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.0]) == {"p50": 3.0, "p99": 3.0, "max": 3.0}
    assert percentiles([]) == {"p50": None, "p99": None, "max": None}


@pytest.mark.parametrize(
    ("health", "held"),
    [
        ({"cluster": {"node": "a", "partitions": 16, "held": {"0": 1, "5": 3}}}, 2),
        ({"cluster": {"node": "a", "partitions": 16, "held": {}}}, 0),
        ({"status": "alive"}, 0),
    ],
)
def test_partitions_held_reads_the_cluster_block_of_health(
    health: dict[str, object], held: int
) -> None:
    assert partitions_held(health) == held
