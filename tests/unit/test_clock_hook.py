"""``guard-gateway run``'s clock hook: ``GATEWAY_TEST_CLOCK`` for test benches, wall time without.

The gateway process and ``fwsim check`` must read the same time: an ``OriginFileClock`` stands
at its start until the origin is written, then runs as the bench's ``DayClock`` does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fwsim.scenario.day_clock import DayClock
from gateway.clock import (
    CLOCK_ENV,
    AcceleratedClock,
    OriginFileClock,
    SystemClock,
    clock_from_env,
)

START = datetime(2026, 3, 1, 23, 58, tzinfo=UTC)


def test_without_the_variable_the_gateway_runs_on_wall_time() -> None:
    assert isinstance(clock_from_env(None), SystemClock)
    assert isinstance(clock_from_env(""), SystemClock)


def test_a_numeric_origin_gives_an_accelerated_clock_on_that_origin() -> None:
    origin = time.monotonic()
    clock = clock_from_env(f"{START.isoformat()},120,{origin}")
    assert isinstance(clock, AcceleratedClock) and clock.rate == 120.0
    assert START <= clock.now() < START + timedelta(minutes=5)


@pytest.mark.parametrize(
    "value", ["2026-03-02T08:00,60,1.0", "2026-03-02T00:00+00:00,60", "x,60,1", "a,b,c"]
)
def test_a_malformed_value_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        clock_from_env(value)


def test_the_gateway_clock_waits_for_the_origin_then_reads_as_the_bench(tmp_path: Path) -> None:
    bench = DayClock(START, 600.0)
    origin = tmp_path / "origin"
    env = bench.gateway_env(origin)
    gateway = clock_from_env(env[CLOCK_ENV])
    assert isinstance(gateway, OriginFileClock)
    time.sleep(0.05)
    assert gateway.now() == START == bench.now()  # both stand while the gateway starts
    bench.resume([origin])
    time.sleep(0.05)
    a, b, c = bench.now(), gateway.now(), bench.now()
    assert START + timedelta(seconds=20) < a <= b <= c
    paused_at = bench.pause()
    time.sleep(0.02)
    assert bench.now() == paused_at
    running = DayClock(START, 1.0)
    running.resume([])
    with pytest.raises(RuntimeError):  # a gateway starts only while the clock stands
        running.gateway_env(origin)
