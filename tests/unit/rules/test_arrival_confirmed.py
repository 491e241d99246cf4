"""An arrival is confirmed as a return is (docs/presence-rules.md, "Arriving"): one fix inside
among fixes outside (a terminal passing the post in a car) is no arrival, and the fixes
outside after it confirm no departure; a run of fixes inside is dated at its first.

Offsets are seconds from the shift start (08:00 of a 12-hour shift; the absence falls at 600 s).
The guard's phone (``PHONE``) reports every 60 s unless a case says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.rules import PresenceState
from geofence.membership import Membership

from .scenario import (
    DEVICE,
    SHIFT_S,
    T0,
    Build,
    Scenario,
    at,
    fix,
    inside,
    outside,
    restore,
    track,
)

PHONE = DEVICE
BADGE = "badge-3"
badge_in = fix(Membership.INSIDE, device=BADGE)
punch = fix(Membership.INSIDE, device=BADGE, worn=False)


@dataclass
class Case:
    script: list[tuple[float, Build]]
    until_s: float
    expected: list[tuple[str, float]]
    devices: tuple[str, ...] = (PHONE,)


def every_minute(start_s: float, end_s: float, build: Build) -> list[tuple[float, Build]]:
    return track(start_s, end_s, build, every_s=60)


CASES: dict[str, Case] = {
    "a_terminal_driven_past_the_post_is_no_arrival_and_no_departure": Case(
        # On the road, past the gate at 08:02 (one fix), parked outside, on post at 08:12.
        [
            *every_minute(-120, 60, outside),
            (120, inside),
            *every_minute(180, 660, outside),
            *every_minute(720, 1800, inside),
        ],
        1800,
        [("alert.absent_at_shift_start", 600.0), ("presence.arrived", 720.0)],
    ),
    "sparse_fixes_at_07_59_and_08_03_inside_are_on_time": Case(
        [(-300, outside), (-60, inside), *track(180, 1800, inside, every_s=240)],
        1800,
        [("presence.arrived", -60.0)],
    ),
    "one_fix_inside_before_the_start_then_silence_is_an_arrival_and_a_silence": Case(
        # The terminal dies in the booth: the wait for its next fix (one interval, 30 s more)
        # confirms the arrival at its one fix inside.
        [(-120, outside), (-60, inside)],
        1800,
        [("presence.arrived", -60.0), ("alert.device_silent", 600.0)],
    ),
    "a_terminal_first_heard_inside_then_quiet_arrives_him_before_the_absence": Case(
        # No fix before it to tell the interval: the longest wait, 10 minutes, still before
        # the absence falls.
        [(-60, inside)],
        1800,
        [("presence.arrived", -60.0), ("alert.device_silent", 600.0)],
    ),
    "an_arrival_just_before_the_absence_confirmed_after_it_raises_no_absence": Case(
        [*every_minute(-300, 540, outside), *every_minute(590, 1800, inside)],
        1800,
        [("presence.arrived", 590.0)],
    ),
    "one_fix_inside_just_before_the_absence_then_outside_lets_it_fall_at_its_time": Case(
        [
            *every_minute(-300, 540, outside),
            (590, inside),
            *every_minute(650, 830, outside),
            *every_minute(890, 1800, inside),
        ],
        1800,
        [("alert.absent_at_shift_start", 600.0), ("presence.arrived", 890.0)],
    ),
    "a_punch_at_the_post_is_an_arrival_on_its_own": Case(
        # His phone, on the road until 08:00, then off.
        [*every_minute(-300, 0, outside), (120, punch)],
        1800,
        [("presence.arrived", 120.0), ("alert.device_silent", 720.0)],
        devices=(PHONE, BADGE),
    ),
    "a_punch_confirms_the_fix_inside_before_it": Case(
        [*every_minute(-300, -120, outside), (-60, inside), (-30, punch)],
        1800,
        [("presence.arrived", -60.0), ("alert.device_silent", 600.0)],
        devices=(PHONE, BADGE),
    ),
    "the_badge_arrives_him_when_the_phone_only_drove_past": Case(
        [
            *every_minute(-300, 60, outside),
            (120, inside),
            (180, outside),  # then the phone, left in the car, dies
            *every_minute(130, 1800, badge_in),
        ],
        1800,
        [("presence.arrived", 130.0)],
        devices=(PHONE, BADGE),
    ),
}


def _play(case: Case) -> Scenario:
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", case.devices, T0, at(SHIFT_S)
    )
    scenario = Scenario(state=state).run(case.script)
    scenario.advance(case.until_s)
    return scenario


@pytest.mark.parametrize("name", list(CASES))
def test_arrival_case(name: str) -> None:
    case = CASES[name]
    assert _play(case).pairs(skip=()) == case.expected


def test_the_absence_a_fix_outside_lets_fall_is_dated_at_its_deadline_and_not_late() -> None:
    name = "one_fix_inside_just_before_the_absence_then_outside_lets_it_fall_at_its_time"
    scenario = _play(CASES[name])
    [absent] = scenario.only("alert.absent_at_shift_start")
    assert absent.data["detected_at"] == at(650).isoformat()  # the fix outside that told
    assert (absent.data["late"], absent.data["backfilled"]) == (False, False)
    [arrived] = scenario.only("presence.arrived")
    assert arrived.resolves == (absent.alert_key,)


def test_an_arrival_confirmed_by_the_next_fix_is_detected_then_and_dated_at_the_first() -> None:
    scenario = _play(
        CASES["an_arrival_just_before_the_absence_confirmed_after_it_raises_no_absence"]
    )
    [arrived] = scenario.only("presence.arrived")
    assert arrived.time == at(590)
    assert arrived.data["detected_at"] == at(650).isoformat()
    assert (arrived.data["late"], arrived.data["backfilled"]) == (False, False)


def test_an_arrival_waiting_for_its_next_fix_survives_a_restart() -> None:
    scenario = Scenario().run([(-120, outside), (-60, inside)])
    scenario.state = restore(scenario.state)
    scenario.run([(0, inside)])
    assert scenario.timed("presence.arrived", "arrived_at") == [(-60.0, at(-60).isoformat())]
