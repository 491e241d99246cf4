"""A site load during the day that adds a clock-in terminal or a patrol route holds the guards
already on duty to it from the load, not from their shift's start (``gateway.pipeline.new_duties``),
through the pipeline as ``guard-gateway run`` drives it: the roster read again and adopted, the
clock ticking. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from gateway.clock import ManualClock
from gateway.pipeline.processor import Processor
from gateway.records import DecodeOutcome
from gateway.site import load_site_file
from tests.e2e.helpers import fix_at, post_points, roster_site
from tests.integration.test_site_load_mid_shift import (
    GUARD,
    at,
    core_events,
    on_post_until_half_past_ten,
)
from tests.ledger.patrol_scenario import GATE, PATROLLER, patrol_site


def _with_clock_in_terminal(tmp_path: Path) -> Path:
    """The one-guard site with a clock-in terminal at his post and his PIN on it."""
    folder = tmp_path / "terminal"
    folder.mkdir()
    path = roster_site(folder, [GUARD])
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    site = doc["sites"][0]
    site["devices"].append(
        {"id": "zk-gate", "kind": "clock_in", "post": GUARD[1], "sn": "ZKNEW0001"}
    )
    for guard in site["guards"]:
        guard["pin"] = "1001"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_a_clock_in_terminal_installed_at_10_30_expects_a_check_in_by_10_45(
    engine: Engine, tmp_path: Path
) -> None:
    gateway, gate = on_post_until_half_past_ten(engine, tmp_path)
    gateway.load(_with_clock_in_terminal(tmp_path), 150)
    gateway.run(150, 200, gate.inside)
    # Before, the first tick raised alert.late_clock_in dated 08:15 for the whole shift.
    assert [(kind, when) for kind, when, _ in core_events(engine)] == [
        ("presence.arrived", at(0)),
        ("alert.late_clock_in", at(165)),
    ]


def _without_routes(tmp_path: Path) -> Path:
    path = patrol_site(tmp_path)
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    del doc["sites"][0]["routes"]
    bare = tmp_path / "no-routes.yaml"
    bare.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return bare


def test_a_route_added_at_08_50_plans_its_rounds_from_then(engine: Engine, tmp_path: Path) -> None:
    # The patrol site (rounds at 08:30 and 09:30 over three checkpoints), first without its
    # route; the route is added by a load at 08:50. Nobody scans.
    (tmp_path / "bare").mkdir()
    (tmp_path / "full").mkdir()
    load_site_file(_without_routes(tmp_path / "bare"), engine, at(-60))
    where = {post: post_points(engine, post).inside for _, post, _ in (PATROLLER, GATE)}
    clock = ManualClock(at(-1))
    processor = Processor(engine, clock)
    for minute in range(0, 115):
        clock.set(at(minute + 0.1))
        if minute == 50:
            load_site_file(patrol_site(tmp_path / "full"), engine, clock.now())
            read = processor.read_roster(quick=True)
            assert read is not None and processor.adopt_roster(read)
        fixes = tuple(
            fix_at(device, at(minute), where[post]) for _, post, device in (PATROLLER, GATE)
        )
        processor.process_outcomes([DecodeOutcome(fixes=fixes)])
        processor.tick()
    missed = [when for kind, when, _ in core_events(engine) if kind == "alert.checkpoint_missed"]
    # Not the 08:30 round's three (35, 40 and 45 minutes): the route did not exist then.
    assert missed == [at(95), at(100), at(105)]
