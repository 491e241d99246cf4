"""End to end, reports typed in late (docs/presence-rules.md, "Reports (报备) and leaves"):
the report's own time decides, not when it was typed in, so a report the guard made before
leaving withdraws the unreported alert already delivered; an unused late report never covers
his next outing.

g-001 keeps the north gate 08:00-20:00 with a gateway JSON terminal simulated by ``fwsim``;
his leader types the reports into the real HTTP API (``POST /reports``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.hard_cases import (
    ApiFactory,
    RigFactory,
    api,
    approve_leave,
    at,
    core_events,
    of,
    rig_factory,
    timeline,
)
from tests.e2e.rig import terminal

__all__ = ["api", "rig_factory"]  # the fixtures, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"


def goes_out(at_s: float, away_s: float) -> list[dict[str, Any]]:
    """On post until ``at_s``, out 250 m north at a run (outside 30 s later), away, back."""
    return [
        {"stay": {"duration_s": at_s}},
        {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
        {"stay_away": {"duration_s": away_s}},
        {"return": {"speed_mps": 5}},
        {"stay": {"duration_s": 300}},
    ]


def test_a_report_made_before_leaving_but_typed_in_after_the_alert_withdraws_it(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    # Out at 08:10 (first fix outside 08:10:30), back on post at 08:19:00.
    runner = rig.runner([terminal(DEVICE, "json", rig.anchors[POST], goes_out(600, 420))])
    client = api(rig)
    rig.play(at(14))
    # The unreported alert (decided at 08:12:30) has reached the core.
    assert [t for t, _ in timeline(core_events(rig), "g-001")][-1] == "alert.unreported_departure"
    # At 08:14 the leader types the report the guard phoned in at 08:09:30. (Waiting for the
    # delivery may have moved the clock on a little: the entry time is what the clock says.)
    typed_at = rig.clock.now()
    assert at(14) <= typed_at < at(16)
    answer = client.post(
        "/reports",
        json={
            "guard_id": "g-001",
            "reported_at": (at(9.5)).isoformat(),
            "destination": "the pharmacy across the road",
            "reported_to": "jt-leader-a",
        },
    )
    assert answer.status_code == 201, answer.text
    report_id = answer.json()["id"]
    rig.play(runner.end_time + timedelta(seconds=30))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(10.5)),
        ("alert.unreported_departure", at(10.5)),
        ("alert.withdrawn", typed_at),  # dated when the report was typed in
        ("presence.returned", at(19)),
    ]
    unreported = of(events, "alert.unreported_departure")
    withdrawn = of(events, "alert.withdrawn")["data"]
    assert withdrawn["withdrawn_type"] == "alert.unreported_departure"
    assert withdrawn["reason"] == "report_on_record" and withdrawn["report_id"] == report_id
    assert withdrawn["reported_at"] == at(9.5).isoformat()
    assert withdrawn["entered_at"] == typed_at.isoformat()  # both times kept
    assert withdrawn["detected_at"] == typed_at.isoformat()
    assert of(events, "presence.returned")["data"]["report_id"] == report_id

    [alert] = client.get("/alerts", params={"guard_id": "g-001"}).json()
    assert alert["type"] == "alert.unreported_departure"
    assert (alert["status"], alert["resolution"]) == ("resolved", "withdrawn")
    assert alert["data"]["departure_id"] == withdrawn["departure_id"]
    assert alert["alert_key"] == withdrawn["withdrawn_key"]
    assert unreported["data"]["departure_id"] == withdrawn["departure_id"]


def test_an_unused_late_report_never_covers_the_next_departure(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    # On post until 08:30 (first fix outside 08:30:30), back on post at 08:37:00.
    runner = rig.runner([terminal(DEVICE, "json", rig.anchors[POST], goes_out(1800, 300))])
    client = api(rig)
    rig.play(at(16) + timedelta(seconds=40))
    # At 08:16:40 the leader types a report the guard made at 08:10; he did not go out then.
    answer = client.post("/reports", json={"guard_id": "g-001", "reported_at": at(10).isoformat()})
    assert answer.status_code == 201, answer.text
    rig.play(runner.end_time + timedelta(seconds=30))
    events = core_events(rig)

    # Made in time, the report would have covered a departure up to 08:40; typed in late, it
    # covers none that began after 08:18:40.
    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(30.5)),
        ("alert.unreported_departure", at(30.5)),
        ("presence.returned", at(37)),
    ]
    assert of(events, "presence.departed")["data"]["report_id"] is None
    assert of(events, "presence.returned")["data"]["report_id"] is None
    [alert] = client.get("/alerts", params={"guard_id": "g-001"}).json()
    assert (alert["type"], alert["status"], alert["resolution"]) == (
        "alert.unreported_departure",
        "resolved",
        "ended",
    )


def test_a_report_typed_in_late_withdraws_the_alert_though_a_later_leave_took_the_outing_over(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    # Out at 08:10 (first fix outside 08:10:30), back on post at 08:32.
    runner = rig.runner([terminal(DEVICE, "json", rig.anchors[POST], goes_out(600, 1200))])
    client = api(rig)
    rig.play(at(20))
    # At 08:20, while he is out, the leader approves a leave from 08:25 to 09:00: it takes the
    # outing over from the 15-minute mark (08:25:30), so no overtime; it covers no start.
    approve_leave(client, at(25), at(60), approved_at=at(20))
    rig.play(at(34))
    # At 08:34 the leader types the report the guard phoned in at 08:09:30.
    typed_at = rig.clock.now()
    answer = client.post(
        "/reports",
        json={
            "guard_id": "g-001",
            "reported_at": at(9.5).isoformat(),
            "reported_to": "jt-leader-a",
        },
    )
    assert answer.status_code == 201, answer.text
    rig.play(max(runner.end_time, at(36)) + timedelta(seconds=30))
    events = core_events(rig)

    # Before, the report was spent and withdrew nothing: the departure had a leave.
    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(10.5)),
        ("alert.unreported_departure", at(10.5)),
        ("presence.returned", at(32)),
        ("alert.withdrawn", typed_at),
    ]
    withdrawn = of(events, "alert.withdrawn")["data"]
    assert (withdrawn["withdrawn_type"], withdrawn["reason"]) == (
        "alert.unreported_departure",
        "report_on_record",
    )
    assert withdrawn["report_id"] == answer.json()["id"]
    alerts = client.get("/alerts", params={"guard_id": "g-001"}).json()
    assert [(a["type"], a["status"], a["resolution"]) for a in alerts] == [
        ("alert.unreported_departure", "resolved", "withdrawn")
    ]


def test_a_leave_typed_in_while_his_terminal_is_in_a_blind_area_takes_the_outing_over(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    # His terminal loses the network at 08:08 and gets it back at 08:20, uploading what it
    # stored: out at 08:10 (first fix outside 08:10:30), away until 08:35.
    steps = [
        {"stay": {"duration_s": 480}},
        {"stay": {"duration_s": 120, "offline": True}},
        {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5, "offline": True}},
        {"stay_away": {"duration_s": 550, "offline": True}},
        {"stay_away": {"duration_s": 900}},
        {"return": {"speed_mps": 5}},
        {"stay": {"duration_s": 300}},
    ]
    runner = rig.runner([terminal(DEVICE, "json", rig.anchors[POST], steps)])
    client = api(rig)
    rig.play(at(14))
    # At 08:14 the leader approves and types in a leave from 08:05 to 08:22 (he phoned from
    # outside): live, the outing would go under it at once. The gateway does not know yet
    # that he is out.
    approve_leave(client, at(5), at(22), approved_at=at(14))
    rig.play(max(runner.end_time, at(42)) + timedelta(seconds=30))
    seen = [
        (kind, when)
        for kind, when in timeline(core_events(rig), "g-001")
        if kind not in ("alert.device_silent", "presence.device_resumed")
    ]
    # Before, the upload showed him out under no leave: the overtime fell at 08:25:30 and no
    # overrun was raised. The leave covers no start (approved after he left): unreported.
    assert [kind for kind, _ in seen] == [
        "presence.arrived",
        "presence.departed",
        "alert.unreported_departure",
        "alert.leave_overrun",
        "presence.returned",
    ]
    assert dict(seen)["alert.leave_overrun"] == at(22)
