"""The presence rules in detail: event contents, alert lifecycles, time and ordering, restarts."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from gateway.policy import SitePolicy
from gateway.rules import (
    LeaveApproved,
    PresenceState,
    ShiftEnded,
    Tick,
    scheduled,
    step,
)
from gateway.rules.events import EVENT_TYPES
from geofence.membership import Membership

from .scenario import (
    DEVICE,
    T0,
    Scenario,
    at,
    cancel,
    fix,
    inside,
    leave,
    outside,
    report,
    restore,
    secs,
    track,
)

ON_POST = track(-300, -30, inside)


def iso(offset_s: float) -> str:
    return at(offset_s).isoformat()


def test_departure_event_carries_the_evidence_and_the_shift() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 300, outside)])
    [departed] = scenario.only("presence.departed")
    data = departed.data
    assert departed.time == T0
    assert departed.key == f"shift-1:presence.departed:{iso(0)}"
    assert departed.alert_key is None
    assert (data["guard_id"], data["post_id"], data["site_id"], data["shift_id"]) == (
        "guard-1",
        "post-1",
        "site-1",
        "shift-1",
    )
    assert data["device_id"] == DEVICE
    # Confirmed by the fix at 60 s: two fixes outside spanning the confirmation time.
    assert data["detected_at"] == iso(60)
    assert data["backfilled"] is False and data["late"] is False
    assert isinstance(data["first_fix"], dict) and isinstance(data["last_fix"], dict)
    assert data["first_fix"]["time"] == iso(0)
    assert data["last_fix"]["time"] == iso(60)
    assert data["first_fix"]["distance_m"] == 180.0
    assert data["first_fix"]["accuracy_m"] == 8.0
    assert data["first_fix"]["raw"] == f"{DEVICE},{at(0).isoformat()},outside"
    assert str(uuid.UUID(str(data["departure_id"]))) == data["departure_id"]


def test_departure_id_is_the_same_on_every_replay() -> None:
    first = Scenario().run([*ON_POST, *track(0, 300, outside)])
    second = Scenario().run([*ON_POST, *track(0, 300, outside)])
    assert first.events == second.events


def test_return_reports_the_duration_and_resolves_the_departures_alerts() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 930, outside), *track(960, 1200, inside)])
    [unreported] = scenario.only("alert.unreported_departure")
    [overtime] = scenario.only("alert.overtime_departure")
    [returned] = scenario.only("presence.returned")
    assert unreported.alert_key == f"shift-1:alert.unreported_departure:{iso(0)}"
    assert overtime.time == at(900)
    assert overtime.data["off_post_s"] == 900.0
    assert returned.resolves == (unreported.alert_key, overtime.alert_key)
    assert returned.data["duration_s"] == 960.0
    assert returned.data["departure_id"] == overtime.data["departure_id"]
    assert returned.data["returned_at"] == iso(960)


def test_covered_departure_names_its_report() -> None:
    scenario = Scenario().run([*ON_POST, (-20, report("r1")), *track(0, 300, outside)])
    [departed] = scenario.only("presence.departed")
    assert departed.data["report_id"] == "r1"
    assert scenario.only("alert.unreported_departure") == []


def test_a_report_covers_only_one_departure() -> None:
    script = [
        *ON_POST,
        (-20, report("r1")),
        *track(0, 270, outside),
        *track(300, 570, inside),
        *track(600, 870, outside),
        *track(900, 1200, inside),
    ]
    scenario = Scenario().run(script)
    scenario.advance(1200)
    first, second = scenario.only("presence.departed")
    assert first.data["report_id"] == "r1"
    assert second.data["report_id"] is None
    [unreported] = scenario.only("alert.unreported_departure")
    assert unreported.time == at(600)


def test_leave_approved_while_out_for_the_rest_of_the_outing_prevents_overtime() -> None:
    script = [
        *ON_POST,
        (-20, report("r1")),
        *track(0, 1470, outside),
        (600, leave("L1", 600, 2400)),
        *track(1500, 1800, inside),
    ]
    scenario = Scenario().run(script)
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("presence.returned", 1500.0),
    ]
    assert scenario.only("presence.returned")[0].data["leave_id"] == "L1"


def test_leave_cancelled_late_resolves_the_not_cancelled_alert() -> None:
    script = [
        *ON_POST,
        (-600, leave("L1", 0, 1800)),
        *track(0, 1470, outside),
        *track(1500, 5700, inside),
        (5400, cancel("L1")),
    ]
    scenario = Scenario().run(script)
    [alert] = scenario.only("alert.leave_not_cancelled")
    [cancelled] = scenario.only("leave.cancelled")
    assert alert.time == at(1500 + 3600)
    assert alert.data["leave_id"] == "L1"
    assert cancelled.resolves == (alert.alert_key,)
    assert cancelled.data["in_time"] is False
    assert cancelled.data["delay_s"] == 3900.0


def test_arrival_resolves_the_absent_alert() -> None:
    scenario = Scenario().run([*track(0, 870, outside), *track(900, 1000, inside)])
    [absent] = scenario.only("alert.absent_at_shift_start")
    [arrived] = scenario.only("presence.arrived")
    assert absent.data["grace_s"] == 600.0
    assert arrived.resolves == (absent.alert_key,)
    assert arrived.data["after_shift_start_s"] == 900.0


def test_device_resumed_resolves_the_silence_alert() -> None:
    scenario = Scenario().run([*ON_POST, (900, inside)])
    [silent] = scenario.only("alert.device_silent")
    [resumed] = scenario.only("presence.device_resumed")
    # Silence is counted from the shift start, not from before it.
    assert silent.time == at(600)
    assert silent.data["silent_since"] == iso(0)
    assert silent.data["last_received_at"] == iso(-30)
    assert resumed.time == at(900)
    assert resumed.resolves == (silent.alert_key,)
    assert resumed.data["silent_s"] == 900.0


def test_fix_older_than_the_last_processed_is_ignored() -> None:
    scenario = Scenario().run([*ON_POST, (0, outside)])
    before = scenario.state
    scenario.advance(20)
    out = scenario.feed(fix(Membership.INSIDE, lag_s=60)(scenario.clock.now()))
    assert out == []
    assert scenario.state == before


def test_fix_from_a_terminal_not_on_the_shift_is_ignored() -> None:
    scenario = Scenario().run(ON_POST)
    before = scenario.state
    assert scenario.feed(fix(Membership.OUTSIDE, device="gps-99", sos=True)(at(-20))) == []
    assert scenario.state == before


def test_stepping_the_same_state_with_the_same_input_twice_gives_the_same_output() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 600, outside)])
    policy = SitePolicy()
    now = at(1000)
    first = step(scenario.state, Tick(), now, policy)
    second = step(scenario.state, Tick(), now, policy)
    assert first == second
    assert [e.type for e in first[1]] == ["alert.overtime_departure"]
    incoming = fix(Membership.INSIDE)(now)
    assert step(scenario.state, incoming, now, policy) == step(
        scenario.state, incoming, now, policy
    )


def test_state_survives_its_json_form_at_every_step() -> None:
    script = [
        *ON_POST,
        (-600, leave("L1", 0, 1200)),
        (-20, report("r1")),
        (0, fix(Membership.OUTSIDE, sos=True)),
        *track(30, 1470, outside),
        *track(1500, 1800, inside),
    ]
    scenario = Scenario()
    for offset_s, build in script:
        scenario.advance(offset_s)
        scenario.feed(build(scenario.clock.now()))
        assert restore(scenario.state) == scenario.state
    assert scenario.state.pending_cancels  # the leave waits to be cancelled


def test_restart_in_the_middle_of_a_departure_neither_repeats_nor_loses_the_overtime() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 300, outside)])
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.unreported_departure", 0.0),
    ]
    # The gateway stops after 300 s and starts again at 20 minutes with the stored state.
    restarted = Scenario(auto_tick=False, state=restore(scenario.state))
    restarted.clock.set(at(1200))
    out = restarted.feed(Tick())
    assert [(e.type, secs(e.time)) for e in out] == [
        ("alert.device_silent", 900.0),
        ("alert.overtime_departure", 900.0),
    ]
    assert all(e.data["late"] is True and e.data["backfilled"] is True for e in out)
    assert restarted.feed(Tick()) == []


def test_overdue_deadlines_fire_at_once_in_time_order_marked_late() -> None:
    scenario = Scenario().run([*ON_POST, (0, outside), (30, outside), (60, outside)])
    assert scenario.pairs() == [("presence.departed", 0.0)]
    scenario.auto_tick = False
    scenario.clock.set(at(2400))
    out = scenario.feed(Tick())
    assert [e.type for e in out] == [
        "alert.unreported_departure",
        "alert.device_silent",
        "alert.overtime_departure",
    ]
    assert [secs(e.time) for e in out] == [0.0, 660.0, 900.0]
    assert all(e.data["late"] is True for e in out)
    assert all(e.data["detected_at"] == iso(2400) for e in out)


def test_positions_uploaded_after_an_outage_are_replayed_as_backfilled() -> None:
    scenario = Scenario().run(ON_POST)
    scenario.advance(1800)
    assert scenario.pairs() == [("alert.device_silent", 600.0)]
    scenario.auto_tick = False
    now = scenario.clock.now()
    # The terminal stored a fix every 30 s while offline: out from 0 to 600 s, back from 630 s.
    for offset_s in range(0, 1800, 30):
        where = Membership.OUTSIDE if offset_s <= 600 else Membership.INSIDE
        scenario.feed(fix(where, lag_s=1800 - offset_s)(now))
    scenario.feed(Tick())
    # The terminal is heard again now: its resume is live and follows what the upload revealed.
    assert scenario.pairs() == [
        ("alert.device_silent", 600.0),
        ("presence.departed", 0.0),
        ("alert.unreported_departure", 0.0),
        ("presence.returned", 630.0),
        ("presence.device_resumed", 1800.0),
    ]
    replayed = [e for e in scenario.events[2:] if e.type != "presence.device_resumed"]
    assert all(e.data["backfilled"] is True for e in replayed)
    assert all(e.data["late"] is False for e in replayed)
    [resumed] = scenario.only("presence.device_resumed")
    assert resumed.data["backfilled"] is False and resumed.data["late"] is False


def test_guard_who_leaves_before_the_end_and_never_returns_left_early() -> None:
    short = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", [DEVICE], T0, T0 + timedelta(hours=1)
    )
    scenario = Scenario(state=short).run([*track(-300, 2970, inside), *track(3000, 3570, outside)])
    scenario.advance(7200)
    # The overtime limit (3900 s) falls after the end: inside the shift it was not reached.
    assert scenario.pairs() == [
        ("presence.departed", 3000.0),
        ("alert.unreported_departure", 3000.0),
        ("alert.left_early", 3600.0),
    ]
    [left] = scenario.only("alert.left_early")
    assert left.data["left_at"] == iso(3000) and left.data["left_before_end_s"] == 600.0
    assert left.alert_key is not None
    assert scenario.state.closed is True
    assert scenario.state.next_deadline is None
    assert scenario.feed(fix(Membership.INSIDE)(at(7200))) == []
    assert scenario.feed(Tick()) == []


def test_shift_ended_early_closes_at_once() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 120, outside)])
    scenario.advance(150)
    # Relieved by a person: no leaving early; the unreported decision was taken already.
    assert scenario.feed(ShiftEnded()) == []
    assert scenario.state.closed is True
    scenario.advance(3600)
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.unreported_departure", 0.0),
    ]


def test_leave_approved_again_keeps_its_cancellation() -> None:
    scenario = Scenario().run([*ON_POST, (-600, leave("L1", 0, 1800)), (-500, cancel("L1"))])
    again = LeaveApproved("L1", at(0), at(1800), "leader-1", at(-400))
    scenario.advance(-400)
    scenario.feed(again)
    assert scenario.state.leave("L1") is not None
    assert scenario.state.leave("L1").cancelled_at == at(-500)  # type: ignore[union-attr]


def test_every_emitted_type_is_in_the_catalogue() -> None:
    script = [
        *ON_POST,
        (-600, leave("L1", 0, 1200)),
        *track(0, 1470, outside),
        *track(1500, 5400, inside),
    ]
    scenario = Scenario().run(script)
    scenario.advance(9000)
    assert {e.type for e in scenario.events} <= set(EVENT_TYPES)
    assert {e.type for e in scenario.events} >= {
        "alert.leave_overrun",
        "alert.leave_not_cancelled",
    }


def test_a_policy_with_other_limits_moves_the_decisions() -> None:
    policy = replace(SitePolicy(), verbal_report_limit_s=600.0, departure_confirm_s=120.0)
    scenario = Scenario(policy=policy).run(
        [*ON_POST, (-20, report("r1")), *track(0, 690, outside), *track(720, 900, inside)]
    )
    [departed] = scenario.only("presence.departed")
    assert departed.data["detected_at"] == iso(120)
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.overtime_departure", 600.0),
        ("presence.returned", 720.0),
    ]


def _new_state() -> PresenceState:
    return PresenceState.start("shift-1", "guard-1", "post-1", "site-1", [DEVICE], T0, at(3600))


def test_a_new_state_scheduled_is_what_a_tick_finding_nothing_due_leaves() -> None:
    policy = SitePolicy()
    for now in (at(-60), at(0), at(599)):
        ticked, events = step(_new_state(), Tick(), now, policy)
        assert events == []
        assert scheduled(_new_state(), now, policy) == ticked
        assert ticked.next_deadline == at(policy.shift_start_grace_s)
        assert ticked.stepped_at == now


def test_a_state_started_after_its_grace_is_left_for_its_first_tick_to_fire_late() -> None:
    policy = SitePolicy()
    late = at(policy.shift_start_grace_s + 120)
    assert scheduled(_new_state(), late, policy) == _new_state()
    _, events = step(scheduled(_new_state(), late, policy), Tick(), late, policy)
    absent = [e for e in events if e.type == "alert.absent_at_shift_start"]
    assert [(e.time, e.data["late"]) for e in absent] == [(at(policy.shift_start_grace_s), True)]


def test_a_state_that_has_stepped_is_not_scheduled_again() -> None:
    policy = SitePolicy()
    stepped, _ = step(_new_state(), Tick(), at(10), policy)
    assert scheduled(stepped, at(20), policy) is stepped
