"""A guard on an approved leave over the start of his shift is not late to clock in: the
clock-in grace counts from the end of the leave, as his presence rules count his absence and
his terminal's silence, through the pipeline as ``guard-gateway run`` drives it. Before, the
attendance machine knew no leaves and raised ``alert.late_clock_in`` 15 minutes into a shift
the guard had leave for. SQLite and PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-001 at the north gate 08:00-10:00, with a
clock-in terminal there (``zk-gate``, his PIN 1001)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site, punch_at


def _late_clock_ins(engine: Engine) -> list[tuple[str, str]]:
    """``(guard, due)`` of each ``alert.late_clock_in`` for the core."""
    out = []
    for row in outbox_rows(engine):
        if row.destination == "core" and row.type == "alert.late_clock_in":
            data = json.loads(row.body)["data"]
            out.append((data["guard_id"], json.loads(row.body)["time"]))
    return out


def _morning(engine: Engine, tmp_path: Path, *, leave_to: float | None, arrives: float) -> None:
    """g-001 on leave from 07:30 to minute ``leave_to`` (``None``: no leave), on post and
    checking in at minute ``arrives``; the clock runs to 10:00."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    if leave_to is not None:
        processor.run_command(
            ApproveLeave(GATE[0], at(-30), at(leave_to), "jt-leader-a", approved_at=at(-50))
        )
    for minute in range(-10, 120):
        clock.set(at(minute + 0.1))
        outcome = DecodeOutcome()
        if minute >= arrives:
            fixes = (fix_at(GATE[2], at(minute), gate.inside),)
            punches = (punch_at(minute),) if minute == arrives else ()
            outcome = DecodeOutcome(fixes=fixes, punches=punches)
        processor.process_outcomes([outcome])
        processor.tick()


def test_a_guard_on_leave_over_the_shift_start_is_not_late_to_clock_in(
    engine: Engine, tmp_path: Path
) -> None:
    # On leave to 08:50, in and checked in at 08:55: within 15 minutes of the leave's end.
    _morning(engine, tmp_path, leave_to=50, arrives=55)
    assert [guard for guard, _ in _late_clock_ins(engine)] == ["g-004"]  # the one without a PIN


def test_the_grace_counts_from_the_end_of_the_leave(engine: Engine, tmp_path: Path) -> None:
    # On leave to 08:30, not in before 09:00: late at 08:45, not at 08:15.
    _morning(engine, tmp_path, leave_to=30, arrives=60)
    late = dict(_late_clock_ins(engine))
    assert late["g-001"] == "2026-03-02T00:45:00Z"


def test_without_a_leave_the_grace_counts_from_the_shift_start(
    engine: Engine, tmp_path: Path
) -> None:
    _morning(engine, tmp_path, leave_to=None, arrives=60)
    assert dict(_late_clock_ins(engine))["g-001"] == "2026-03-02T00:15:00Z"
