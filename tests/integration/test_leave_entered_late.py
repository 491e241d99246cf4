"""A leave approved before the shift but typed in after its alerts fell withdraws them, through
the pipeline as ``guard-gateway run`` drives it (``Processor.run_command`` with the command
``POST /leaves`` runs). Before, the absence, the silent terminal and the late clock-in raised
while the guard was on that leave stayed open, and counted against him. SQLite and PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-001 at the north gate 08:00-10:00, with a
clock-in terminal there (``zk-gate``, his PIN 1001); g-004 patrols the central garden, a round
at 08:30 and 09:30 over three checkpoints (windows 0-5, 5-10, 10-15 minutes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import AlertRow
from gateway.ledger.service import day_ledger
from gateway.pipeline.commands import ApproveLeave, CancelLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import DAY_START, fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, PATROLLER, at, patrol_site, punch_at

SITE = "wh-jiangtan-garden"

_WATCHED = ("alert.absent_at_shift_start", "alert.device_silent", "alert.late_clock_in")


def _morning(
    engine: Engine, tmp_path: Path, *, leave_to: float, typed: float, arrives: float
) -> None:
    """g-001, on a leave from 07:30 to minute ``leave_to`` approved at 07:10, typed in at minute
    ``typed``; on post and checking in at minute ``arrives``. The gateway restarts at 08:20,
    between the alerts and the leave's entry. The clock runs to 10:00, or past the entry."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    for minute in range(-10, max(120, typed + 2)):
        clock.set(at(minute + 0.1))
        if minute == 20:
            processor = Processor(engine, clock)
        if minute == typed:
            processor.run_command(
                ApproveLeave(GATE[0], at(-30), at(leave_to), "jt-leader-a", approved_at=at(-50))
            )
        outcome = DecodeOutcome()
        if minute >= arrives:
            punches = (punch_at(minute),) if minute == arrives else ()
            outcome = DecodeOutcome(
                fixes=(fix_at(GATE[2], at(minute), gate.inside),), punches=punches
            )
        processor.process_outcomes([outcome])
        processor.tick()


def _core_events(engine: Engine) -> list[tuple[str, str, str]]:
    """``(type, time, what)`` of g-001's alerts and withdrawals for the core, in order; ``what``
    is the withdrawn alert's type for a withdrawal."""
    out = []
    for row in outbox_rows(engine):
        body = json.loads(row.body)
        data = body["data"]
        if row.destination != "core" or data.get("guard_id") != GATE[0]:
            continue
        if row.type in _WATCHED or row.type == "alert.withdrawn":
            out.append((row.type, body["time"], str(data.get("withdrawn_type", ""))))
    return out


def _alerts(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow).where(AlertRow.guard_id == GATE[0]).order_by(AlertRow.id)
        )
        return [(row.type, row.resolution) for row in rows if row.type in _WATCHED]


def test_a_leave_typed_in_after_the_alerts_withdraws_all_three(
    engine: Engine, tmp_path: Path
) -> None:
    # On leave to 08:50, typed in at 08:30 (after a restart at 08:20); in at 08:55.
    _morning(engine, tmp_path, leave_to=50, typed=30, arrives=55)
    assert _core_events(engine) == [
        ("alert.absent_at_shift_start", "2026-03-02T00:10:00Z", ""),
        ("alert.device_silent", "2026-03-02T00:10:00Z", ""),
        ("alert.late_clock_in", "2026-03-02T00:15:00Z", ""),
        ("alert.withdrawn", "2026-03-02T00:30:06Z", "alert.absent_at_shift_start"),
        ("alert.withdrawn", "2026-03-02T00:30:06Z", "alert.device_silent"),
        ("alert.withdrawn", "2026-03-02T00:30:06Z", "alert.late_clock_in"),
    ]
    assert _alerts(engine) == [
        ("alert.absent_at_shift_start", "withdrawn"),
        ("alert.device_silent", "withdrawn"),
        ("alert.late_clock_in", "withdrawn"),
    ]


def test_still_away_after_the_leave_he_is_raised_again_then(engine: Engine, tmp_path: Path) -> None:
    # On leave to 08:30, typed in at 08:35 (within the grace after it); in at 09:00: absent and
    # silent again at 08:40, late again at 08:45; his arrival and check-in resolve those.
    _morning(engine, tmp_path, leave_to=30, typed=35, arrives=60)
    assert [(t, when) for t, when, _ in _core_events(engine)][3:] == [
        ("alert.withdrawn", "2026-03-02T00:35:06Z"),
        ("alert.withdrawn", "2026-03-02T00:35:06Z"),
        ("alert.withdrawn", "2026-03-02T00:35:06Z"),
        ("alert.absent_at_shift_start", "2026-03-02T00:40:00Z"),
        ("alert.device_silent", "2026-03-02T00:40:00Z"),
        ("alert.late_clock_in", "2026-03-02T00:45:00Z"),
    ]
    assert _alerts(engine) == [
        ("alert.absent_at_shift_start", "withdrawn"),
        ("alert.device_silent", "withdrawn"),
        ("alert.late_clock_in", "withdrawn"),
        ("alert.absent_at_shift_start", "ended"),
        ("alert.device_silent", "ended"),
        ("alert.late_clock_in", "ended"),
    ]


def test_typed_in_after_its_grace_ran_out_the_alerts_stand(engine: Engine, tmp_path: Path) -> None:
    # On leave to 08:20, typed in at 08:50 with him still away: absent after it too.
    _morning(engine, tmp_path, leave_to=20, typed=50, arrives=60)
    assert [what for what, _, _ in _core_events(engine)] == list(_WATCHED)
    assert _alerts(engine) == [(kind, "ended") for kind in _WATCHED]


def test_typed_in_after_the_shift_it_still_withdraws_them(engine: Engine, tmp_path: Path) -> None:
    # On leave to 08:50, in at 08:55, the leave typed in at 10:30, after the shift's end.
    _morning(engine, tmp_path, leave_to=50, typed=150, arrives=55)
    assert [what for _, _, what in _core_events(engine)][3:] == list(_WATCHED)
    assert _alerts(engine) == [(kind, "withdrawn") for kind in _WATCHED]


def _patrol_morning(engine: Engine, tmp_path: Path, *, typed: float) -> None:
    """g-004, the patroller, on a leave from 07:30 to 09:00 approved at 07:10 and typed in at
    minute ``typed``; on post from 09:00, walking none of the 09:30 round. The clock runs to
    10:00."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    where = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    for minute in range(-10, 120):
        clock.set(at(minute + 0.1))
        if minute == typed:
            processor.run_command(
                ApproveLeave(PATROLLER[0], at(-30), at(60), "jt-leader-a", approved_at=at(-50))
            )
        fixes = (fix_at(PATROLLER[2], at(minute), where),) if minute >= 60 else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()


def _patrol_figures(engine: Engine) -> dict[str, Any]:
    ledger = day_ledger(engine, SITE, DAY_START.date(), at(24 * 60))
    [guard] = [g for g in ledger["guards"] if g["guard_id"] == PATROLLER[0]]
    return dict(guard["patrol"])


def _checkpoint_alerts(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow)
            .where(AlertRow.guard_id == PATROLLER[0], AlertRow.type == "alert.checkpoint_missed")
            .order_by(AlertRow.id)
        )
        return [(str(row.data["checkpoint_id"]), row.resolution) for row in rows]


def test_checkpoints_missed_on_a_leave_typed_in_later_are_withdrawn(
    engine: Engine, tmp_path: Path
) -> None:
    # The 08:30 round ran out on his leave (missed 08:35, 08:40, 08:45, completed 08:50); the
    # leave is typed in at 09:05: its three alerts are withdrawn (with his absence, silence
    # and late clock-in) and out of his figures. The 09:30 round, after the leave, stays missed.
    _patrol_morning(engine, tmp_path, typed=65)
    assert _checkpoint_alerts(engine) == [
        ("cp-east", "withdrawn"),
        ("cp-fountain", "withdrawn"),
        ("cp-west", "withdrawn"),
        ("cp-east", None),
        ("cp-fountain", None),
        ("cp-west", None),
    ]
    withdrawals = [
        json.loads(row.body)["data"]
        for row in outbox_rows(engine)
        if row.destination == "core" and row.type == "alert.withdrawn"
    ]
    assert [(w["withdrawn_type"], w.get("checkpoint_id"), w["reason"]) for w in withdrawals] == [
        ("alert.absent_at_shift_start", None, "leave_on_record"),
        ("alert.device_silent", None, "leave_on_record"),
        ("alert.checkpoint_missed", "cp-east", "leave_on_record"),
        ("alert.checkpoint_missed", "cp-fountain", "leave_on_record"),
        ("alert.checkpoint_missed", "cp-west", "leave_on_record"),
        ("alert.late_clock_in", None, "leave_on_record"),  # he has no PIN: raised again 09:15
    ]
    figures = _patrol_figures(engine)
    assert (figures["checkpoints_missed"], figures["rounds_completed"]) == (3, 2)


def test_typed_in_before_the_round_it_raises_none(engine: Engine, tmp_path: Path) -> None:
    # The same leave typed in at 08:20: the 08:30 round is excused as it runs out.
    _patrol_morning(engine, tmp_path, typed=20)
    assert [cp for cp, _ in _checkpoint_alerts(engine)] == ["cp-east", "cp-fountain", "cp-west"]
    assert _patrol_figures(engine)["checkpoints_missed"] == 3


def test_a_cancellation_typed_in_late_withdraws_the_not_cancelled_alert(
    engine: Engine, tmp_path: Path
) -> None:
    # g-001 on post from 07:50; out 08:30-08:50 on a leave to 09:00; he cancels it at 08:52
    # with his leader, who types it in at 10:10: the 09:50 alert is withdrawn.
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    leave = processor.run_command(
        ApproveLeave(GATE[0], at(30), at(60), "jt-leader-a", approved_at=at(-50))
    )
    for minute in range(-10, 131):
        clock.set(at(minute + 0.1))
        if minute == 130:
            processor.run_command(CancelLeave(str(leave["id"]), at(52)))
        where = gate.outside if 30 <= minute < 50 else gate.inside
        processor.process_outcomes([DecodeOutcome(fixes=(fix_at(GATE[2], at(minute), where),))])
        processor.tick()
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow).where(
                AlertRow.guard_id == GATE[0], AlertRow.type == "alert.leave_not_cancelled"
            )
        )
        assert [(row.opened_at.isoformat(), row.resolution) for row in rows] == [
            ("2026-03-02T01:50:00+00:00", "withdrawn")
        ]
    cancelled = [
        json.loads(row.body)["data"]
        for row in outbox_rows(engine)
        if row.destination == "core" and row.type == "leave.cancelled"
    ]
    assert [(c["cancelled_at"], c["in_time"]) for c in cancelled] == [
        ("2026-03-02T00:52:00+00:00", True)
    ]


def _extended_outing(engine: Engine, tmp_path: Path, *, typed: float) -> None:
    """g-001 on post from 07:50, out 08:10-09:30 on a leave to 08:40, extended by phone at
    08:30 to 09:40 (a second leave), typed in at minute ``typed``; the clock runs to 10:00."""
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    processor.run_command(ApproveLeave(GATE[0], at(10), at(40), "jt-leader-a", approved_at=at(0)))
    for minute in range(-10, 120):
        clock.set(at(minute + 0.1))
        if minute == typed:
            processor.run_command(
                ApproveLeave(GATE[0], at(40), at(100), "jt-leader-a", approved_at=at(30))
            )
        where = gate.outside if 10 <= minute < 90 else gate.inside
        processor.process_outcomes([DecodeOutcome(fixes=(fix_at(GATE[2], at(minute), where),))])
        processor.tick()


def _overruns(engine: Engine) -> list[tuple[str, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(AlertRow).where(
                AlertRow.guard_id == GATE[0], AlertRow.type == "alert.leave_overrun"
            )
        )
        return [(row.opened_at.isoformat(), row.resolution) for row in rows]


def test_an_extension_on_record_in_time_raises_no_overrun(engine: Engine, tmp_path: Path) -> None:
    _extended_outing(engine, tmp_path, typed=30)
    assert _overruns(engine) == []


def test_an_extension_typed_in_after_the_overrun_withdraws_it(
    engine: Engine, tmp_path: Path
) -> None:
    _extended_outing(engine, tmp_path, typed=95)  # after his return at 09:30
    assert _overruns(engine) == [("2026-03-02T00:40:00+00:00", "withdrawn")]
