"""Which shift a clock-in terminal's punch belongs to around the edges of a guard's shifts
(``gateway.pipeline.punch_duty``), through the pipeline as ``guard-gateway run`` drives it
(``Processor``, a manual clock), on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-001 (PIN 1001) keeps the north gate,
whose clock-in terminal is ``zk-gate``; his GPS terminal reports every minute. Before, a punch
went to the shift it fell in, else to one starting within the hour: a check-in for the next
shift made before the shift he was on ended counted for that one, and the next raised a late
clock-in; a check-out just after a shift went to the next one (he was "on post" there before
it started, then "left without a report") or to none (not told to the core).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
EAST = "jt-gate-east"
IN, OUT = PunchKind.CHECK_IN, PunchKind.CHECK_OUT


def _site(tmp_path: Path, shifts: list[dict[str, str]]) -> Path:
    """The patrol site with g-001's shifts replaced by ``shifts`` and a clock-in terminal at
    the east gate too (``zk-east``)."""
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["shifts"] = [s for s in site["shifts"] if s["guard"] != GUARD]
    site["shifts"] += [{"guard": GUARD, "days": "daily", **s} for s in shifts]
    site["devices"].append({"id": "zk-east", "kind": "clock_in", "post": EAST, "sn": "ZKEAST01"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(
    engine: Engine,
    path: Path,
    minutes: range,
    punches: dict[int, Punch],
    where: Callable[[int], str | None],
) -> None:
    """Load ``path`` an hour before the first minute; then each minute his GPS fix (``where``:
    ``"inside"`` or ``"outside"`` the north gate, or none), the punch of that minute, a tick."""
    load_site_file(path, engine, at(minutes[0] - 60))
    gate = post_points(engine, NORTH)
    clock = ManualClock(at(minutes[0] - 1))
    processor = Processor(engine, clock)
    for minute in minutes:
        clock.set(at(minute + 0.1))
        spot = where(minute)
        fixes = () if spot is None else (fix_at(TERMINAL, at(minute), getattr(gate, spot)),)
        punched = (punches[minute],) if minute in punches else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, punches=punched)])
        processor.tick()


def _his(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, shift id, data) of g-001's events for the core, in order."""
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [
        (b["type"], str(b["data"].get("shift_id")), b["data"])
        for b in bodies
        if b["data"].get("guard_id") == GUARD
    ]


def _shift(engine: Engine, hhmm_utc: str) -> list[str]:
    """The types of g-001's events of his shift starting at ``hhmm_utc`` (UTC) that day."""
    return [t for t, shift, _ in _his(engine) if shift.endswith(f"20260302T{hhmm_utc}00Z")]


def test_a_check_in_at_the_next_posts_terminal_before_his_shift_there_is_for_that_shift(
    engine: Engine, tmp_path: Path
) -> None:
    # 轮岗: the north gate 08:00-09:00, then the east gate 09:00-10:00. In at the north gate
    # at 07:58; at 08:58 he checks in on the east gate's terminal, two minutes early.
    shifts = [{"post": NORTH, "start": "08:00", "end": "09:00"}]
    shifts.append({"post": EAST, "start": "09:00", "end": "10:00"})
    east = Punch(
        terminal_id="zk-east",
        person_id="1001",
        punched_at=at(58),
        received_at=at(58.02),
        kind=IN,
        source_format="zk-push",
    )
    _run(
        engine,
        _site(tmp_path, shifts),
        range(-5, 100),
        {-2: punch_at(-2), 58: east},
        lambda m: "inside" if m < 56 else None,
    )
    punches = [(shift, d["kind"]) for t, shift, d in _his(engine) if t == "attendance.punch"]
    assert [kind for _, kind in punches] == ["check_in", "check_in"]
    assert punches[1][0].startswith(f"{GUARD}/{EAST}/")
    assert [t for t, _, _ in _his(engine) if t == "alert.late_clock_in"] == []
    assert "presence.arrived" in _shift(engine, "0100")  # 09:00 local: at the east gate


def test_a_check_in_just_after_checking_out_of_a_double_shift_is_for_the_next_one(
    engine: Engine, tmp_path: Path
) -> None:
    # 连班: the north gate 04:00-08:00 and again 08:00-10:00. In at 04:01, out at 07:58, in
    # again at 07:59 for the day.
    shifts = [{"post": NORTH, "start": "04:00", "end": "08:00"}]
    shifts.append({"post": NORTH, "start": "08:00", "end": "10:00"})
    _run(
        engine,
        _site(tmp_path, shifts),
        range(-241, 60),
        {-239: punch_at(-239), -2: punch_at(-2, OUT), -1: punch_at(-1)},
        lambda _m: "inside",
    )
    assert [t for t, _, _ in _his(engine) if t == "alert.late_clock_in"] == []
    assert _shift(engine, "0000").count("attendance.punch") == 1  # the 07:59 check-in


def test_a_check_out_after_his_shift_is_that_shifts_not_an_arrival_at_the_next(
    engine: Engine, tmp_path: Path
) -> None:
    # The north gate 08:00-10:00 and 10:30-12:00. Out at 10:01, then 300 m away for good: the
    # 10:30 shift is an absence, not an arrival at 10:01 and a departure without a report.
    shifts = [{"post": NORTH, "start": "08:00", "end": "10:00"}]
    shifts.append({"post": NORTH, "start": "10:30", "end": "12:00"})
    _run(
        engine,
        _site(tmp_path, shifts),
        range(-5, 200),
        {-2: punch_at(-2), 121: punch_at(121, OUT)},
        lambda m: "inside" if m <= 121 else "outside",
    )
    first, second = _shift(engine, "0000"), _shift(engine, "0230")
    assert first.count("attendance.punch") == 2  # in, and out a minute after its end
    assert "alert.absent_at_shift_start" in second
    assert "alert.late_clock_in" in second
    assert not {"presence.arrived", "presence.departed", "alert.unreported_departure"} & set(second)


def test_a_check_out_a_minute_after_his_only_shift_is_told_to_the_core(
    engine: Engine, tmp_path: Path
) -> None:
    # 08:00-10:00, in at 07:58, out at 10:01. Before, the check-out was stored and counted
    # off duty, and the core was never told of it.
    _run(
        engine,
        _site(tmp_path, [{"post": NORTH, "start": "08:00", "end": "10:00"}]),
        range(-5, 130),
        {-2: punch_at(-2), 121: punch_at(121, OUT)},
        lambda m: "inside" if m <= 121 else None,
    )
    kinds = [d["kind"] for t, _, d in _his(engine) if t == "attendance.punch"]
    assert kinds == ["check_in", "check_out"]
    assert [t for t, _, _ in _his(engine) if t == "alert.late_clock_in"] == []
