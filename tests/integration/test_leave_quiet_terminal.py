"""A guard on an approved leave may switch his terminal off: its silence is not counted while
he is on leave, only from the leave's end, through the pipeline as ``guard-gateway run``
drives it. Before, a guard who left at 09:00 on a leave to 10:00 with his terminal off was
raised ``alert.device_silent`` at 09:10. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import load_sample_site, post_points
from tests.integration.test_pipeline_hard_cases import at, events, walk


def _quiet_leave(engine: Engine, back: float) -> None:
    """g-001 (the sample site, 08:00-20:00 at the north gate) on post from 08:00, on leave
    09:00-10:00 with his terminal off, on post again from minute ``back``; the clock runs
    (ticking each minute) to 11:30."""
    load_sample_site(engine)
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-5))
    processor = Processor(engine, clock)
    processor.run_command(ApproveLeave("g-001", at(60), at(120), "jt-leader-a", approved_at=at(-5)))
    walk(processor, clock, points.inside, 0, 59)
    walk(processor, clock, points.outside, 59, 61)
    for minute in range(61, back):
        clock.set(at(minute))
        processor.tick()
    walk(processor, clock, points.inside, back, 210)


def _his(engine: Engine, type_: str) -> list[dict[str, Any]]:
    """The events of ``type_`` about g-001 (the sample site's other guards send nothing)."""
    return [e for e in events(engine, type_) if e["data"]["guard_id"] == "g-001"]


def test_a_terminal_off_during_a_leave_is_not_silent(engine: Engine) -> None:
    _quiet_leave(engine, back=115)
    assert _his(engine, "alert.device_silent") == []
    [departed] = _his(engine, "presence.departed")
    assert departed["data"]["leave_id"] is not None


def test_still_off_after_the_leave_it_is_silent_from_the_leave_end(engine: Engine) -> None:
    _quiet_leave(engine, back=150)
    [silent] = _his(engine, "alert.device_silent")
    assert (silent["data"]["silent_since"], silent["time"]) == (
        at(120).isoformat(),
        "2026-03-02T02:10:00Z",
    )
