"""A site load that moves a patrol shift's end earlier, into a round under way: the
checkpoints whose window closes after the new end are not due, as at a relief, not missed by
a guard then off duty (``gateway.pipeline.patrol_loads.follow_ends``). Through ``Processor`` as
``guard-gateway run`` drives it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``: g-004 patrols the central garden
08:00-10:00, rounds at 08:30 and 09:30 (east, fountain, west: windows of five minutes from the
round's start, 5 and 10 minutes on). At 09:33 a load ends his shift at 09:40, during the 09:30
round; west's window is 09:40-09:45. Before, west was raised missed at 09:45, and the round
completed with it missed, though his scans after 09:40 were no longer taken.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from sqlalchemy import Engine

from gateway.site.loader import load_site_file
from tests.e2e.helpers import outbox_rows
from tests.ledger.patrol_scenario import PATROLLER, at, drive, patrol_site


def test_a_shift_end_moved_into_a_round_raises_nothing_past_the_new_end(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    load_site_file(patrol_site(tmp_path / "a"), engine, at(-60))
    shorter = patrol_site(tmp_path / "b")
    doc = yaml.safe_load(shorter.read_text("utf-8"))
    for shift in doc["sites"][0]["shifts"]:
        if shift["guard"] == PATROLLER[0]:
            shift["end"] = "09:40"
    shorter.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    walked = {31: "cp-east", 36: "cp-fountain", 41: "cp-west", 91: "cp-east", 96: "cp-fountain"}
    drive(engine, {93: shorter}, walked)

    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    his = [b for b in bodies if b["data"].get("guard_id") == PATROLLER[0]]
    assert [b for b in his if b["type"] == "alert.checkpoint_missed"] == []
    rounds = [b["data"] for b in his if b["type"] == "patrol.round_completed"]
    assert [(r["scanned"], r["missed"], r["not_due"], r["ended_early"]) for r in rounds] == [
        (3, 0, 0, False),
        (2, 0, 1, True),
    ]
