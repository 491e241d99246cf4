"""A site load during the day that adds a clock-in terminal or a patrol route holds the guards
already on duty to it from the load, not from their shift's start (``gateway.pipeline.new_duties``),
through the pipeline as ``guard-gateway run`` drives it: the roster read again and adopted, the
clock ticking. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import PatrolStateRow
from gateway.pipeline.processor import Processor
from gateway.site import load_site_file
from tests.e2e.helpers import roster_site
from tests.integration.test_site_load_mid_shift import (
    GUARD,
    at,
    core_events,
    on_post_until_half_past_ten,
)
from tests.ledger.patrol_scenario import PATROLLER, drive, patrol_data, patrol_site


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
    drive(engine, {50: patrol_site(tmp_path / "full")}, {})
    missed = [when for kind, when, _ in core_events(engine) if kind == "alert.checkpoint_missed"]
    # Not the 08:30 round's three (35, 40 and 45 minutes): the route did not exist then.
    assert missed == [at(95), at(100), at(105)]


def test_a_checkpoint_taken_off_the_route_at_08_50_is_not_missed_in_later_rounds(
    engine: Engine, tmp_path: Path
) -> None:
    # The patrol site's route over east, fountain and west; west's tag broke in the first
    # round, and a load at 08:50 takes it off the route. The guard scans what is left.
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    changed = patrol_site(tmp_path / "second")
    doc: dict[str, Any] = yaml.safe_load(changed.read_text("utf-8"))
    route = doc["sites"][0]["routes"][0]
    route["checkpoints"] = [c for c in route["checkpoints"] if c["checkpoint"] != "cp-west"]
    changed.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    scans = {31: "cp-east", 36: "cp-fountain", 91: "cp-east", 96: "cp-fountain"}
    drive(engine, {50: changed}, scans)
    events = core_events(engine)
    missed = [when for kind, when, _ in events if kind == "alert.checkpoint_missed"]
    assert missed == [at(45)]  # the first round's, before the load; before the fix also 09:45
    completed = [data for kind, _, data in patrol_data(engine) if kind == "patrol.round_completed"]
    assert [(c["scanned"], c["missed"]) for c in completed] == [(2, 1), (2, 0)]


def test_a_patrol_shift_shortened_at_08_50_drops_the_rounds_past_its_new_end(
    engine: Engine, tmp_path: Path
) -> None:
    # g-004's 08:00-10:00 shift now ends at 09:20: the 09:30 round no longer fits in it.
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    load_site_file(patrol_site(tmp_path / "first"), engine, at(-60))
    shorter = patrol_site(tmp_path / "second")
    doc: dict[str, Any] = yaml.safe_load(shorter.read_text("utf-8"))
    for shift in doc["sites"][0]["shifts"]:
        if shift["guard"] == PATROLLER[0]:
            shift["end"] = "09:20"
    shorter.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    drive(engine, {50: shorter}, {31: "cp-east", 36: "cp-fountain", 41: "cp-west"})
    kinds = [kind for kind, _, _ in patrol_data(engine)]
    # Before, his machine kept the 09:30 round and reported its three checkpoints missed.
    assert kinds == ["patrol.checkpoint_scanned"] * 3 + ["patrol.round_completed"]
    assert "alert.checkpoint_missed" not in [kind for kind, _, _ in core_events(engine)]


def test_a_route_taken_off_while_the_gateway_was_down_ends_its_machine_at_the_restart(
    engine: Engine, tmp_path: Path
) -> None:
    # The patrol site's route (rounds at 08:30 and 09:30); the gateway runs to 08:20 and stops;
    # a load at 08:22 takes the route off; a new process runs from 08:25 to 10:00. Nobody scans.
    load_site_file(patrol_site(tmp_path), engine, at(-60))
    clock = ManualClock(at(-1))
    first = Processor(engine, clock)
    for minute in range(0, 21):
        clock.set(at(minute + 0.1))
        first.tick()
    assert _open_patrol_machines(engine) == 1
    load_site_file(_without_routes(tmp_path), engine, at(22))
    clock.set(at(25))
    restarted = Processor(engine, clock)
    for minute in range(25, 121):
        clock.set(at(minute + 0.1))
        restarted.tick()
    # Before, the machine read back stayed open with the rounds of a route no longer on the
    # site; stepped by the clock without its plan, it raises their six missed alerts.
    assert [kind for kind, _, _ in core_events(engine) if "checkpoint" in kind] == []
    assert _open_patrol_machines(engine) == 0


def _open_patrol_machines(engine: Engine) -> int:
    with Session(engine) as session:
        states = session.scalars(select(PatrolStateRow.state)).all()
    return sum(1 for state in states if not state.get("closed"))
