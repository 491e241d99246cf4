"""A leave over the shift start that the guard cancels early (销假): he is expected from the
cancellation, not from the leave's end, by the clock-in grace and by the presence rules'
absence alike (``gateway.rules.deadlines``; the cancellation reaches the clock-in machines).
Through ``Processor`` as ``guard-gateway run`` drives it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-001 (PIN 1001) keeps the north gate
08:00-10:00, which has a clock-in terminal; a leave 07:30-09:00 approved and typed in at 07:10;
he cancels it at 08:20. Before, the clock-in grace and the absence ran from 09:00: a guard back
at 08:20 who never clocked in was raised late at 09:15, and one who never came at all absent at
09:10.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import LeaveRow
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site

GUARD, NORTH, TERMINAL = GATE


def _cancel(engine: Engine) -> CancelLeave:
    with Session(engine) as session:
        return CancelLeave(session.scalars(select(LeaveRow.id)).one(), at(20))


def _day(engine: Engine, tmp_path: Path, on_post_from: int | None) -> list[dict[str, Any]]:
    """The morning, his terminal on post from ``on_post_from`` (``None``: never heard); his
    events for the core."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, NORTH).inside
    clock = ManualClock(at(-51))
    processor = Processor(engine, clock)
    commands: dict[int, Callable[[], Any]] = {
        -50: lambda: ApproveLeave(GUARD, at(-30), at(60), "jt-leader-a", approved_at=at(-50)),
        20: lambda: _cancel(engine),
    }
    for minute in range(-50, 90):
        clock.set(at(minute + 0.1))
        if minute in commands:
            processor.run_command(commands[minute]())
        here = on_post_from is not None and minute >= on_post_from
        fixes = (fix_at(TERMINAL, at(minute), gate),) if here else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [b for b in bodies if b["data"].get("guard_id") == GUARD]


def test_back_and_cancelled_at_08_20_he_owes_his_check_in_by_08_35(
    engine: Engine, tmp_path: Path
) -> None:
    his = _day(engine, tmp_path, on_post_from=20)
    assert [b["time"] for b in his if b["type"] == "alert.late_clock_in"] == [
        "2026-03-02T00:35:00Z"
    ]


def test_cancelled_at_08_20_and_never_come_he_is_absent_at_08_30(
    engine: Engine, tmp_path: Path
) -> None:
    his = _day(engine, tmp_path, on_post_from=None)
    assert [b["time"] for b in his if b["type"] == "alert.absent_at_shift_start"] == [
        "2026-03-02T00:30:00Z"
    ]
