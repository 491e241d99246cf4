"""End to end, sparse fixes (docs/presence-rules.md, "Leaving the post"): one fix is never a
departure, so a multipath outlier among power-saving fixes three minutes apart raises nothing;
two fixes clearly outside, at least a minute apart, confirm a departure dated at the first.

g-001 keeps the north gate 08:00-20:00 with a power-saving terminal (gateway JSON, one fix
every 180 s) simulated by ``fwsim`` over the rig's broker.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from fwsim.gps.fix import SimFix
from fwsim.gps.gateway_json import encode_json, json_topic
from gateway.rules.holds import LIVE_HELD_S
from tests.e2e.hard_cases import RigFactory, at, core_events, of, rig_factory, timeline
from tests.e2e.helpers import post_points
from tests.e2e.rig import STEP_S, terminal

__all__ = ["rig_factory"]  # the fixture, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
EVERY_S = 180


def test_one_multipath_outlier_among_fixes_3_minutes_apart_raises_nothing(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    points = post_points(rig.engine, POST, away_m=400)
    # On post all along. Its fix of 08:15:00 is thrown 400 m north by multipath: the simulator
    # skips that fix (off for 3 minutes) and the test publishes the outlier in its place.
    runner = rig.runner(
        [
            terminal(
                DEVICE,
                "json",
                points.inside,
                [
                    {"stay": {"duration_s": 810}},
                    {"silent": {"duration_s": 180}},
                    {"stay": {"duration_s": 1800}},
                ],
            )
            | {"interval_s": EVERY_S}
        ]
    )
    lon, lat = points.outside
    outlier = SimFix(DEVICE, at(15), lat, lon, 8.0, 0.1, 0.0, 25.0, 9, 90.0)

    def multipath(now: datetime) -> None:
        if now == at(15):
            rig.publish(json_topic(DEVICE), encode_json(outlier))

    rig.play(runner.end_time + timedelta(seconds=30), at_step=multipath)
    events = core_events(rig)

    assert timeline(events, "g-001") == [("presence.arrived", at(0))]
    counters = rig.counters()
    # The outlier went through the filters (no jump at 2 m/s) and reached the rules as a fix
    # clearly outside: the rules, not a filter, refused to take it for a departure.
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values()) + 1
    assert not [k for k in counters if k.startswith(("rejected.", "dropped."))]


def test_sparse_fixes_clearly_outside_a_minute_apart_confirm_a_departure(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    runner = rig.runner(
        [
            terminal(
                DEVICE,
                "json",
                rig.anchors[POST],
                [
                    # Fixes at 08:00, 08:03 ... 08:12 on post; he runs out at 08:13:30.
                    {"stay": {"duration_s": 810}},
                    {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
                    # Fixes at 08:15, 08:18 and 08:21 outside; back at 08:23:30.
                    {"stay_away": {"duration_s": 500}},
                    {"return": {"speed_mps": 5}},
                    # Fixes from 08:24 on post.
                    {"stay": {"duration_s": 600}},
                ],
            )
            | {"interval_s": EVERY_S}
        ]
    )
    rig.play(runner.end_time + timedelta(seconds=30))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(15)),  # its first fix outside
        ("alert.unreported_departure", at(15)),
        ("presence.returned", at(24)),
    ]
    departed = of(events, "presence.departed")["data"]
    # Confirmed by the second fix outside, three minutes later: live, not backfilled. Three
    # minutes after the one before, that fix waits 5 s for positions the terminal may have
    # stored (gateway.rules.holds): judged at the rig's first step after 08:18:05.
    judged = (at(18) + timedelta(seconds=STEP_S * math.ceil(LIVE_HELD_S / STEP_S))).isoformat()
    assert departed["detected_at"] == judged
    assert departed["evidence_fixes"] == 2
    unreported = of(events, "alert.unreported_departure")["data"]
    # Due at 08:17 (the report grace), decided when the departure was confirmed.
    assert unreported["detected_at"] == judged
    for event in events:
        assert (event["data"]["backfilled"], event["data"]["late"]) == (False, False), event
    assert of(events, "presence.returned")["data"]["duration_s"] == 9 * 60
    assert not [k for k in rig.counters() if k.startswith(("rejected.", "dropped."))]
