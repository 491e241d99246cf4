"""Patrol rounds and punches in the ledger: a hand-computed morning (tests/ledger/
patrol_scenario.py) through the real pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from gateway.ledger.service import day_ledger
from gateway.ledger.tables import guard_rows
from tests.ledger.patrol_scenario import at, drive_patrol_morning


def test_patrol_rounds_and_punches_are_counted_per_guard_and_site(
    engine: Engine, tmp_path: Path
) -> None:
    drive_patrol_morning(engine, tmp_path)
    ledger = day_ledger(engine, "wh-jiangtan-garden", date(2026, 3, 2), at(24 * 60))
    guards = {g["guard_id"]: g for g in ledger["guards"]}
    assert guards["g-004"]["patrol"] == {
        "scans": 5,
        "checkpoints_scanned": 5,
        "checkpoints_late": 1,
        "checkpoints_missed": 1,  # for good: the other missed one was scanned late
        "rounds_completed": 2,
    }
    assert [(a["type"], a["opened_at"][11:16]) for a in guards["g-004"]["alerts"]] == [
        ("alert.late_clock_in", "00:15"),
        ("alert.checkpoint_missed", "00:45"),
        ("alert.checkpoint_missed", "01:45"),
    ]
    resolved = [a["resolution"] for a in guards["g-004"]["alerts"]][1:]
    assert resolved[1] == "ended"  # the late scan ended the second one
    assert [(p["kind"], p["punched_at"][11:16]) for p in guards["g-001"]["punches"]] == [
        ("check_in", "23:58"),  # 07:58 local: the ledger's day, though the day before in UTC
        ("check_out", "02:01"),
    ]
    assert guards["g-001"]["patrol"]["scans"] == 0 and guards["g-004"]["punches"] == []
    site = ledger["site"]
    assert (site["checkpoints_scanned"], site["checkpoints_missed"], site["punches"]) == (5, 1, 2)
    assert site["patrol_completion_rate"] == 0.8333  # 5 of 6
    assert (site["on_post_s"], site["departures"]) == (2 * 120 * 60.0, 0)
    rows = {row["guard_id"]: row for row in guard_rows(ledger)}
    assert (rows["g-004"]["checkpoints_missed"], rows["g-001"]["punches"]) == (1, 2)
