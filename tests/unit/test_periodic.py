"""``Periodic``: one function on a thread of its own at a pace, until stopped."""

from __future__ import annotations

import threading
import time

from gateway.periodic import Periodic


def test_the_action_runs_at_its_pace_until_stopped_and_the_thread_is_joined() -> None:
    calls = 0
    three = threading.Event()

    def action() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            three.set()

    periodic = Periodic("test-periodic", 0.01, action)
    periodic.start()
    periodic.start()  # once only
    assert [t.name for t in threading.enumerate()].count("test-periodic") == 1
    assert three.wait(5)
    periodic.stop()
    stopped_at = calls
    assert not periodic.running
    assert "test-periodic" not in [t.name for t in threading.enumerate()]
    time.sleep(0.05)  # five periods: nothing runs after the stop
    assert calls == stopped_at


def test_the_first_call_waits_one_period() -> None:
    called = threading.Event()
    periodic = Periodic("test-periodic-slow", 60.0, called.set)
    periodic.start()
    try:
        assert periodic.running and not called.wait(0.1)
    finally:
        periodic.stop()
