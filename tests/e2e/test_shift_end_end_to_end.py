"""End to end, the end of the shift (docs/presence-rules.md, "The end of the shift"):
obligations outlive the shift (the hour to cancel a leave keeps running), a guard who leaves
before the end and never comes back left early, and nothing is raised for what would only fall
due after the end.

g-001 keeps the north gate on a short shift, 08:00-09:00 every day in the site file, with a
gateway JSON terminal simulated by ``fwsim``. Leaves and their cancellation go through the real
HTTP API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.e2e.hard_cases import (
    Api,
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
from tests.e2e.rig import Rig, terminal

__all__ = ["api", "rig_factory"]  # the fixtures, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
SHORT_SHIFT = {"g-001": ("08:00", "09:00")}

OUT_ON_LEAVE: list[dict[str, Any]] = [
    # On post; out at 08:40 (first fix outside 08:40:30); back on post at 08:55; the terminal
    # is switched off just before the shift ends.
    {"stay": {"duration_s": 2400}},
    {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
    {"stay_away": {"duration_s": 800}},
    {"return": {"speed_mps": 5}},
    {"stay": {"duration_s": 270}},
]


def short_shift_out_on_leave(rig_factory: RigFactory, api: ApiFactory) -> tuple[Rig, Api, str]:
    """The rig with the guard's terminal playing ``OUT_ON_LEAVE``, and the leave (08:40-08:57,
    approved at 07:50) his leader entered at 08:01: its id."""
    rig = rig_factory([("g-001", POST, DEVICE)], hours=SHORT_SHIFT)
    rig.runner([terminal(DEVICE, "json", rig.anchors[POST], OUT_ON_LEAVE)])
    client = api(rig)
    rig.play(at(1))
    leave_id = approve_leave(
        client, at(40), at(57), approved_at=at(-10), reason="bank, end of shift"
    )
    return rig, client, leave_id


def test_a_leave_used_at_the_end_of_the_shift_must_still_be_cancelled_within_the_hour(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig, client, leave_id = short_shift_out_on_leave(rig_factory, api)
    rig.play(at(118))  # 09:58: the hour after his 08:55 return ran out at 09:55
    assert timeline(core_events(rig), "g-001")[-1] == ("alert.leave_not_cancelled", at(115))
    # At 10:05 he finally cancels it: late, and the alert is resolved by it.
    rig.play(at(125))
    cancelled = client.post(f"/leaves/{leave_id}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    rig.play(at(130))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(40.5)),
        ("presence.returned", at(55)),
        ("alert.leave_not_cancelled", at(115)),
        ("leave.cancelled", at(125)),
    ]
    not_cancelled = of(events, "alert.leave_not_cancelled")["data"]
    assert not_cancelled["leave_id"] == leave_id and not_cancelled["late"] is False
    assert not_cancelled["detected_at"] == at(115).isoformat()  # on the clock, after the end
    late_cancel = of(events, "leave.cancelled")["data"]
    assert (late_cancel["in_time"], late_cancel["delay_s"]) == (False, 70 * 60)
    assert of(events, "presence.departed")["data"]["leave_id"] == leave_id
    [alert] = client.get("/alerts", params={"guard_id": "g-001"}).json()
    assert (alert["type"], alert["status"], alert["resolution"]) == (
        "alert.leave_not_cancelled",
        "resolved",
        "ended",
    )


def test_a_leave_cancelled_through_the_api_after_the_shift_end_is_in_time_within_the_hour(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig, client, leave_id = short_shift_out_on_leave(rig_factory, api)
    rig.play(at(80))  # 09:20, twenty minutes after the shift ended
    cancelled = client.post(f"/leaves/{leave_id}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    rig.play(at(130))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(40.5)),
        ("presence.returned", at(55)),
        ("leave.cancelled", at(80)),
    ]
    data = of(events, "leave.cancelled")["data"]
    assert (data["leave_id"], data["in_time"], data["delay_s"]) == (leave_id, True, 25 * 60)
    assert client.get("/alerts", params={"guard_id": "g-001"}).json() == []


def test_a_guard_leaving_before_the_end_gets_every_alert_due_inside_the_shift_and_left_early(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)], hours=SHORT_SHIFT)
    runner = rig.runner(
        [
            terminal(
                DEVICE,
                "json",
                rig.anchors[POST],
                [
                    # Out at 08:30 (first fix outside 08:30:30), never back; his terminal's last
                    # fix is at 08:45:00.
                    {"stay": {"duration_s": 1800}},
                    {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
                    {"stay_away": {"duration_s": 850}},
                ],
            )
        ]
    )
    assert runner.end_time == at(45)
    seen_at: dict[datetime, list[tuple[str, datetime]]] = {}
    # His terminal quiet from 08:45, the end waits end_upload_wait_s (10 min) for positions it
    # may have stored (docs/presence-rules.md): left early falls at 09:10, not at 09:00.
    moments = (at(60) + timedelta(seconds=10), at(70) + timedelta(seconds=10))

    def at_the_end(now: datetime) -> None:
        if now in moments:
            seen_at[now] = timeline(core_events(rig), "g-001")

    rig.play(at(180), at_step=at_the_end)  # two hours past the end
    events = core_events(rig)

    expected = [
        ("presence.arrived", at(0)),
        ("presence.departed", at(30.5)),
        ("alert.unreported_departure", at(30.5)),
        ("alert.overtime_departure", at(45.5)),
        ("alert.device_silent", at(55)),  # ten minutes after his terminal's last fix
        ("alert.left_early", at(60)),
    ]
    assert seen_at == {moments[0]: expected[:-1], moments[1]: expected}  # by the wait's end...
    assert timeline(events, "g-001") == expected  # ...and nothing after it
    left = of(events, "alert.left_early")["data"]
    assert left["detected_at"] == at(70).isoformat()
    assert left["left_at"] == at(30.5).isoformat() and left["shift_end"] == at(60).isoformat()
    assert left["left_before_end_s"] == 29.5 * 60
    assert all(e["data"]["late"] is False for e in events)
    assert left["backfilled"] is False
    open_alerts = client_alerts(api(rig), "open")
    assert sorted(open_alerts) == [
        "alert.device_silent",
        "alert.left_early",
        "alert.overtime_departure",
        "alert.unreported_departure",
    ]


def client_alerts(client: Api, status: str) -> list[str]:
    """Types of g-001's alerts in ``status``, as the API lists them."""
    answer = client.get("/alerts", params={"guard_id": "g-001", "status": status})
    assert answer.status_code == 200, answer.text
    return [a["type"] for a in answer.json()]


BACK_IN_A_DEAD_ZONE: list[dict[str, Any]] = [
    # Out at 08:40 (first fix outside 08:40:30); back on post at about 08:45:40 with no
    # network (the booth's corner), where the terminal stores its positions until 09:02:20,
    # after the shift's end; then it uploads them.
    {"stay": {"duration_s": 2400}},
    {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
    {"stay_away": {"duration_s": 240}},
    {"return": {"speed_mps": 5, "offline": True}},
    {"stay": {"duration_s": 1000, "offline": True}},
    {"stay": {"duration_s": 60}},
]


def test_back_on_post_by_positions_uploaded_after_the_end_is_not_leaving_early(
    rig_factory: RigFactory, api: ApiFactory
) -> None:
    # The end waits end_upload_wait_s (10 min) for the terminal quiet at it: the upload at
    # 09:02 shows him back before the end. Before, left early fell at 09:00 and stood.
    rig = rig_factory([("g-001", POST, DEVICE)], hours=SHORT_SHIFT)
    runner = rig.runner([terminal(DEVICE, "jt808", rig.anchors[POST], BACK_IN_A_DEAD_ZONE)])
    [upload_at] = {p.at for p in runner.plan if p.kind == "batch"}
    assert at(60) < upload_at < at(70)
    rig.play(at(90))
    events = core_events(rig)

    types = [t for t, _ in timeline(events, "g-001")]
    assert "alert.left_early" not in types
    assert types[:4] == [
        "presence.arrived",
        "presence.departed",
        "alert.unreported_departure",
        "alert.device_silent",
    ]
    returned = of(events, "presence.returned")["data"]
    assert at(45) < datetime.fromisoformat(returned["returned_at"]) < at(47)
    assert returned["backfilled"] is True
    assert returned["detected_at"] == upload_at.isoformat()
    # His terminal heard again by that upload: the silence of 08:54:50 is over then; the
    # overtime the clock raised at 08:55:30 while it was quiet is withdrawn; the unreported
    # departure ended with his return.
    resumed = of(events, "presence.device_resumed")
    assert datetime.fromisoformat(resumed["time"].replace("Z", "+00:00")) == upload_at
    alerts = api(rig).get("/alerts", params={"guard_id": "g-001"}).json()
    assert sorted((a["type"], a["status"], a["resolution"]) for a in alerts) == [
        ("alert.device_silent", "resolved", "ended"),
        ("alert.overtime_departure", "resolved", "withdrawn"),
        ("alert.unreported_departure", "resolved", "ended"),
    ]
    [silent] = [a for a in alerts if a["type"] == "alert.device_silent"]
    assert silent["resolved_at"] == upload_at.isoformat()
