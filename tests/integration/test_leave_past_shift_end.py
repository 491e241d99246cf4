"""A leave taken at the end of a shift must still be cancelled (销假) within the hour, through
the pipeline ``guard-gateway run`` drives (``Processor.run_command`` with the commands ``POST
/leaves`` and ``POST /leaves/{id}/cancel`` run), on SQLite and PostgreSQL. Before, a guard out
on a leave running past his shift's end was never asked to cancel it.

The patrol site (``tests.ledger.patrol_scenario``): g-001 at the north gate 08:00-10:00 every
day. A leave 09:30-11:00 approved and typed in at 09:20; he leaves at 09:30 and is not seen on
post again that day (his return off duty is not watched). The hour counts from 11:00. A leave
running into his next shift is that shift's (``tests/integration/test_leave_at_shift_start.py``
holds the double shift)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import alert_rows, core_events, fix_at, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site


def _afternoon_off(engine: Engine, tmp_path: Path, *, cancelled: int | None = None) -> None:
    """Play to 12:10 (minute 250), the gateway restarted at 10:30; ``cancelled``: the minute
    the leave is cancelled (and typed in)."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    leave_id = ""
    for minute in range(-2, 250):
        clock.set(at(minute + 0.1))
        if minute == 150:
            processor = Processor(engine, clock)
        if minute == 80:
            row = processor.run_command(
                ApproveLeave(GATE[0], at(90), at(180), "jt-leader-a", approved_at=at(80))
            )
            leave_id = str(row["id"])
        if minute == cancelled:
            processor.run_command(CancelLeave(leave_id, at(minute)))
        fixes = ()
        if minute < 120:
            fixes = (fix_at(GATE[2], at(minute), gate.outside if minute >= 90 else gate.inside),)
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()


def test_never_cancelled_it_is_raised_an_hour_after_the_leave_ends(
    engine: Engine, tmp_path: Path
) -> None:
    _afternoon_off(engine, tmp_path)
    [alert] = core_events(engine, "alert.leave_not_cancelled", GATE[0])
    assert alert["time"] == "2026-03-02T04:00:00Z"  # 12:00, the leave's end and the hour
    assert alert["returned_at"] == "2026-03-02T03:00:00+00:00" and alert["off_duty"] is True
    [(_, _, resolution)] = alert_rows(engine, "alert.leave_not_cancelled", GATE[0])
    assert resolution is None  # open for the leaders
    # On a leave reaching the end he neither left early nor went unreported.
    assert core_events(engine, "alert.left_early", GATE[0]) == []
    assert core_events(engine, "alert.unreported_departure", GATE[0]) == []


def test_cancelled_within_the_hour_it_is_in_time(engine: Engine, tmp_path: Path) -> None:
    _afternoon_off(engine, tmp_path, cancelled=200)
    assert core_events(engine, "alert.leave_not_cancelled", GATE[0]) == []
    [cancelled] = core_events(engine, "leave.cancelled", GATE[0])
    assert cancelled["in_time"] is True and cancelled["delay_s"] == 1200.0
