"""End to end, an SOS is never lost (docs/presence-rules.md, "SOS (紧急求助)"): not for a
missing GNSS fix, not because a filter drops the position it came with, not off duty; one
``alert.sos`` per emergency, carrying the best position known and how good it is.

Each guard's terminal is an ``fwsim`` scenario terminal on the rig's broker; the SOS messages
are published on the terminal's own topic as the terminal sends them: gateway JSON written
here by hand, a JT/T 808 frame built with the simulator's encoder (never the gateway's). Every
emergency sends its SOS twice, ten seconds apart: one alert each time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from fwsim.gps import jt808 as sim
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.rig import Rig, terminal

__all__ = ["rig_factory"]  # the fixture, used by name

SOS_AT = (at(5) + timedelta(seconds=10), at(5) + timedelta(seconds=20))
"""08:05:10 and 08:05:20: the guard presses the button, then again."""


def on_post(rig: Rig, guard: str, post: str, device: str, fmt: str = "json") -> None:
    """``guard``'s terminal reports from his post every 30 s, 08:00-08:10."""
    rig.runner([terminal(device, fmt, rig.anchors[post], [{"stay": {"duration_s": 600}}])])


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def sos_json(when: datetime, **position: Any) -> bytes:
    """A gateway JSON message with the SOS alarm (and ``position`` fields, if any)."""
    return json.dumps({"time": iso(when), **position, "alarms": ["sos"]}).encode()


def press(rig: Rig, topic: str, payload: Callable[[datetime], bytes]) -> Callable[[datetime], None]:
    """An ``at_step`` publishing ``payload(t)`` on ``topic`` at each of ``SOS_AT``."""

    def step(now: datetime) -> None:
        if now in SOS_AT:
            rig.publish(topic, payload(now))

    return step


def sos_of(rig: Rig, guard: str, expected: list[tuple[str, datetime]]) -> dict[str, Any]:
    """Check ``guard``'s events are ``expected``, nobody else's exist, and one SOS was counted;
    return the ``alert.sos``."""
    events = core_events(rig)
    assert timeline(events, guard) == expected
    assert {e["subject"] for e in events} == {guard}
    assert rig.counters()["alarms.sos"] == 1
    sos = of(events, "alert.sos", guard)
    assert sos["data"]["guard_id"] == guard and sos["data"]["backfilled"] is False
    return sos


def test_an_sos_without_a_fix_from_a_guard_indoors_carries_his_last_accepted_position(
    rig_factory: RigFactory,
) -> None:
    device = "13800000001"
    rig = rig_factory([("g-001", "jt-gate-north", device)])
    on_post(rig, "g-001", "jt-gate-north", device)
    # No lat/lon: the terminal has no fix indoors.
    rig.play(at(10), at_step=press(rig, f"devices/{device}/json", sos_json))

    sos = sos_of(rig, "g-001", [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])])
    data = sos["data"]
    assert data["on_duty"] is True and data["post_id"] == "jt-gate-north"
    assert data["shift_id"] is not None and data["device_id"] == device
    position = data["position"]
    assert position["quality"] == "last_accepted"
    assert position["time"] == at(5).isoformat() and position["age_s"] == 10.0
    assert position["lon"] is not None and position["lat"] is not None


def test_an_sos_whose_position_is_dropped_for_poor_accuracy_is_raised_with_that_position(
    rig_factory: RigFactory,
) -> None:
    device = "13800000002"
    rig = rig_factory([("g-002", "jt-gate-east", device)])
    on_post(rig, "g-002", "jt-gate-east", device)
    lon, lat = rig.anchors["jt-gate-east"]

    def blurred(when: datetime) -> bytes:  # a Wi-Fi/cell position, 500 m accuracy
        return sos_json(when, lat=lat, lon=lon, accuracy_m=500)

    rig.play(at(10), at_step=press(rig, f"devices/{device}/json", blurred))

    sos = sos_of(rig, "g-002", [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])])
    position = sos["data"]["position"]
    assert (position["quality"], position["dropped_because"]) == ("fix_dropped", "poor_accuracy")
    assert position["accuracy_m"] == 500 and position["time"] == SOS_AT[0].isoformat()
    assert rig.counters()["dropped.poor_accuracy"] == 2  # both positions, never the alarm


def test_an_sos_from_an_off_duty_guard_of_the_night_team_is_raised_for_him(
    rig_factory: RigFactory,
) -> None:
    device = "13800000006"
    # g-006 keeps the north gate at night (20:00-08:00); at 08:05 he is off duty.
    rig = rig_factory([("g-006", "jt-gate-north", device)], hours={"g-006": ("20:00", "08:00")})
    lon, lat = rig.anchors["jt-gate-north"]

    def on_his_way_home(when: datetime) -> bytes:
        return sos_json(when, lat=lat + 0.01, lon=lon, accuracy_m=10)

    rig.play(at(10), at_step=press(rig, f"devices/{device}/json", on_his_way_home))

    sos = sos_of(rig, "g-006", [("alert.sos", SOS_AT[0])])
    data = sos["data"]
    assert data["on_duty"] is False
    assert (data["shift_id"], data["post_id"]) == (None, None)
    assert data["site_id"] == "wh-jiangtan-garden"  # his leaders are found through his site
    position = data["position"]
    # Its own position, which no filter judged (off duty).
    assert position["quality"] == "fix_unchecked"
    assert position["lat"] == pytest.approx(lat + 0.01)
    # No location is kept off duty: the positions are dropped, the alarm is not.
    assert rig.counters()["dropped.off_duty"] == 2


def test_a_jt808_report_with_the_emergency_bit_and_no_fix_raises_one_sos(
    rig_factory: RigFactory,
) -> None:
    device = "13800000003"
    rig = rig_factory([("g-003", "jt-garage-b1", device)])
    on_post(rig, "g-003", "jt-garage-b1", device, fmt="jt808")
    lon, lat = rig.anchors["jt-garage-b1"]

    def emergency_not_located(when: datetime) -> bytes:
        # Alarm bit 0 (emergency) set, status bit 1 (located) clear: down in the garage the
        # terminal has no fix and sends the last position it knew.
        body = sim.LocationBody(
            alarm=sim.ALARM_SOS,
            status=0,
            lat_e6=round(lat * 1e6),
            lon_e6=round(lon * 1e6),
            altitude_m=0,
            speed_0_1kmh=0,
            direction_deg=0,
            time=when,
        )
        serial = 0x7000 + SOS_AT.index(when)
        return sim.build_frame(
            sim.MSG_LOCATION, sim.bcd_phone(device), serial, sim.location_body(body)
        )

    rig.play(at(10), at_step=press(rig, f"devices/{device}/jt808", emergency_not_located))

    sos = sos_of(rig, "g-003", [("presence.arrived", at(0)), ("alert.sos", SOS_AT[0])])
    data = sos["data"]
    assert data["on_duty"] is True and data["post_id"] == "jt-garage-b1"
    position = data["position"]
    assert position["quality"] == "terminal_last_known"
    assert (position["lat"], position["lon"]) == (round(lat, 6), round(lon, 6))
    assert not [k for k in rig.counters() if k.startswith("rejected.")]
