"""A site load that cuts shifts short while the gateway is down: when it starts again, the
machines of those shifts end at the cut, not at the restart (``ShiftEnded.ended_at``), so
nothing that fell due after the cut is raised. Through ``Processor`` as ``guard-gateway run``
builds it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``, 08:00-10:00: g-004 patrols the central
garden (rounds at 08:30 and 09:30), g-001 keeps the north gate, which has a clock-in terminal
(his check-in is due by 08:15). The gateway runs to 08:04 with nobody heard, and stops; at 08:05
a load takes both off the roster; the gateway starts again at 09:00. Before, the patrol machine
ended at the restart and raised the three checkpoints of the 08:30 round missed, and the
attendance machine the late clock-in of 08:15, for shifts that ended at 08:05. Presence already
ended at the cut.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows
from tests.ledger.patrol_scenario import GATE, PATROLLER, at, patrol_site


def test_shifts_cut_while_the_gateway_was_down_raise_nothing_that_fell_after_the_cut(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    load_site_file(patrol_site(tmp_path / "before"), engine, at(-60))
    clock = ManualClock(at(-1))
    first = Processor(engine, clock)
    for minute in range(0, 5):
        clock.set(at(minute + 0.1))
        first.tick()
    without = patrol_site(tmp_path / "after")
    doc = yaml.safe_load(without.read_text("utf-8"))
    gone = {PATROLLER[0], GATE[0]}
    doc["sites"][0]["shifts"] = [s for s in doc["sites"][0]["shifts"] if s["guard"] not in gone]
    without.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    load_site_file(without, engine, at(5))
    clock.set(at(60))
    restarted = Processor(engine, clock)
    for minute in range(60, 130):
        clock.set(at(minute + 0.1))
        restarted.tick()

    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    types = sorted({b["type"] for b in bodies})
    assert [t for t in types if "checkpoint" in t or t.startswith("patrol.")] == []
    assert "alert.late_clock_in" not in types
    assert "alert.absent_at_shift_start" not in types  # presence: at the cut already
