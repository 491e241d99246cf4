"""The presence rules as a table of scenarios: what the guard did, what the gateway says.

Offsets are seconds from the shift start; a terminal reports every 30 s unless a scenario says
otherwise. The guard is on post from five minutes before the shift starts (``ON_POST``) and the
departure, if any, begins with the first fix outside at 0 s.
"""

from __future__ import annotations

import pytest

from gateway.policy import SitePolicy

from .scenario import (
    Build,
    Scenario,
    Script,
    cancel,
    inside,
    leave,
    outside,
    report,
    track,
    uncertain,
)

ON_POST = track(-300, -30, inside)
DEPARTED = ("presence.departed", 0.0)
UNREPORTED = ("alert.unreported_departure", 0.0)
OVERTIME = ("alert.overtime_departure", 900.0)


def out_and_back(back_s: float, until_s: float = 1800) -> list[tuple[float, Build]]:
    """Off post from 0 to just before ``back_s``, then on post again until ``until_s``."""
    return [*track(0, back_s - 30, outside), *track(back_s, until_s, inside)]


SCENARIOS: dict[str, tuple[Script, float, list[tuple[str, float]]]] = {
    "unreported_departure_of_14_minutes_raises_only_unreported": (
        [*ON_POST, *out_and_back(840)],
        1800,
        [DEPARTED, UNREPORTED, ("presence.returned", 840.0)],
    ),
    "unreported_departure_of_16_minutes_raises_unreported_and_overtime": (
        [*ON_POST, *out_and_back(960)],
        1800,
        [DEPARTED, UNREPORTED, OVERTIME, ("presence.returned", 960.0)],
    ),
    "reported_departure_of_14_minutes_raises_nothing": (
        [*ON_POST, (-20, report("r1")), *out_and_back(840)],
        1800,
        [DEPARTED, ("presence.returned", 840.0)],
    ),
    "reported_departure_of_16_minutes_raises_overtime": (
        [*ON_POST, (-20, report("r1")), *out_and_back(960)],
        1800,
        [DEPARTED, OVERTIME, ("presence.returned", 960.0)],
    ),
    "report_phoned_in_within_the_grace_after_leaving_covers_the_departure": (
        [*ON_POST, (100, report("r1")), *out_and_back(600)],
        1800,
        [DEPARTED, ("presence.returned", 600.0)],
    ),
    "report_phoned_in_after_the_grace_does_not_cover": (
        [*ON_POST, (150, report("r1")), *out_and_back(600)],
        1800,
        [DEPARTED, UNREPORTED, ("presence.returned", 600.0)],
    ),
    "report_filed_longer_ago_than_its_validity_does_not_cover": (
        [*ON_POST, (-1900, report("r1")), *out_and_back(600)],
        1800,
        [DEPARTED, UNREPORTED, ("presence.returned", 600.0)],
    ),
    "leave_approved_before_leaving_covers_a_25_minute_departure": (
        [*ON_POST, (-600, leave("L1", 0, 1800)), *out_and_back(1500), (1800, cancel("L1"))],
        2000,
        [DEPARTED, ("presence.returned", 1500.0), ("leave.cancelled", 1800.0)],
    ),
    "leave_overrun_when_still_off_post_at_the_leave_end": (
        [*ON_POST, (-600, leave("L1", 0, 1200)), *out_and_back(1500), (1600, cancel("L1"))],
        2000,
        [
            DEPARTED,
            ("alert.leave_overrun", 1200.0),
            ("presence.returned", 1500.0),
            ("leave.cancelled", 1600.0),
        ],
    ),
    "leave_not_cancelled_within_an_hour_of_return": (
        [*ON_POST, (-600, leave("L1", 0, 1800)), *out_and_back(1500, until_s=5400)],
        5400,
        [DEPARTED, ("presence.returned", 1500.0), ("alert.leave_not_cancelled", 5100.0)],
    ),
    "leave_cancelled_59_minutes_after_return_is_in_time": (
        [
            *ON_POST,
            (-600, leave("L1", 0, 1800)),
            *out_and_back(1500, until_s=5400),
            (5040, cancel("L1")),
        ],
        5400,
        [DEPARTED, ("presence.returned", 1500.0), ("leave.cancelled", 5040.0)],
    ),
    "silence_while_off_post_still_raises_overtime_on_the_clock": (
        [*ON_POST, *track(0, 120, outside), (1000, outside)],
        1000,
        [
            DEPARTED,
            UNREPORTED,
            ("alert.device_silent", 720.0),
            OVERTIME,
            ("presence.device_resumed", 1000.0),
        ],
    ),
    "jitter_at_the_boundary_never_confirms_a_departure": (
        [*ON_POST, *track(0, 1800, uncertain, every_s=10)],
        1800,
        [],
    ),
    "a_50_second_excursion_is_not_a_departure": (
        [*ON_POST, (0, outside), (30, outside), (50, inside), *track(80, 1800, inside)],
        1800,
        [],
    ),
    "uncertain_fixes_while_outside_keep_the_guard_outside": (
        [*ON_POST, *track(0, 60, outside), *track(90, 600, uncertain), *track(630, 900, inside)],
        900,
        [DEPARTED, UNREPORTED, ("presence.returned", 630.0)],
    ),
    "guard_arriving_after_the_grace_is_absent_at_shift_start": (
        [*track(0, 870, outside), *track(900, 1200, inside)],
        1200,
        [("alert.absent_at_shift_start", 600.0), ("presence.arrived", 900.0)],
    ),
    "guard_arriving_within_the_grace_is_not_absent": (
        [*track(0, 270, outside), *track(300, 1200, inside)],
        1200,
        [("presence.arrived", 300.0)],
    ),
    "a_silent_terminal_is_reported_from_the_shift_start": (
        [(900, inside), *track(930, 1200, inside)],
        1200,
        [
            ("alert.absent_at_shift_start", 600.0),
            ("alert.device_silent", 600.0),
            ("presence.device_resumed", 900.0),
            ("presence.arrived", 900.0),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_presence_scenario(name: str) -> None:
    script, until_s, expected = SCENARIOS[name]
    scenario = Scenario(policy=SitePolicy()).run(script)
    scenario.advance(until_s)
    skip = () if any(t == "presence.arrived" for t, _ in expected) else ("presence.arrived",)
    assert scenario.pairs(skip=skip) == expected
