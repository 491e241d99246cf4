"""A leave that ends at the very instant the shift ends, the guard still out on it, has not
overrun: at that instant his duty is over, so there is no time on duty past the leave. The
end decides the outing, and the leave taken at the end of the shift must still be cancelled
(销假) within the hour (DOMAIN.md, art. 10.1): ``alert.leave_not_cancelled`` an hour after the
leave's end when he has not. Through the Processor as ``run`` drives it, on SQLite and
PostgreSQL.

张伟 (g-001, north gate 08:00-20:00) has a leave approved from 19:30, leaves at 19:31 and is
not back by 21:30. Before, a leave to 20:00 raised ``alert.leave_overrun`` at 20:00, the very
end. A leave to 19:59:30 still overruns, 30 s before the end, within the shift, and he left
early.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, load_sample_site, post_points
from tests.integration.test_pipeline_hard_cases import at, events, walk

KINDS = (
    "alert.unreported_departure",
    "alert.overtime_departure",
    "alert.leave_overrun",
    "alert.left_early",
    "alert.leave_not_cancelled",
)


@pytest.mark.parametrize(
    ("leave_ends_min", "alerts"),
    [
        (12 * 60, [("alert.leave_not_cancelled", 13 * 60)]),
        (
            12 * 60 - 0.5,
            [
                ("alert.leave_overrun", 12 * 60 - 0.5),
                ("alert.left_early", 12 * 60),
            ],
        ),
    ],
    ids=["leave-to-the-end", "leave-to-30-s-before-the-end"],
)
def test_a_leave_ending_as_the_shift_ends_has_not_overrun_and_is_still_owed_its_cancellation(
    engine: Engine, leave_ends_min: float, alerts: list[tuple[str, float]]
) -> None:
    load_sample_site(engine)
    gate = post_points(engine, "jt-gate-north")
    clock = ManualClock(DAY_START)
    processor = Processor(engine, clock)
    walk(processor, clock, gate.inside, 1, 11 * 60 + 20, every_s=300)
    processor.run_command(
        ApproveLeave(
            "g-001",
            at(11 * 60 + 30),
            at(leave_ends_min),
            approved_by="jt-leader-a",
            approved_at=clock.now(),
        )
    )
    walk(processor, clock, gate.inside, 11 * 60 + 20, 11 * 60 + 31)
    walk(processor, clock, gate.outside, 11 * 60 + 31, 12 * 60 + 1)
    for minute in range(12 * 60 + 1, 13 * 60 + 31):
        clock.set(at(minute))
        processor.tick()

    raised = [(e["type"], e["time"]) for kind in KINDS for e in events(engine, kind)]
    expected = [
        (kind, (DAY_START + timedelta(minutes=m)).isoformat().replace("+00:00", "Z"))
        for kind, m in alerts
    ]
    assert sorted(raised) == sorted(expected)
