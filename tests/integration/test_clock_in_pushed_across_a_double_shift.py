"""A double shift (连班) and a clock-in terminal that was offline: a punch of the first shift
pushed late changes whether the guard was clocked in across into the second, and the second
shift's machine, started already, follows (``gateway.rules.attendance.carried_over``). Through
``Processor`` as ``guard-gateway run`` drives it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-001 (PIN 1001) keeps the north gate
04:00-08:00 and again 08:00-10:00; his GPS terminal reports on post every minute. Before, the
second shift read the first's check-in once, when it started at 08:00: a check-in of 03:59
pushed at 08:30 withdrew the night's late clock-in but left the day's of 08:15 standing, and a
check-out of 07:58 pushed at 08:30 left the day without the late clock-in it owed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome, Punch, PunchKind
from gateway.site.loader import load_site_file
from tests.e2e.helpers import fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import GATE, at, patrol_site, punch_at

GUARD, NORTH, TERMINAL = GATE


def _double_shift(tmp_path: Path) -> Path:
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    night = {"guard": GUARD, "post": NORTH, "days": "daily", "start": "04:00", "end": "08:00"}
    doc["sites"][0]["shifts"].append(night)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _pushed(minute: float, kind: PunchKind, received: float) -> Punch:
    """His punch at ``minute``, pushed at ``received`` by the terminal back in network."""
    return dataclasses.replace(punch_at(minute, kind), received_at=at(received))


def _run(engine: Engine, tmp_path: Path, last: int, punches: dict[int, Punch]) -> None:
    load_site_file(_double_shift(tmp_path), engine, at(-300))
    gate = post_points(engine, NORTH)
    clock = ManualClock(at(-246))
    processor = Processor(engine, clock)
    for minute in range(-245, last):
        clock.set(at(minute + 0.1))
        punched = (punches[minute],) if minute in punches else ()
        fixes = (fix_at(TERMINAL, at(minute), gate.inside),)
        processor.process_outcomes([DecodeOutcome(fixes=fixes, punches=punched)])
        processor.tick()


def _his(engine: Engine, type_: str) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [b for b in bodies if b["type"] == type_ and b["data"].get("guard_id") == GUARD]


def test_a_check_in_before_the_night_pushed_after_the_day_began_withdraws_both_lates(
    engine: Engine, tmp_path: Path
) -> None:
    _run(engine, tmp_path, 60, {30: _pushed(-241, PunchKind.CHECK_IN, 30)})
    assert [b["time"] for b in _his(engine, "alert.late_clock_in")] == [
        "2026-03-01T20:15:00Z",
        "2026-03-02T00:15:00Z",
    ]
    withdrawn = _his(engine, "alert.withdrawn")
    assert sorted(w["data"]["reason"] for w in withdrawn) == ["checked_in_before"] * 2
    assert {w["data"]["shift_id"][-16:] for w in withdrawn} == {
        "20260301T200000Z",
        "20260302T000000Z",
    }


def test_a_check_out_before_the_day_pushed_after_it_began_makes_the_day_owe_a_check_in(
    engine: Engine, tmp_path: Path
) -> None:
    _run(
        engine,
        tmp_path,
        60,
        {-241: punch_at(-241), 30: _pushed(-2, PunchKind.CHECK_OUT, 30)},
    )
    [late] = _his(engine, "alert.late_clock_in")
    assert late["time"] == "2026-03-02T00:15:00Z"
    assert late["data"]["shift_id"].endswith("20260302T000000Z")
    assert late["data"]["backfilled"] is True
