"""End to end, late data and restarts (docs/presence-rules.md, "Late data and restarts"): a
blind-area upload is replayed through the rules, what it reveals marked backfilled and the
terminal's resumption following it, live; a deadline that came due while the gateway was down
fires once after the restart, marked late, and nothing is delivered twice.

g-001 keeps the north gate 08:00-20:00; his terminal is an ``fwsim`` scenario terminal on the
rig's broker. For the restart the rig stops its gateway as a shutdown does (the broker keeps
its persistent session and queues the terminal's QoS-1 messages), moves the clock on, and starts
a new gateway on the same database, broker and core.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from gateway.ledger.service import day_ledger
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
from tests.e2e.helpers import alert_rows
from tests.e2e.rig import terminal

__all__ = ["api", "rig_factory"]  # the fixtures, used by name

POST = "jt-gate-north"
DEVICE = "13800000001"
UPLOAD_AT = at(20) + timedelta(seconds=10)

INTO_THE_BASEMENT: list[dict[str, Any]] = [
    # Out of the gate at 08:05 and down the ramp into the basement car park: no network from
    # 08:05:10 to 08:20:10, when the terminal uploads what it stored (first fix 08:05:30).
    {"stay": {"duration_s": 300}},
    {"walk": {"to": {"north_m": 200, "east_m": 0}, "speed_mps": 20}},
    {"offline": {"duration_s": 900}},
    # Up again, still away; back on post at 08:26:00.
    {"stay_away": {"duration_s": 300}},
    {"return": {"speed_mps": 5}},
    {"stay": {"duration_s": 300}},
]


@pytest.mark.parametrize("fmt", ["jt808", "json"])
def test_a_blind_area_upload_after_silence_is_followed_by_the_live_resumption(
    rig_factory: RigFactory, api: ApiFactory, fmt: str
) -> None:
    rig = rig_factory([("g-001", POST, DEVICE)])
    runner = rig.runner([terminal(DEVICE, fmt, rig.anchors[POST], INTO_THE_BASEMENT)])
    uploads = [p for p in runner.plan if p.kind == "batch"]
    # One 0x0704 blind-area frame per 1023 bytes of body, or one {"fixes": [...]}.
    assert uploads and all(p.at == UPLOAD_AT for p in uploads)
    assert sum(p.fixes for p in uploads) == 30
    rig.play(runner.end_time + timedelta(seconds=30))
    # The terminal never saw the platform's answer: it uploads the same positions again.
    for upload in uploads:
        rig.publish(upload.topic, upload.payload)
    rig.play(runner.end_time + timedelta(seconds=60))
    events = core_events(rig)

    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("alert.device_silent", at(15)),  # ten minutes after his 08:05:00 fix
        ("presence.departed", at(5.5)),  # revealed by the upload...
        ("alert.unreported_departure", at(5.5)),
        ("presence.device_resumed", UPLOAD_AT),  # ...and only then the terminal is back
        ("alert.overtime_departure", at(20.5)),
        ("presence.returned", at(26)),
    ]
    flags = [(e["type"], e["data"]["backfilled"], e["data"]["late"]) for e in events]
    assert flags == [
        ("presence.arrived", False, False),
        ("alert.device_silent", False, False),
        ("presence.departed", True, False),
        ("alert.unreported_departure", True, False),
        ("presence.device_resumed", False, False),
        ("alert.overtime_departure", False, False),
        ("presence.returned", False, False),
    ]
    for type_ in ("presence.departed", "alert.unreported_departure", "presence.device_resumed"):
        assert of(events, type_)["data"]["detected_at"] == UPLOAD_AT.isoformat()
    resumed = of(events, "presence.device_resumed")["data"]
    assert resumed["silent_since"] == at(5).isoformat()
    alerts = api(rig).get("/alerts", params={"guard_id": "g-001"}).json()
    [silent] = [a for a in alerts if a["type"] == "alert.device_silent"]
    assert (silent["status"], silent["resolved_at"]) == ("resolved", UPLOAD_AT.isoformat())
    counters = rig.counters()
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values())
    # Each re-sent fix dropped once: by the filters while they remember it (the newest fixes of
    # the device), else by the store, which holds it; none reached the rules twice (above).
    assert counters.get("dropped.duplicate", 0) + counters["dropped.duplicate_stored"] == 30


def test_a_terminal_that_sends_where_it_is_first_has_what_it_stored_judged_too(
    rig_factory: RigFactory,
) -> None:
    # The same outing, the JT/T 808 terminal back in network sending its 0x0200 of 08:20:10
    # before the 0x0704 of what it stored (as such terminals may). The stored positions are
    # older than the live one; before the gateway held the live one back, they were history.
    rig = rig_factory([("g-001", POST, DEVICE)])
    runner = rig.runner(
        [terminal(DEVICE, "jt808", rig.anchors[POST], INTO_THE_BASEMENT, upload_order="live_first")]
    )
    at_reconnection = [p.kind for p in runner.plan if p.at == UPLOAD_AT]
    assert at_reconnection[0] == "fix" and set(at_reconnection[1:]) == {"batch"}
    rig.play(runner.end_time + timedelta(seconds=60))
    events = core_events(rig)

    # Heard again at the reconnection; before or after what the stored positions reveal as
    # the two messages reach the pipeline in two batches (the live fix held back for the
    # stored ones) or in one (a batch's fixes are taken in time order).
    resumed = [e for e in timeline(events, "g-001") if e[0] == "presence.device_resumed"]
    assert resumed == [("presence.device_resumed", UPLOAD_AT)]
    assert [e for e in timeline(events, "g-001") if e not in resumed] == [
        ("presence.arrived", at(0)),
        ("alert.device_silent", at(15)),
        ("presence.departed", at(5.5)),
        ("alert.unreported_departure", at(5.5)),
        ("alert.overtime_departure", at(20.5)),
        ("presence.returned", at(26)),
    ]
    assert of(events, "presence.departed")["data"]["backfilled"] is True
    counters = rig.counters()
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values())


FAR_OUT: list[dict[str, Any]] = [
    # Out at 08:05 (first fix outside 08:05:30), away until 08:30:50, back on post at 08:32.
    {"stay": {"duration_s": 300}},
    {"walk": {"to": {"north_m": 250, "east_m": 0}, "speed_mps": 5}},
    {"stay_away": {"duration_s": 1500}},
    {"return": {"speed_mps": 5}},
    {"stay": {"duration_s": 300}},
]


@pytest.mark.parametrize("first", ["tick", "backlog"])
def test_a_gateway_stopped_mid_departure_delivers_the_overtime_alert_once_late_after_restart(
    rig_factory: RigFactory, first: str
) -> None:
    """Down from 08:09 to 08:24, past the 08:20:30 overtime deadline and past the point where
    the terminal would count as silent (08:19) had it not gone on publishing to the broker.
    Whether the new gateway's first tick or the broker's backlog comes first, the backlog
    decides: the overtime alert once, late; no silent terminal."""
    rig = rig_factory([("g-001", POST, DEVICE)])
    runner = rig.runner([terminal(DEVICE, "json", rig.anchors[POST], FAR_OUT)])
    before_stop: list[list[tuple[str, datetime]]] = []

    def outage(now: datetime) -> None:
        if now == at(9):
            before_stop.append(timeline(core_events(rig), "g-001"))
            rig.stop_gateway()
        elif now == at(24):
            rig.start_gateway(first)

    rig.play(runner.end_time + timedelta(seconds=30), at_step=outage)
    events = core_events(rig)

    assert before_stop == [
        [
            ("presence.arrived", at(0)),
            ("presence.departed", at(5.5)),
            ("alert.unreported_departure", at(5.5)),
        ]
    ]
    assert timeline(events, "g-001") == [
        ("presence.arrived", at(0)),
        ("presence.departed", at(5.5)),
        ("alert.unreported_departure", at(5.5)),
        ("alert.overtime_departure", at(20.5)),
        ("presence.returned", at(32)),
    ]
    overtime = of(events, "alert.overtime_departure")["data"]
    assert (overtime["late"], overtime["backfilled"]) == (True, True)
    assert overtime["detected_at"] == at(24).isoformat()
    # Every id once at the core, and every message the terminal published while the gateway
    # was down was taken in by the new one (the broker kept them for its session).
    assert len({e["id"] for e in events}) == len(events)
    counters = rig.counters()  # the new gateway's: every fix after 08:09:00
    stored_before = 9 * 2 + 1
    assert counters["fixes.stored"] == sum(s.fixes for s in runner.stats().values()) - stored_before
    assert not [k for k in counters if k.startswith(("rejected.", "dropped."))]


IN_THE_BASEMENT_BOOTH: list[dict[str, Any]] = [
    # On post from the start in a booth in the basement car park: no network until 08:25, when
    # the terminal uploads what it stored (on post from 08:00); on post after.
    {"offline": {"duration_s": 1500}},
    {"stay": {"duration_s": 600}},
]


@pytest.mark.parametrize("order", ["stored_first", "live_first"])
def test_an_absence_raised_while_his_terminal_was_in_the_basement_is_withdrawn_by_its_upload(
    rig_factory: RigFactory, order: str
) -> None:
    # Before, the absence raised on the clock at 08:10 stood, resolved by the arrival as if he
    # had come late; with the JT/T 808 terminal sending where it is first, the arrival was
    # dated 08:25 and the stored positions of 08:00-08:25 were history.
    rig = rig_factory([("g-001", POST, DEVICE)])
    runner = rig.runner(
        [terminal(DEVICE, "jt808", rig.anchors[POST], IN_THE_BASEMENT_BOOTH, upload_order=order)]
    )
    rig.play(runner.end_time + timedelta(seconds=60))
    events = core_events(rig)

    # Heard again at the reconnection: after what the upload revealed when the stored
    # positions come first; when the live one does, before or after, as the two messages
    # reach the pipeline in two batches or in one (above).
    resumed = [e for e in timeline(events, "g-001") if e[0] == "presence.device_resumed"]
    assert resumed == [("presence.device_resumed", at(25))]
    assert [e for e in timeline(events, "g-001") if e not in resumed] == [
        ("alert.absent_at_shift_start", at(10)),
        ("alert.device_silent", at(10)),
        ("presence.arrived", at(0)),
        ("alert.withdrawn", at(25)),
    ]
    if order == "stored_first":
        assert timeline(events, "g-001")[-1] == resumed[0]
    withdrawn = of(events, "alert.withdrawn")["data"]
    assert withdrawn["withdrawn_type"] == "alert.absent_at_shift_start"
    assert withdrawn["reason"] == "arrived_before"
    assert (withdrawn["arrived_at"], withdrawn["fell_at"]) == (
        at(0).isoformat(),
        at(10).isoformat(),
    )
    assert of(events, "presence.arrived")["data"]["backfilled"] is True
    [(opened, _, resolution)] = alert_rows(
        rig.gateway.engine, "alert.absent_at_shift_start", "g-001"
    )
    assert (opened, resolution) == (at(10), "withdrawn")


BACK_IN_THE_BASEMENT: list[dict[str, Any]] = [
    # A shift of 08:00-08:30. Out at 08:05 (first fix outside 08:05:30), away to 08:09:40; back
    # on post by 08:10:20 into the booth in the basement car park, no network from 08:09:40
    # until 08:41:20, after the end's wait (08:40), when the terminal uploads what it stored.
    {"stay": {"duration_s": 300}},
    {"walk": {"to": {"north_m": 200, "east_m": 0}, "speed_mps": 5}},
    {"stay_away": {"duration_s": 240}},
    {"return": {"speed_mps": 5, "offline": True}},
    {"stay": {"duration_s": 1860, "offline": True}},
    {"stay": {"duration_s": 60}},
]


def test_left_early_raised_while_he_was_back_in_the_basement_is_withdrawn_by_the_upload(
    rig_factory: RigFactory,
) -> None:
    # Before, the upload came after the end's wait and was history: *left early* (and the
    # overtime the clock raised at 08:20:30, ten minutes after he was back) stood.
    rig = rig_factory([("g-001", POST, DEVICE)], hours={"g-001": ("08:00", "08:30")})
    runner = rig.runner([terminal(DEVICE, "jt808", rig.anchors[POST], BACK_IN_THE_BASEMENT)])
    [upload_at] = {p.at for p in runner.plan if p.kind == "batch"}
    assert upload_at > at(40)
    rig.play(runner.end_time + timedelta(seconds=60))
    events = core_events(rig)

    types = [t for t, _ in timeline(events, "g-001")]
    assert types == [
        "presence.arrived",
        "presence.departed",
        "alert.unreported_departure",
        "alert.device_silent",
        "alert.overtime_departure",
        "alert.left_early",
        "alert.withdrawn",
        "alert.withdrawn",
    ]
    withdrawals = [e["data"] for e in events if e["type"] == "alert.withdrawn"]
    assert [w["withdrawn_type"] for w in withdrawals] == [
        "alert.overtime_departure",
        "alert.left_early",
    ]
    returned_at = datetime.fromisoformat(withdrawals[0]["returned_at"])
    assert at(10) <= returned_at <= at(10.5)
    assert all(w["reason"] == "returned_before" for w in withdrawals)
    assert withdrawals[1]["fell_at"] == at(30).isoformat()
    engine = rig.gateway.engine
    for type_ in ("alert.overtime_departure", "alert.left_early"):
        [(_, _, resolution)] = alert_rows(engine, type_, "g-001")
        assert resolution == "withdrawn"
    # He left without a report: that stands, as the silence the clock saw does.
    [(_, _, unreported)] = alert_rows(engine, "alert.unreported_departure", "g-001")
    assert unreported != "withdrawn"


NEVER_HEARD_IN_THE_SHIFT: list[dict[str, Any]] = [
    # A shift of 08:00-08:30 in the basement car park, out of network from the start to
    # 08:33:00: on post to 08:05, out of the post to about 08:22, on post to the end. The
    # terminal uploads what it stored when it is up again, inside the end's wait (08:40).
    {"stay": {"duration_s": 300, "offline": True}},
    {"walk": {"to": {"north_m": 200, "east_m": 0}, "speed_mps": 5, "offline": True}},
    {"stay_away": {"duration_s": 960, "offline": True}},
    {"return": {"speed_mps": 5, "offline": True}},
    {"stay": {"duration_s": 600, "offline": True}},
    {"stay": {"duration_s": 60}},
]


def test_a_terminal_never_heard_in_the_shift_has_its_upload_after_the_end_judged(
    rig_factory: RigFactory,
) -> None:
    # Before, the end waited only for a terminal heard in the shift: the upload of 08:33 was
    # history, withdrawing the absence alone. His arrival, his 17-minute outing and its
    # alerts were never told, and the ledger had him never on post.
    rig = rig_factory([("g-001", POST, DEVICE)], hours={"g-001": ("08:00", "08:30")})
    runner = rig.runner([terminal(DEVICE, "jt808", rig.anchors[POST], NEVER_HEARD_IN_THE_SHIFT)])
    [upload_at] = {p.at for p in runner.plan if p.kind == "batch"}
    assert at(30) < upload_at < at(40)
    rig.play(runner.end_time + timedelta(seconds=60))
    events = core_events(rig)

    types = [t for t, _ in timeline(events, "g-001")]
    assert types == [
        "alert.absent_at_shift_start",
        "alert.device_silent",
        "presence.arrived",
        "alert.withdrawn",
        "presence.departed",
        "alert.unreported_departure",
        "alert.overtime_departure",
        "presence.returned",
        "presence.device_resumed",
    ]
    assert of(events, "presence.arrived")["data"]["arrived_at"] == at(0).isoformat()
    assert of(events, "alert.withdrawn")["data"]["reason"] == "arrived_before"
    departed = datetime.fromisoformat(of(events, "presence.departed")["data"]["started_at"])
    returned = datetime.fromisoformat(of(events, "presence.returned")["data"]["returned_at"])
    assert at(5) < departed < at(6) and at(21) < returned < at(23)
    for type_ in ("presence.departed", "alert.overtime_departure", "presence.returned"):
        assert of(events, type_)["data"]["backfilled"] is True
    engine = rig.gateway.engine
    [(_, _, absence)] = alert_rows(engine, "alert.absent_at_shift_start", "g-001")
    assert absence == "withdrawn"
    [(_, _, overtime)] = alert_rows(engine, "alert.overtime_departure", "g-001")
    assert overtime == "ended"
    # The daily ledger reads the stored decisions: on post from 08:00, away unreported for
    # the outing, not "never arrived".
    ledger = day_ledger(engine, "wh-jiangtan-garden", date(2026, 3, 2), at(60))
    [row] = [g for g in ledger["guards"] if g["guard_id"] == "g-001"]
    away = (returned - departed).total_seconds()
    assert row["shifts"][0]["arrived_at"] == at(0).isoformat()
    assert row["away_unreported_s"] == pytest.approx(away)
    assert row["on_post_s"] == pytest.approx(30 * 60 - away)
