"""Housekeeping (deadline ticks, roster reloads) that keeps failing backs off and logs little.

With the database down every tick would fail ten times a second, each with a traceback. The
runtime's pacing is on wall time (it paces retries against a real database), so the test drives
``time.monotonic`` by hand.
"""

from __future__ import annotations

import logging

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from gateway.clock import ManualClock
from gateway.pipeline import runtime as runtime_module
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START


def test_failing_housekeeping_backs_off_and_logs_once_a_minute(
    engine: Engine, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(DAY_START)
    runtime: PipelineRuntime[DecodeOutcome] = PipelineRuntime(
        Processor(engine, clock), clock, lambda item: item
    )
    wall = [1000.0]
    mocker.patch.object(runtime_module.time, "monotonic", lambda: wall[0])
    down = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    tick = mocker.Mock(side_effect=down)
    caplog.set_level(logging.INFO, logger="gateway.pipeline.housekeeping")

    # Ten ticks a second for 70 s of a database outage.
    for _ in range(700):
        runtime._guarded(tick)
        wall[0] += 0.1
    # Back-off 0.2, 0.4, ... up to 5 s: tries at 0, 0.2, 0.6, 1.4, 3.0 and 6.2 s, then one each
    # 5 s (11.2 ... 66.2): 18 instead of 700.
    assert tick.call_count == 18
    assert runtime.processor.counters.get("errors.housekeeping") == 18
    lines = [r for r in caplog.records if r.name == "gateway.pipeline.housekeeping"]
    assert len(lines) == 2  # the first failure with its traceback, one line a minute later
    assert lines[0].exc_info is not None
    assert "still failing (17 times)" in lines[1].getMessage()

    tick.side_effect = None  # the database is back: the next try goes through
    wall[0] += 5.0
    runtime._guarded(tick)
    runtime._guarded(tick)  # and nothing holds the one after back
    assert tick.call_count == 20
    assert "works again after 18 failures" in caplog.records[-1].getMessage()
