"""What a scenario publishes, and when: departures, silence, SOS and blind-area batches."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fwsim.gps.motion import latlon_to_offset
from fwsim.scenario import load_scenario, parse_scenario, plan_scenario, plan_terminal
from fwsim.scenario.plan import Publication

SCENARIOS = Path(__file__).resolve().parents[3] / "firmware-sim" / "scenarios"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ANCHOR = {"lat": 30.5928, "lon": 114.3055}


def _one(fmt: str, timeline: list[dict[str, Any]], **extra: Any) -> list[Publication]:
    terminal = {
        "device_id": "13800000001",
        "format": fmt,
        "anchor": ANCHOR,
        "interval_s": 30,
        "seed": 4,
        "timeline": timeline,
        **extra,
    }
    scenario = parse_scenario({"terminals": [terminal]})
    return plan_terminal(scenario.terminals[0], T0)


def _distance_m(fix: dict[str, Any]) -> float:
    return math.hypot(*latlon_to_offset(ANCHOR["lat"], ANCHOR["lon"], fix["lat"], fix["lon"]))


def test_single_guard_departure_is_on_post_away_for_16_minutes_then_back() -> None:
    scenario = load_scenario(SCENARIOS / "single-guard-departure.yaml")
    plan = plan_scenario(scenario, T0)
    walk_s = 250.0 / 1.4
    total_s = 300 + walk_s + 960 + walk_s + 600
    assert len(plan) == math.floor(total_s / 30) + 1
    assert all(p.topic == "devices/13800000001/json" and p.kind == "fix" for p in plan)
    fixes = [json.loads(p.payload) for p in plan]
    assert fixes[0]["time"] == "2025-03-01T08:00:00Z"
    on_post = [f for p, f in zip(plan, fixes, strict=True) if p.at < T0 + timedelta(seconds=300)]
    away_from = T0 + timedelta(seconds=300 + walk_s)
    away = [
        f
        for p, f in zip(plan, fixes, strict=True)
        if away_from <= p.at < away_from + timedelta(seconds=960)
    ]
    back = fixes[-20:]
    assert len(on_post) == 10 and len(away) == 32
    assert all(_distance_m(f) < 40 for f in on_post + back)
    assert all(200 < _distance_m(f) < 300 for f in away)


def test_plan_is_the_same_for_the_same_seed_and_changes_with_the_override_seed() -> None:
    scenario = load_scenario(SCENARIOS / "all-formats.yaml")
    assert plan_scenario(scenario, T0) == plan_scenario(scenario, T0)
    assert plan_scenario(scenario, T0, seed=1) != plan_scenario(scenario, T0)


def test_all_formats_publish_on_their_topics_in_time_order() -> None:
    plan = plan_scenario(load_scenario(SCENARIOS / "all-formats.yaml"), T0)
    assert {p.topic for p in plan} == {
        "devices/13800000011/json",
        "owntracks/guard/13800000012",
        "devices/13800000013/nmea",
        "devices/13800000014/jt808",
        "devices/13800000015/jt808",
    }
    assert [p.at for p in plan] == sorted(p.at for p in plan)
    first_jt808 = [p for p in plan if p.device_id == "13800000014"][:2]
    assert [p.kind for p in first_jt808] == ["login", "fix"]
    login = first_jt808[0].login
    assert login is not None and login.downlink_topic == "devices/13800000014/jt808/down"
    assert plan_scenario(load_scenario(SCENARIOS / "all-formats.yaml"), T0)[0].at == T0
    nmea = next(p for p in plan if p.device_id == "13800000013").payload
    assert nmea.startswith(b"$GNRMC,080000.000,A,") and b"\r\n$GNGGA," in nmea
    hex_text = next(p for p in plan if p.device_id == "13800000015").payload
    assert hex_text.startswith(b"7e0200") and bytes.fromhex(hex_text.decode())[-1] == 0x7E


def test_silent_terminal_publishes_nothing_then_resumes_and_logs_in_again() -> None:
    plan = _one(
        "jt808",
        [
            {"stay": {"duration_s": 300}},
            {"silent": {"duration_s": 900}},
            {"stay": {"duration_s": 300}},
        ],
        options={"register": True},
    )
    silent_from, silent_to = T0 + timedelta(seconds=300), T0 + timedelta(seconds=1200)
    assert not [p for p in plan if silent_from < p.at < silent_to]
    at_resume = [p for p in plan if p.at == silent_to]
    assert [p.kind for p in at_resume] == ["login", "fix"]
    assert at_resume[0].payload[1:3].hex() == "0100"
    # 0..270 s before switching off at 300 s, then 1200..1500 s.
    assert sum(p.fixes for p in plan) == 10 + 11


def test_sos_marks_exactly_the_next_fixes() -> None:
    plan = _one(
        "json",
        [{"stay": {"duration_s": 65}}, {"sos": {"count": 2}}, {"stay": {"duration_s": 120}}],
    )
    alarms = [json.loads(p.payload).get("alarms") for p in plan]
    assert alarms == [None, None, None, ["sos"], ["sos"], None, None]


def test_sos_without_a_fix_replaces_the_fixes_it_marks_with_bare_alarms() -> None:
    plan = _one(
        "json",
        [
            {"stay": {"duration_s": 65}},
            {"sos": {"count": 1, "fix": False}},
            {"stay": {"duration_s": 60}},
        ],
    )
    messages = [json.loads(p.payload) for p in plan]
    assert [p.kind for p in plan] == ["fix", "fix", "fix", "alarm", "fix"]
    assert messages[3] == {"time": "2025-03-01T08:01:30Z", "battery_pct": 95.0, "alarms": ["sos"]}
    assert [p.fixes for p in plan] == [1, 1, 1, 0, 1]


def test_jt808_sos_without_a_fix_sends_the_last_known_position_not_located() -> None:
    plan = _one(
        "jt808",
        [{"stay": {"duration_s": 35}}, {"sos": {"fix": False}}, {"stay": {"duration_s": 30}}],
    )
    last_fix, alarm = plan[1].payload, plan[2].payload
    assert plan[2].kind == "alarm" and plan[2].fixes == 0
    # Body from byte 13: alarm DWORD, status DWORD, latitude, longitude.
    assert alarm[13:17].hex() == "00000001"  # SOS
    assert int.from_bytes(alarm[17:21], "big") & 0b10 == 0  # located bit clear
    assert alarm[21:29] == last_fix[21:29]  # the terminal's last known position


def test_formats_without_an_alarm_send_nothing_for_an_sos_without_a_fix() -> None:
    for fmt in ("nmea", "owntracks"):
        plan = _one(
            fmt,
            [{"stay": {"duration_s": 35}}, {"sos": {"fix": False}}, {"stay": {"duration_s": 30}}],
        )
        # Fixes at 0 and 30 s; the one at 60 s would have carried the SOS.
        assert [p.at for p in plan] == [T0, T0 + timedelta(seconds=30)]


def test_json_terminal_uploads_stored_fixes_as_one_batch_when_back_online() -> None:
    plan = _one(
        "json",
        [
            {"stay": {"duration_s": 60}},
            {"offline": {"duration_s": 600}},
            {"stay": {"duration_s": 60}},
        ],
    )
    reconnect = T0 + timedelta(seconds=660)
    assert not [p for p in plan if T0 + timedelta(seconds=60) < p.at < reconnect]
    batch = [p for p in plan if p.kind == "batch"]
    assert len(batch) == 1 and batch[0].at == reconnect and batch[0].fixes == 20
    times = [f["time"] for f in json.loads(batch[0].payload)["fixes"]]
    assert times[0] == "2025-03-01T08:01:00Z" and times[-1] == "2025-03-01T08:10:30Z"
    assert times == sorted(times)
    after = [p.kind for p in plan if p.at >= reconnect]
    assert after == ["batch", "fix", "fix", "fix"]


def test_jt808_terminal_uploads_stored_fixes_as_blind_area_0704() -> None:
    plan = _one("jt808", [{"offline": {"duration_s": 300}}, {"stay": {"duration_s": 30}}])
    (batch,) = [p for p in plan if p.kind == "batch"]
    assert batch.payload[1:3].hex() == "0704"
    assert batch.fixes == 10
    assert batch.payload[13:16].hex() == "000a01"  # 10 items, type 1 (blind-area re-upload)


def test_a_live_first_terminal_sends_where_it_is_before_what_it_stored() -> None:
    # JT/T 808 terminals may send the 0x0200 of now, then the 0x0704 of the outage.
    timeline = [{"offline": {"duration_s": 300}}, {"stay": {"duration_s": 30}}]
    plan = _one("jt808", timeline, upload_order="live_first")
    reconnect = T0 + timedelta(seconds=300)
    assert [(p.at, p.kind) for p in plan] == [
        (reconnect, "fix"),
        (reconnect, "batch"),
        (reconnect + timedelta(seconds=30), "fix"),
    ]
    assert [p.payload[1:3].hex() for p in plan] == ["0200", "0704", "0200"]
    # The same terminal by default: what it stored first.
    assert [p.kind for p in _one("jt808", timeline)] == ["batch", "fix", "fix"]


def test_owntracks_terminal_replays_stored_fixes_one_by_one_in_order() -> None:
    plan = _one("owntracks", [{"offline": {"duration_s": 300}}, {"stay": {"duration_s": 30}}])
    batch = [json.loads(p.payload)["tst"] for p in plan if p.kind == "batch"]
    assert len(batch) == 10 and batch == sorted(batch)
    assert [p.kind for p in plan][-2:] == ["fix", "fix"]


def test_start_offset_delays_a_terminal_power_on() -> None:
    plan = _one("json", [{"stay": {"duration_s": 60}}], start_offset_s=45)
    assert [p.at for p in plan] == [T0 + timedelta(seconds=s) for s in (45, 75, 105)]
