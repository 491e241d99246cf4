"""A patrol guard on an approved leave is not raised ``alert.checkpoint_missed`` for the windows
he spent on it: the checkpoints are excused, counted apart in the round's completion and left
out of his day's patrol figures, through the pipeline as ``guard-gateway run`` drives it.
Before, the patrol machine knew no leaves. SQLite and PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-004 patrols the central garden 08:00-10:00,
a round at 08:30 and 09:30, three checkpoints each (windows 0-5, 5-10, 10-15 minutes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.ledger.service import day_ledger
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import PATROLLER, at, patrol_data, patrol_site, scan_at

SITE = "wh-jiangtan-garden"


def _morning(
    engine: Engine,
    tmp_path: Path,
    *,
    leave: tuple[float, float],
    cancelled: float | None = None,
    scans: dict[int, str] | None = None,
) -> None:
    """g-004 on leave over minutes ``leave`` (cancelled at ``cancelled``), on post from its end
    (or the cancellation), scanning ``scans``; the clock runs to 10:00."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    where = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    result = processor.run_command(
        ApproveLeave(PATROLLER[0], at(leave[0]), at(leave[1]), "jt-leader-a", approved_at=at(-50))
    )
    back = leave[1] if cancelled is None else cancelled
    for minute in range(-10, 120):
        clock.set(at(minute + 0.1))
        if cancelled is not None and minute == cancelled:
            processor.run_command(CancelLeave(str(result["id"]), at(minute)))
        fixes = (fix_at(PATROLLER[2], at(minute), where),) if minute >= back else ()
        found = (scan_at(scans[minute], minute),) if scans and minute in scans else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=found)])
        processor.tick()


def _missed_alerts(engine: Engine) -> int:
    return sum(
        1
        for row in outbox_rows(engine)
        if row.destination == "core" and row.type == "alert.checkpoint_missed"
    )


def _rounds(engine: Engine) -> list[dict[str, Any]]:
    return [data for kind, _, data in patrol_data(engine) if kind == "patrol.round_completed"]


def _patrol_figures(engine: Engine) -> dict[str, Any]:
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(24 * 60))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    return dict(guard["patrol"])


def test_the_rounds_of_his_leave_are_excused_not_missed(engine: Engine, tmp_path: Path) -> None:
    # On leave 07:30-09:30: the 08:30 round falls in it; he walks none of the 09:30 round.
    _morning(engine, tmp_path, leave=(-30, 90))
    assert _missed_alerts(engine) == 3  # the 09:30 round's, not the 08:30 round's
    first, second = _rounds(engine)
    assert (first["missed"], first["excused"], first["scanned"]) == (0, 3, 0)
    assert first["excused_checkpoints"] == ["cp-east", "cp-fountain", "cp-west"]
    assert (second["missed"], second["excused"]) == (3, 0)
    figures = _patrol_figures(engine)
    assert (figures["checkpoints_missed"], figures["rounds_completed"]) == (3, 2)


def test_a_window_only_partly_on_leave_is_missed(engine: Engine, tmp_path: Path) -> None:
    # Back at 08:37: east's window (08:30-08:35) lay in the leave, the fountain's (08:35-08:40)
    # only in part, the west's (08:40-08:45) not at all.
    _morning(engine, tmp_path, leave=(-30, 37))
    first = _rounds(engine)[0]
    assert (first["excused_checkpoints"], first["missed_checkpoints"]) == (
        ["cp-east"],
        ["cp-fountain", "cp-west"],
    )


def test_a_leave_cancelled_early_excuses_only_up_to_the_cancellation(
    engine: Engine, tmp_path: Path
) -> None:
    # Leave to 09:30, cancelled at 08:20 (he came back): the 08:30 round is his again.
    _morning(engine, tmp_path, leave=(-30, 90), cancelled=20, scans={31: "cp-east"})
    first = _rounds(engine)[0]
    assert (first["scanned"], first["excused"], first["missed"]) == (1, 0, 2)


def test_a_late_scan_of_an_excused_checkpoint_takes_no_missed_one_off_the_figures(
    engine: Engine, tmp_path: Path
) -> None:
    # Back at 08:36: east's window (08:30-08:35) was excused; he scans it late at 08:37. The
    # fountain and the west, and the 09:30 round, are missed: five, none resolved by that scan.
    _morning(engine, tmp_path, leave=(-30, 36), scans={37: "cp-east"})
    first = _rounds(engine)[0]
    assert (first["scanned"], first["excused"], first["missed"]) == (1, 0, 2)
    figures = _patrol_figures(engine)
    assert (figures["checkpoints_late"], figures["checkpoints_missed"]) == (1, 5)
