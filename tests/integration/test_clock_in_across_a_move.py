"""A guard moved to another post by a site load during his shift is not asked to clock in
again: his duty goes on, and his check-in holds across the move as across a double shift
(``gateway.pipeline.adjacent_shifts.duty_before``). Through ``Processor`` as ``guard-gateway
run`` drives it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-001 (PIN 1001) keeps the north gate
08:00-10:00 and checks in there at 08:00; at 08:30 a load moves him to the plaza for the rest of
it. Before, the plaza shift's attendance machine started afresh and raised a late clock-in at
08:45.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from gateway.records import PunchKind
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows
from tests.ledger.patrol_scenario import GATE, at, drive, patrol_site, punch_at


def _late_clock_ins(engine: Engine) -> list[dict[str, Any]]:
    """g-001's (the patrolling guard, who never clocks in, has his own)."""
    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    return [
        b for b in bodies if b["type"] == "alert.late_clock_in" and b["data"]["guard_id"] == GATE[0]
    ]


def _moved_to_the_plaza(tmp_path: Path) -> Path:
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    for shift in doc["sites"][0]["shifts"]:
        if shift["guard"] == GATE[0]:
            shift["post"] = "jt-plaza"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_guard_moved_during_his_shift_is_not_asked_to_clock_in_again(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    load_site_file(patrol_site(tmp_path / "a"), engine, at(-60))
    drive(engine, {30: _moved_to_the_plaza(tmp_path / "b")}, {}, {0: punch_at(0)})
    assert _late_clock_ins(engine) == []


def test_one_who_clocked_out_before_the_move_is(engine: Engine, tmp_path: Path) -> None:
    # In at 08:00, out at 08:20: at the plaza from 08:30 he owes a check-in by 08:45.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    load_site_file(patrol_site(tmp_path / "a"), engine, at(-60))
    punches = {0: punch_at(0), 20: punch_at(20, PunchKind.CHECK_OUT)}
    drive(engine, {30: _moved_to_the_plaza(tmp_path / "b")}, {}, punches)
    [late] = _late_clock_ins(engine)
    assert "/jt-plaza/" in late["data"]["shift_id"]
