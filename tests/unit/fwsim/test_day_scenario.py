"""Site-day scenario files: times of day, posts, per-step reception, actions and expectations."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fwsim.gps.motion import latlon_to_offset
from fwsim.scenario.day_spec import load_day_scenario, parse_day_scenario
from fwsim.scenario.expect import judge, render_table
from fwsim.scenario.model import ScenarioError
from fwsim.scenario.plan import plan_terminal

SCENARIOS = Path(__file__).resolve().parents[3] / "firmware-sim" / "scenarios"
SITE = SCENARIOS / "sites" / "riverside-plaza.yaml"


def _doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "site": str(SITE),
        "date": "2026-03-02",
        "start": "07:58",
        "end": "08:30",
        "terminals": [
            {
                "device_id": "13800000001",
                "format": "json",
                "post": "rp-gate-north",
                "at": "07:59:00",
                "seed": 1,
                "timeline": [
                    {"stay": {"until": "08:10"}},
                    {"stay": {"until": "08:20", "accuracy_m": 600, "noise_m": 250}},
                    {"stay": {"until": "08:30"}},
                ],
            }
        ],
    }
    doc.update(extra)
    return doc


def test_times_of_day_become_instants_in_the_zone_and_steps_end_at_their_until() -> None:
    day = parse_day_scenario(_doc())
    assert day.start == datetime(2026, 3, 1, 23, 58, tzinfo=UTC)
    assert day.end == datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert day.gps is not None
    (terminal,) = day.gps.terminals
    assert terminal.start_offset_s == 60.0
    assert terminal.anchor == (30.5928, 114.3055)  # the post's circle centre (WGS-84)
    plan = plan_terminal(terminal, day.start)
    assert plan[0].at == datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert plan[-1].at == day.end  # 31 minutes at 30 s, both ends included
    assert len(plan) == 63


def test_a_cell_fallback_step_reports_its_accuracy_and_is_off_by_its_own_noise() -> None:
    day = parse_day_scenario(_doc())
    assert day.gps is not None
    plan = plan_terminal(day.gps.terminals[0], day.start)
    fixes = [json.loads(p.payload) for p in plan]
    cell = fixes[22:41]  # 08:10 to 08:19:30
    gps = fixes[:22]
    assert all(480 <= f["accuracy_m"] <= 720 for f in cell)
    assert all(f["accuracy_m"] <= 10 for f in gps)
    off = sorted(math.hypot(*latlon_to_offset(30.5928, 114.3055, f["lat"], f["lon"])) for f in cell)
    assert 60 < off[len(off) // 2] < 450  # the median error is the noise's, not the accuracy's


def test_a_time_before_the_start_is_the_next_day_as_for_a_night_shift() -> None:
    day = parse_day_scenario(_doc(start="19:58", end="00:30", terminals=[]))
    assert day.end == datetime(2026, 3, 2, 16, 30, tzinfo=UTC)


def test_every_problem_is_listed_with_its_place() -> None:
    doc = _doc(
        actions=[
            {"at": "8.10", "report": {"guard": "g-001", "by": "rp-leader"}},
            {"at": "08:12", "leave": {"guard": "g-001", "by": "rp-leader", "starts": "08:20"}},
            {"at": "08:13", "gateway": "reboot"},
        ],
        expect=[{"event": "presence.departed", "count": -1}],
    )
    doc["terminals"][0]["post"] = "nowhere"
    with pytest.raises(ScenarioError) as raised:
        parse_day_scenario(doc)
    assert raised.value.problems == [
        "terminals[0]: 'post' 'nowhere' is not a post of the site "
        "(rp-gate-north, rp-gate-south, rp-gate-east, rp-garden)",
        "terminals[0] (13800000001): 'anchor' {lat, lon} is required (a site-day file gives its "
        "'post')",
        "actions[0] 'at': a time of day is 'HH:MM' or 'HH:MM:SS', got '8.10'",
        "actions[1] (leave): 'ends' is required",
        "actions[2] (gateway): must be one of kill, stop, restart, got 'reboot'",
        "expect[0]: 'count' must be a whole number >= 0, got -1",
    ]


def test_every_shipped_site_day_scenario_loads() -> None:
    files = [p for p in SCENARIOS.glob("*.yaml") if "\nsite:" in p.read_text("utf-8")]
    assert len(files) >= 11
    for path in files:
        day = load_day_scenario(path)
        assert day.name == path.stem and day.expect


def _event(type_: str, at: str, guard: str = "g-001", **data: Any) -> dict[str, Any]:
    return {"type": type_, "time": f"2026-03-02T{at}Z", "subject": guard, "data": data}


def test_judging_claims_events_in_order_and_fails_missing_extra_and_unexpected_alerts() -> None:
    doc = _doc(
        expect=[
            {"event": "presence.departed", "guard": "g-001", "at": "08:10", "within_s": 60},
            {"event": "alert.unreported_departure", "count": 0},
            {"event": "presence.returned", "after": "08:20", "data": {"post_id": "rp-gate-north"}},
        ]
    )
    day = parse_day_scenario(doc)
    events = [
        _event("presence.departed", "00:10:30"),
        _event("presence.departed", "00:10:40"),  # once too often
        _event("alert.device_silent", "00:15:00"),
        _event("presence.returned", "00:21:00", post_id="rp-gate-south"),  # wrong post
    ]
    verdicts = judge(day.expect, events)
    assert [(v.passed, v.note) for v in verdicts] == [
        (False, "2 delivered, 1 expected"),
        (True, ""),
        (False, "0 delivered, 1 expected"),
        (False, "unexpected alert"),
        (True, "not expected (listed only)"),
    ]
    table = render_table(verdicts, day.zone)
    assert table.splitlines()[1].split() == [
        "FAIL",
        "presence.departed",
        "g-001",
        "08:09:00..08:11:00",
        "08:10:30",
        "presence.departed",
        "g-001;",
        "08:10:40",
        "presence.departed",
        "g-001",
        "2",
        "delivered,",
        "1",
        "expected",
    ]
    assert "08:15:00 alert.device_silent g-001" in table


def test_wands_join_the_site_for_the_day_and_their_actions_are_read() -> None:
    doc = _doc(
        wands=[
            {"id": "wand-g1", "guard": "g-001", "drift_s": 90},
            {"id": "wand-gate", "post": "rp-garden"},
        ],
        actions=[
            {"at": "08:06:30", "wand_touch": {"wand": "wand-g1", "tag": "0100A1B2C3"}},
            {"at": "08:22", "wand_download": {"wand": "wand-g1", "by": "rp-leader"}},
        ],
    )
    day = parse_day_scenario(doc)
    assert day.wands == {"wand-g1": 90.0, "wand-gate": 0.0}
    devices = day.site["sites"][0]["devices"]
    assert {"id": "wand-g1", "kind": "patrol_wand", "guard": "g-001"} in devices
    assert {"id": "wand-gate", "kind": "patrol_wand", "post": "rp-garden"} in devices
    assert [(a.kind, a.args) for a in day.actions] == [
        ("wand_touch", {"wand": "wand-g1", "tag": "0100A1B2C3"}),
        ("wand_download", {"wand": "wand-g1", "by": "rp-leader"}),
    ]


def test_a_wand_names_who_carries_it_and_a_clock_drift_that_is_a_number() -> None:
    doc = _doc(
        wands=[
            {"id": "w1"},
            {"id": "w2", "guard": "g-001", "post": "rp-garden"},
            {"id": "w3", "guard": "g-001", "drift_s": "fast"},
            {"id": "w4", "guard": "g-001", "colour": "red"},
        ],
        actions=[{"at": "08:10", "wand_touch": {"wand": "w1"}}],
    )
    with pytest.raises(ScenarioError) as raised:
        parse_day_scenario(doc)
    assert raised.value.problems == [
        "wands[0]: give the 'guard' who carries it or the 'post' that keeps it",
        "wands[1]: give the 'guard' who carries it or the 'post' that keeps it",
        "wands[2]: 'drift_s' must be a number, got 'fast'",
        "wands[3]: unknown key 'colour' (allowed: drift_s, guard, id, post)",
        "actions[0] (wand_touch): 'tag' is required",
    ]
