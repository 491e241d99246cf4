"""End to end, a terminal passing through the post is no arrival (docs/presence-rules.md,
"Arriving"): an arrival is confirmed as a return is, so one fix inside among fixes outside
(a guard late for his shift, driving past the gate before he parks) neither arrives him nor
lets the fixes outside that follow confirm a departure he never made.

g-001 keeps the north gate 08:00-20:00; his terminal (gateway JSON) reports once a minute,
published here fix by fix so each lands where the case needs it.
"""

from __future__ import annotations

from datetime import datetime

from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json, json_topic
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.helpers import post_points

__all__ = ["rig_factory"]  # the fixture, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
DRIVING_MPS = 16.7  # 60 km/h
WALKING_MPS = 1.2


def _fix(minute: int, where: tuple[float, float], speed_mps: float) -> SimFix:
    lon, lat = where
    return SimFix(DEVICE, at(minute), lat, lon, 8.0, speed_mps, 0.0, 25.0, 9, 90.0)


def test_a_terminal_driven_past_the_post_is_no_arrival_followed_by_a_departure(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    points = post_points(rig.engine, POST, away_m=400)
    # Late for 08:00, he drives in: on the road at 08:00 and 08:01, past the gate at 08:02
    # (one fix inside, at 60 km/h), parked 400 m on from 08:03, walking back on post at 08:12.
    fixes = {m: _fix(m, points.outside, DRIVING_MPS) for m in (0, 1)}
    fixes[2] = _fix(2, points.inside, DRIVING_MPS)
    fixes |= {m: _fix(m, points.outside, WALKING_MPS) for m in range(3, 12)}
    fixes |= {m: _fix(m, points.inside, WALKING_MPS) for m in range(12, 31)}
    due = {fix.time: fix for fix in fixes.values()}

    def terminal(now: datetime) -> None:
        if now in due:
            rig.publish(json_topic(DEVICE), encode_json(due[now]))

    rig.play(at(31), at_step=terminal)
    events = core_events(rig)

    # Before, 08:02 was his arrival and 08:03-08:04 outside a departure: an unreported
    # departure for an outing he never made, and his lateness hidden.
    assert timeline(events, "g-001") == [
        ("alert.absent_at_shift_start", at(10)),
        ("presence.arrived", at(12)),  # the first fix inside of the run that held
    ]
    absent = of(events, "alert.absent_at_shift_start")
    arrived = of(events, "presence.arrived")["data"]
    assert arrived["after_shift_start_s"] == 12 * 60
    assert (absent["data"]["backfilled"], absent["data"]["late"]) == (False, False)
    assert (arrived["backfilled"], arrived["late"]) == (False, False)
