"""End to end, two devices per guard (docs/presence-rules.md, "Two devices per guard"): the
guard is where his worn, moving device is; a device left still on the post is reported and the
return resolves it; a tracker whose clock lags the phone's is still heard.

g-001 keeps the north gate 08:00-20:00 wearing two terminals in different wire formats. The
terminals are ``fwsim`` scenario terminals publishing over the rig's broker; the alerts are read
back through the real HTTP API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.hard_cases import (
    ApiFactory,
    RigFactory,
    api,
    at,
    core_events,
    of,
    rig_factory,
    timeline,
)
from tests.e2e.rig import terminal

__all__ = ["api", "rig_factory"]  # the fixtures, used by name

POST = "jt-gate-north"
PHONE = "13800000001"  # gateway JSON, in his pocket
BADGE = "badge-001"  # NMEA, the company badge
TRACKER = "13900000002"  # JT/T 808, the tracker he wears (phone number without leading zeros)
OWNTRACKS = "zhangwei/phone"  # OwnTracks: <user>/<device> from the topic


def walks_out(away_s: float) -> list[dict[str, Any]]:
    """On post 5 min, out 250 m north at a run (outside within 30 s), away ``away_s``, back at a
    run, on post 5 min."""
    return [
        {"stay": {"duration_s": 300}},
        {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
        {"stay_away": {"duration_s": away_s}},
        {"return": {"speed_mps": 5}},
        {"stay": {"duration_s": 300}},
    ]


def stays(duration_s: float) -> list[dict[str, Any]]:
    return [{"stay": {"duration_s": duration_s}}]


def test_badge_left_in_the_booth_does_not_hide_a_30_minute_absence(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, PHONE), ("g-001", POST, BADGE)])
    anchor = rig.anchors[POST]
    runner = rig.runner(
        [
            # Out at 08:05:00, first fix outside 08:05:30; away until 08:35:00; back by 08:36.
            terminal(PHONE, "json", anchor, walks_out(1750)),
            terminal(BADGE, "nmea", anchor, stays(2400), seed=2) | {"interval_s": 60},
        ]
    )
    rig.play(runner.end_time + timedelta(seconds=30))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(5.5)),
        ("alert.device_left_behind", at(5.5)),
        ("alert.unreported_departure", at(5.5)),
        ("alert.overtime_departure", at(20.5)),
        ("presence.returned", at(36)),
    ]
    assert all(e["data"]["backfilled"] is False and e["data"]["late"] is False for e in events)
    departed = of(events, "presence.departed")["data"]
    assert departed["device_id"] == PHONE
    left = of(events, "alert.device_left_behind")["data"]
    assert (left["left_device_id"], left["away_device_id"]) == (BADGE, PHONE)
    assert left["apart_m"] > 200
    returned = of(events, "presence.returned")["data"]
    assert returned["device_id"] == PHONE  # the badge's inside fixes said nothing about him
    assert returned["duration_s"] == 30.5 * 60

    alerts = api(rig).get("/alerts", params={"guard_id": "g-001"}).json()
    status = {a["type"]: (a["status"], a["resolution"]) for a in alerts}
    assert status == {
        "alert.device_left_behind": ("resolved", "ended"),
        "alert.unreported_departure": ("resolved", "ended"),
        "alert.overtime_departure": ("resolved", "ended"),
    }
    [left_alert] = [a for a in alerts if a["type"] == "alert.device_left_behind"]
    assert left_alert["resolved_at"] == at(36).isoformat()
    counters = rig.counters()
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values())


def test_a_jt808_tracker_whose_clock_lags_90_s_behind_the_owntracks_phone_is_still_heard(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", POST, TRACKER), ("g-001", POST, OWNTRACKS)])
    anchor = rig.anchors[POST]
    phone = rig.runner(
        [
            # Left in the booth all along.
            terminal(
                "phone",
                "owntracks",
                anchor,
                stays(2400),
                options={"user": "zhangwei", "device": "phone"},
            )
            | {"interval_s": 60},
        ]
    )
    # The tracker's clock runs 90 s behind: its fix dated 08:00:00 goes out at 08:01:30.
    tracker = rig.runner(
        [terminal(TRACKER, "jt808", anchor, walks_out(1200), seed=3, start_offset_s=90)],
        clock_lag_s=90,
    )
    rig.play(max(phone.end_time, tracker.end_time) + timedelta(seconds=30))
    events = core_events(rig)

    # Dated by the tracker's own clock: first outside fix 08:05:30, first inside 08:27:00.
    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(5.5)),
        ("alert.device_left_behind", at(5.5)),
        ("alert.unreported_departure", at(5.5)),
        ("alert.overtime_departure", at(20.5)),
        ("presence.returned", at(27)),
    ]
    assert of(events, "presence.arrived")["data"]["device_id"] == OWNTRACKS
    assert of(events, "presence.departed")["data"]["device_id"] == TRACKER
    left = of(events, "alert.device_left_behind")["data"]
    assert (left["left_device_id"], left["away_device_id"]) == (OWNTRACKS, TRACKER)
    overtime = of(events, "alert.overtime_departure")["data"]
    # Fired on the gateway's clock when due, not when a lagging fix showed it.
    assert overtime["late"] is False and overtime["detected_at"] == at(20.5).isoformat()
    assert of(events, "presence.returned")["data"]["device_id"] == TRACKER
    counters = rig.counters()
    stored = sum(s.fixes for r in (phone, tracker) for s in r.stats().values())
    assert counters["fixes.stored"] == stored
    assert not [k for k in counters if k.startswith(("rejected.", "dropped."))]


def test_a_badge_out_with_him_whose_fixes_come_3_minutes_late_is_not_left_behind(
    rig_factory: RigFactory,
) -> None:
    rig = rig_factory([("g-001", POST, PHONE), ("g-001", POST, BADGE)])
    anchor = rig.anchors[POST]
    phone = rig.runner([terminal(PHONE, "json", anchor, walks_out(1200))])
    # The badge walks out with him, but each of its fixes reaches the gateway 3 minutes after
    # it was taken: when the phone confirms the departure, the badge's newest fix (taken
    # before he left) still lies on the post.
    badge = rig.runner(
        [
            terminal(BADGE, "nmea", anchor, walks_out(1200), seed=2, start_offset_s=180)
            | {"interval_s": 60}
        ],
        clock_lag_s=180,
    )
    rig.play(max(phone.end_time, badge.end_time) + timedelta(seconds=30))
    events = core_events(rig)

    types = [kind for kind, _ in timeline(events, "g-001")]
    assert "alert.device_left_behind" not in types
    assert types == [
        "presence.arrived",
        "presence.departed",
        "alert.unreported_departure",
        "alert.overtime_departure",
        "presence.returned",
    ]
    assert of(events, "presence.departed")["data"]["device_id"] == PHONE
