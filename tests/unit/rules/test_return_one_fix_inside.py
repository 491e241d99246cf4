"""One fix inside among fixes outside is not a return until its device's next fix says so
(``gateway.rules.deadlines._return_due``): a position error (multipath) inside the post during
an outing otherwise ended it, and the outing that went on was a second departure, without the
report the first had used. A departure already needs two fixes outside; a return now needs the
device's next fix too, or its silence for an interval.
"""

from __future__ import annotations

from gateway.policy import SitePolicy
from gateway.rules import PresenceState
from tests.unit.rules.scenario import (
    DEVICE,
    SHIFT_S,
    T0,
    Build,
    Scenario,
    at,
    inside,
    outside,
    report,
    track,
)

QUIET = ("presence.arrived", "alert.device_silent")
"""His arrival, and the silence after the scripts' last fix, are not what is tested."""


def _day(script: list[tuple[float, Build]]) -> Scenario:
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", (DEVICE,), T0, at(SHIFT_S)
    )
    scenario = Scenario(policy=SitePolicy(), state=state).run(script)
    scenario.advance(3600)
    return scenario


def test_one_inside_outlier_among_sparse_fixes_does_not_end_a_reported_outing() -> None:
    # A fix every 3 minutes; reported at 08:14:50, out 08:15-08:36 (21 minutes); one
    # multipath fix at 08:24 lands inside the post.
    scenario = _day(
        [
            *track(-300, -30, inside),
            *track(0, 720, inside, every_s=180),
            (890, report("r1")),
            *track(900, 1260, outside, every_s=180),
            (1440, inside),
            *track(1620, 2000, outside, every_s=180),
            *track(2160, 2700, inside, every_s=180),
        ]
    )
    assert scenario.pairs(skip=QUIET) == [
        ("presence.departed", 900.0),
        ("alert.overtime_departure", 1800.0),
        ("presence.returned", 2160.0),
    ]


def test_one_inside_outlier_among_fixes_every_30_s_does_not_end_the_outing() -> None:
    scenario = _day(
        [
            *track(-300, 570, inside),
            (590, report("r1")),
            *track(600, 870, outside),
            (900, inside),
            *track(930, 1200, outside),
            *track(1230, 1500, inside),
        ]
    )
    assert scenario.pairs(skip=QUIET) == [
        ("presence.departed", 600.0),
        ("presence.returned", 1230.0),
    ]


def test_a_return_whose_terminal_then_goes_quiet_is_confirmed_an_interval_later() -> None:
    # Back at 08:19 on a terminal reporting every 3 minutes, which then dies: the return is
    # his, confirmed once the next fix would have come (3 minutes and the 30 s to spare).
    scenario = _day(
        [
            *track(-300, 570, inside),
            (590, report("r1")),
            *track(600, 1020, outside, every_s=180),
            (1140, inside),
        ]
    )
    [returned] = scenario.only("presence.returned")
    assert returned.time == at(1140)
    assert returned.data["detected_at"] == at(1140 + 180 + 30).isoformat()
