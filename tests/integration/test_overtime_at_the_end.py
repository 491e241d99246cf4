"""An outing that reaches the verbal-report limit (15 minutes) at the very instant the shift
ends is one alert, the early leave (早退), not an overtime as well: up to 15 minutes off post is
the verbal report's (口头报备), only over 15 is overtime (DOMAIN.md, art. 10.1), and at the end
his duty is over. Through the Processor as ``run`` drives it, on SQLite and PostgreSQL.

张伟 (g-001, north gate 08:00-20:00) phones his leader at 19:44 that he steps out, leaves, and
never comes back. Before, leaving at 19:45 raised ``alert.overtime_departure`` at 20:00 and
``alert.left_early`` at the same instant; leaving at 19:44:30 still raises both, the overtime
at 19:59:30, within the shift, as any outing that passes the limit on duty does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import FileReport
from gateway.pipeline.processor import Processor
from tests.e2e.helpers import DAY_START, load_sample_site, post_points
from tests.integration.test_pipeline_hard_cases import at, events, walk


@pytest.mark.parametrize(
    ("left_min", "alerts"),
    [
        (11 * 60 + 45, [("alert.left_early", 12 * 60)]),
        (
            11 * 60 + 44.5,
            [("alert.overtime_departure", 11 * 60 + 59.5), ("alert.left_early", 12 * 60)],
        ),
    ],
    ids=["out-15-min-at-the-end", "out-15-min-30-s-before-the-end"],
)
def test_an_outing_reaching_the_limit_as_the_shift_ends_is_an_early_leave_alone(
    engine: Engine, left_min: float, alerts: list[tuple[str, float]]
) -> None:
    load_sample_site(engine)
    gate = post_points(engine, "jt-gate-north")
    clock = ManualClock(DAY_START)
    processor = Processor(engine, clock)
    walk(processor, clock, gate.inside, 1, 11 * 60 + 44, every_s=300)
    processor.run_command(
        FileReport(guard_id="g-001", reported_at=at(11 * 60 + 44), received_at=clock.now())
    )
    walk(processor, clock, gate.inside, 11 * 60 + 44, left_min)
    walk(processor, clock, gate.outside, left_min, 12 * 60 + 20)
    processor.tick()

    raised = [
        (e["type"], e["time"])
        for kind in ("alert.unreported_departure", "alert.overtime_departure", "alert.left_early")
        for e in events(engine, kind)
    ]
    expected = [(kind, (DAY_START + timedelta(minutes=m)).isoformat()) for kind, m in alerts]
    assert sorted(raised) == sorted(_as_sent(expected))
    [early] = events(engine, "alert.left_early")
    assert early["data"]["left_before_end_s"] == (12 * 60 - left_min) * 60


def _as_sent(expected: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The CloudEvents ``time`` as the outbox writes it (``Z`` for UTC)."""
    return [(kind, time.replace("+00:00", "Z")) for kind, time in expected]
