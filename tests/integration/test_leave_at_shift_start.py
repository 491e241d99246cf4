"""A leave that covers the start of a shift and that the guard uses (he comes on post during
or after it) must be cancelled within the hour of his arrival, as after an outing on leave
(销假), through the pipeline as ``guard-gateway run`` drives it. Before, his arrival was taken
as an arrival only: a guard on a double shift (20:00-08:00, then 08:00-20:00) who left at 07:35
on a leave to 08:30 and came back at 08:20 was never asked to cancel it. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import double_shift_site, load_sample_site, outbox_rows, post_points
from tests.integration.test_pipeline_hard_cases import at, walk

NIGHT = f"g-001/jt-gate-north/{at(-12 * 60):%Y%m%dT%H%M%SZ}"
DAY = f"g-001/jt-gate-north/{at(0):%Y%m%dT%H%M%SZ}"
LEAVE_EVENTS = ("alert.leave_not_cancelled", "leave.cancelled")


def _double_shift(engine: Engine, tmp_path: Path, *, cancel_at: float | None) -> None:
    """g-001 on the night (20:00-08:00) and the day shift at the north gate, on post from
    06:25; a leave 07:30-08:30 approved at 07:20; he leaves at 07:35 and is back at 08:20;
    the leave cancelled at minute ``cancel_at`` (``None``: never)."""
    load_sample_site(engine, at(-120), double_shift_site(tmp_path))
    points = post_points(engine, "jt-gate-north")
    clock = ManualClock(at(-100))
    processor = Processor(engine, clock)
    walk(processor, clock, points.inside, -95, -40)
    clock.set(at(-40))
    result = processor.run_command(
        ApproveLeave("g-001", at(-30), at(30), "jt-leader-a", approved_at=at(-40))
    )
    walk(processor, clock, points.inside, -40, -25)
    walk(processor, clock, points.outside, -25, 20)
    if cancel_at is None:
        walk(processor, clock, points.inside, 20, 150)
        return
    walk(processor, clock, points.inside, 20, cancel_at)
    clock.set(at(cancel_at))
    processor.run_command(CancelLeave(str(result["id"]), at(cancel_at)))
    walk(processor, clock, points.inside, cancel_at, 150)


def _leave_events(engine: Engine) -> list[tuple[str, Any, str, Any]]:
    out = []
    for row in outbox_rows(engine):
        if row.destination == "core" and row.type in LEAVE_EVENTS:
            data = json.loads(row.body)["data"]
            out.append((row.type, row.event_time, data["shift_id"], data["returned_at"]))
    return out


def test_a_leave_used_across_a_double_shift_must_be_cancelled_within_the_hour(
    engine: Engine, tmp_path: Path
) -> None:
    _double_shift(engine, tmp_path, cancel_at=None)
    # Back at 08:20, in the day shift: the hour runs out at 09:20, raised once.
    assert _leave_events(engine) == [("alert.leave_not_cancelled", at(80), DAY, at(20).isoformat())]


def test_cancelled_in_time_it_is_recorded_once(engine: Engine, tmp_path: Path) -> None:
    _double_shift(engine, tmp_path, cancel_at=40)
    [(kind, when, shift, returned)] = _leave_events(engine)
    assert (kind, when, shift, returned) == ("leave.cancelled", at(40), DAY, at(20).isoformat())
