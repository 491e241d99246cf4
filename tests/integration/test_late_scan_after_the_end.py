"""A checkpoint scanned late, within the tolerance, just after the patrolling guard's shift
ended counts for him (``gateway.pipeline.late_scans``), with nobody or a relief on duty at the
post then. Through ``Processor`` as ``guard-gateway run`` drives it, on SQLite and PostgreSQL.

The patrol site of ``tests.ledger.patrol_scenario``, its rounds moved to 08:45 and 09:45: g-004
patrols the central garden 08:00-10:00, the second round's west window is 09:55-10:00 and
closes at his shift's end. He scans west at 10:03, within the 5-minute tolerance. Before, the
scan went to nobody (or to g-005, relieving him at 10:00, for whom it counted for nothing) and
his missed alert of 10:00 stood.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site.loader import load_site_file
from tests.e2e.helpers import alert_rows, fix_at, outbox_rows, post_points
from tests.ledger.patrol_scenario import PATROLLER, at, patrol_site, scan_at

WALKED = {
    46: "cp-east",
    51: "cp-fountain",
    56: "cp-west",
    106: "cp-east",
    111: "cp-fountain",
    123: "cp-west",
}


def _site(tmp_path: Path, relief: bool) -> Path:
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["routes"][0]["schedule"] = {"every_min": 60, "offset_min": 45}
    if relief:
        site["guards"].append({"id": "g-005", "name": "周勇", "team": "A"})
        site["devices"].append({"id": "gps-e", "kind": "gps", "guard": "g-005"})
        site["shifts"].append(
            {
                "guard": "g-005",
                "post": PATROLLER[1],
                "days": "daily",
                "start": "10:00",
                "end": "12:00",
            }
        )
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("relief", [False, True], ids=["nobody after him", "a relief at 10:00"])
def test_a_late_scan_within_the_tolerance_just_after_his_shift_counts_for_him(
    engine: Engine, tmp_path: Path, relief: bool
) -> None:
    load_site_file(_site(tmp_path, relief), engine, at(-60))
    inside = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 140):
        clock.set(at(minute + 0.1))
        fixes = (fix_at(PATROLLER[2], at(minute), inside),) if minute < 120 else ()
        if relief and minute >= 118:
            fixes += (fix_at("gps-e", at(minute), inside),)
        scans = (scan_at(WALKED[minute], minute),) if minute in WALKED else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=scans)])
        processor.tick()

    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    scanned = [b["data"] for b in bodies if b["type"] == "patrol.checkpoint_scanned"]
    last = scanned[-1]
    assert (last["guard_id"], last["checkpoint_id"], last["counted"], last["late"]) == (
        "g-004",
        "cp-west",
        True,
        True,
    )
    rounds = [
        b["data"]
        for b in bodies
        if b["type"] == "patrol.round_completed" and b["data"]["guard_id"] == "g-004"
    ]
    assert [(r["scanned"], r["late"], r["missed"]) for r in rounds] == [(3, 0, 0), (3, 1, 0)]
    [missed] = [b for b in bodies if b["type"] == "alert.checkpoint_missed"]
    assert missed["data"]["checkpoint_id"] == "cp-west"
    [(_, _, resolution)] = alert_rows(engine, "alert.checkpoint_missed", "g-004")
    assert resolution == "ended"  # the late scan resolved it


def test_a_scan_on_time_for_the_relief_is_his_though_late_for_the_guard_before(
    engine: Engine, tmp_path: Path
) -> None:
    # Rounds at 09:45 and 10:00, west open through the round (0-15 minutes): g-004's west
    # window closes at 10:00, the relief's opens then. West scanned at 10:03 is the relief's,
    # on time; g-004's missed alert of 10:00 stands.
    path = _site(tmp_path, relief=True)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    route = doc["sites"][0]["routes"][0]
    route["schedule"] = {"times": ["09:45", "10:00"]}
    route["ordered"] = False
    for checkpoint in route["checkpoints"]:
        if checkpoint["checkpoint"] == "cp-west":
            checkpoint["window_min"] = [0, 15]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_site_file(path, engine, at(-60))
    inside = post_points(engine, PATROLLER[1]).inside
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    walked = {106: "cp-east", 111: "cp-fountain", 123: "cp-west"}
    for minute in range(100, 140):
        clock.set(at(minute + 0.1))
        fixes = (fix_at(PATROLLER[2], at(minute), inside),) if minute < 120 else ()
        if minute >= 118:
            fixes += (fix_at("gps-e", at(minute), inside),)
        scans = (scan_at(walked[minute], minute),) if minute in walked else ()
        processor.process_outcomes([DecodeOutcome(fixes=fixes, scans=scans)])
        processor.tick()

    bodies = [json.loads(r.body) for r in outbox_rows(engine) if r.destination == "core"]
    last = [b["data"] for b in bodies if b["type"] == "patrol.checkpoint_scanned"][-1]
    assert (last["guard_id"], last["checkpoint_id"], last["counted"], last["late"]) == (
        "g-005",
        "cp-west",
        True,
        False,
    )
    [(_, _, resolution)] = alert_rows(engine, "alert.checkpoint_missed", "g-004")
    assert resolution != "ended"
