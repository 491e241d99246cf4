"""A guard on an approved leave over the start of his shift is not late to clock in: the
clock-in grace counts from the end of the leave, as his presence rules count his absence and
his terminal's silence, through the pipeline as ``guard-gateway run`` drives it. Before, the
attendance machine knew no leaves and raised ``alert.late_clock_in`` 15 minutes into a shift
the guard had leave for. SQLite and PostgreSQL.

The patrol site (``tests.ledger.patrol_scenario``): g-001 at the north gate 08:00-10:00, with a
clock-in terminal there (``zk-gate``, his PIN 1001).

On a double shift (连班, here 04:00-08:00 then 08:00-10:00 at the gate) he clocked in for the
first and did not clock out: he is clocked in for the second (before, ``alert.late_clock_in``
at 08:15 for a guard on duty since 04:00)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.commands import ApproveLeave
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome, PunchKind
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


def _double_shift_site(tmp_path: Path) -> Path:
    """The patrol site with g-001 also at the north gate 04:00-08:00 (a double shift)."""
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    early = {"guard": GATE[0], "post": GATE[1], "days": "daily", "start": "04:00", "end": "08:00"}
    doc["sites"][0]["shifts"].append(early)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _double_shift(engine: Engine, tmp_path: Path, *, checked_out: float | None) -> None:
    """g-001 on post from 04:00 to 10:00, clocked in at 04:01; clocked out at minute
    ``checked_out`` (``None``: never), and in again at 08:30 when he did."""
    load_site_file(_double_shift_site(tmp_path), engine, at(-300))
    gate = post_points(engine, GATE[1])
    clock = ManualClock(at(-250))
    processor = Processor(engine, clock)
    for minute in range(-241, 120):
        clock.set(at(minute + 0.1))
        punches = ()
        if minute == -239 or (checked_out is not None and minute == 30):
            punches = (punch_at(minute),)
        elif minute == checked_out:
            punches = (punch_at(minute, PunchKind.CHECK_OUT),)
        fixes = (fix_at(GATE[2], at(minute), gate.inside),)
        processor.process_outcomes([DecodeOutcome(fixes=fixes, punches=punches)])
        processor.tick()


def test_on_a_double_shift_his_clock_in_for_the_first_holds_for_the_second(
    engine: Engine, tmp_path: Path
) -> None:
    # Clocked in at 04:01 and on duty without a break to 10:00: no check-in asked at 08:00.
    _double_shift(engine, tmp_path, checked_out=None)
    assert "g-001" not in dict(_late_clock_ins(engine))


def test_clocked_out_at_the_end_of_the_first_he_clocks_in_for_the_second(
    engine: Engine, tmp_path: Path
) -> None:
    # Clocked out at 07:58, in again only at 08:30: late for the second at 08:15.
    _double_shift(engine, tmp_path, checked_out=-2)
    assert dict(_late_clock_ins(engine))["g-001"] == "2026-03-02T00:15:00Z"


@pytest.mark.parametrize(("checked_in", "withdrawn"), [(40, True), (60, False)])
def test_a_late_push_is_judged_on_the_leaves_approved_when_the_alert_fell(
    engine: Engine, tmp_path: Path, checked_in: float, withdrawn: bool
) -> None:
    # Late at 08:15, nothing heard of him. At 09:00 the leader types in his leave to 08:30,
    # approved at 07:00; at 09:10 its extension to 09:30, approved at 08:50, after the alert
    # fell. His check-in comes at 09:40 from a terminal that was offline: at 08:40 it shows the
    # alert wrong (in by 08:45, the grace after the first leave); at 09:00 he was late with the
    # leave he had when it fell, and it stands. Before, both leaves decided: withdrawn too.
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(-50))
    processor = Processor(engine, clock)
    leaves = {60: (at(-30), at(30), at(-60)), 70: (at(30), at(90), at(50))}
    for minute in range(-10, 101):
        clock.set(at(minute + 0.1))
        if minute in leaves:
            starts, ends, approved = leaves[minute]
            processor.run_command(
                ApproveLeave(GATE[0], starts, ends, "jt-leader-a", approved_at=approved)
            )
        outcome = DecodeOutcome()
        if minute == 100:
            pushed = dataclasses.replace(punch_at(checked_in), received_at=at(100))
            outcome = DecodeOutcome(punches=(pushed,))
        processor.process_outcomes([outcome])
        processor.tick()
    assert dict(_late_clock_ins(engine))["g-001"] == "2026-03-02T00:15:00Z"
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    found = [
        b["data"]
        for b in bodies
        if b["type"] == "alert.withdrawn" and b["data"]["withdrawn_type"] == "alert.late_clock_in"
    ]
    [punch] = [b["data"] for b in bodies if b["type"] == "attendance.punch"]
    assert punch["late"] is not withdrawn
    if withdrawn:
        [withdrawal] = found
        assert withdrawal["reason"] == "leave_on_record"
        assert withdrawal["excused_until"] == at(30).isoformat()
    else:
        assert found == []
