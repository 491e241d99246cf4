"""The field's hard cases (DOMAIN.md) as a table: two devices, sparse fixes, the shift end,
reports and leaves entered late, a gateway restart. Each case names what the rule must do.

Offsets are seconds from the shift start (a 12-hour shift unless a case says ``shift_s``). The
guard's phone (``PHONE``) reports every 30 s unless a case says otherwise; a badge (``BADGE``)
is a second worn device.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from gateway.policy import SitePolicy
from gateway.rules import PresenceState, Tick
from geofence.membership import Membership

from .scenario import (
    DEVICE,
    SHIFT_S,
    T0,
    Build,
    Scenario,
    at,
    cancel,
    fix,
    inside,
    leave,
    outside,
    report,
    track,
)

PHONE = DEVICE
BADGE = "badge-3"
badge_in = fix(Membership.INSIDE, device=BADGE)
badge_out = fix(Membership.OUTSIDE, device=BADGE)
badge_walking = fix(Membership.INSIDE, device=BADGE, walk_mps=1.0)
lagging_out = fix(Membership.OUTSIDE, device=BADGE, lag_s=90)
lagging_in = fix(Membership.INSIDE, device=BADGE, lag_s=90)
ON_POST = track(-300, -30, inside)
BOTH_ON_POST = [*ON_POST, *track(-300, -60, badge_in, every_s=60)]


@dataclass
class Case:
    script: list[tuple[float, Build]]
    until_s: float
    expected: list[tuple[str, float]]
    devices: tuple[str, ...] = (PHONE,)
    shift_s: float = SHIFT_S
    policy: SitePolicy = field(default_factory=SitePolicy)


def sparse(start_s: float, end_s: float, build: Build) -> list[tuple[float, Build]]:
    """A power-saving terminal: one fix every 3 minutes."""
    return track(start_s, end_s, build, every_s=180)


CASES: dict[str, Case] = {
    # --- two devices per guard ---------------------------------------------------------------
    "badge_left_in_the_booth_does_not_hide_a_30_minute_absence": Case(
        [
            *BOTH_ON_POST,
            *track(0, 1770, outside),
            *track(1800, 2400, inside),
            *track(0, 2400, badge_in, every_s=60),
        ],
        2400,
        [
            ("presence.departed", 0.0),
            ("alert.device_left_behind", 0.0),
            ("alert.unreported_departure", 0.0),
            ("alert.overtime_departure", 900.0),
            ("presence.returned", 1800.0),
        ],
        devices=(PHONE, BADGE),
    ),
    "two_worn_devices_going_out_together_make_one_departure_and_nothing_left_behind": Case(
        [
            *BOTH_ON_POST,
            *track(0, 570, outside),
            *track(600, 1200, inside),
            *track(0, 540, badge_out, every_s=60),
            *track(600, 1200, badge_in, every_s=60),
        ],
        1200,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("presence.returned", 600.0),
        ],
        devices=(PHONE, BADGE),
    ),
    "a_tracker_whose_clock_lags_the_phone_is_still_heard": Case(
        # The phone stays in the booth; the tracker the guard wears runs 90 s behind.
        [
            *ON_POST,
            *track(0, 1800, inside, every_s=60),
            *track(0, 1200, lagging_out, every_s=60),
            *track(1260, 1800, lagging_in, every_s=60),
        ],
        1800,
        [
            ("presence.departed", -90.0),
            ("alert.device_left_behind", -90.0),
            ("alert.unreported_departure", -90.0),
            ("alert.overtime_departure", 810.0),
            ("presence.returned", 1170.0),
        ],
        devices=(PHONE, BADGE),
    ),
    "an_inside_fix_of_the_device_left_behind_does_not_cut_a_departure_short": Case(
        [
            *BOTH_ON_POST,
            *track(0, 570, outside),
            (90, badge_in),
            (300, badge_in),
            *track(600, 900, inside),
        ],
        900,
        [
            ("presence.departed", 0.0),
            ("alert.device_left_behind", 0.0),
            ("alert.unreported_departure", 0.0),
            ("presence.returned", 600.0),
        ],
        devices=(PHONE, BADGE),
    ),
    "a_phone_dropped_outside_does_not_take_away_a_guard_whose_badge_moves_on_post": Case(
        [*ON_POST, *track(0, 1800, outside), *track(-290, 1800, badge_walking, every_s=60)],
        1800,
        [],
        devices=(PHONE, BADGE),
    ),
    # --- sparse fixes ------------------------------------------------------------------------
    "one_multipath_outlier_among_fixes_3_minutes_apart_raises_nothing": Case(
        [*ON_POST, *sparse(0, 720, inside), (900, outside), *sparse(1080, 2700, inside)],
        2700,
        [],
    ),
    "a_single_outside_fix_then_silence_is_a_silent_terminal_not_a_departure": Case(
        [*ON_POST, *sparse(0, 720, inside), (900, outside)],
        1800,
        [("alert.device_silent", 1500.0)],
    ),
    "sparse_outside_fixes_spanning_the_confirmation_confirm_a_departure": Case(
        [
            *ON_POST,
            *sparse(0, 720, inside),
            *sparse(900, 1980, outside),
            (2160, inside),
            *sparse(2340, 2700, inside),
        ],
        2700,
        [
            ("presence.departed", 900.0),
            ("alert.unreported_departure", 900.0),
            ("alert.overtime_departure", 1800.0),
            ("presence.returned", 2160.0),
        ],
    ),
    # --- deadlines after the shift ends ------------------------------------------------------
    "a_leave_used_at_the_end_of_a_shift_must_still_be_cancelled_within_the_hour": Case(
        [
            *ON_POST,
            (-600, leave("L1", 2400, 3400)),
            *track(0, 2370, inside),
            *track(2400, 3270, outside),
            *track(3300, 3570, inside),
        ],
        9000,
        [
            ("presence.departed", 2400.0),
            ("presence.returned", 3300.0),
            ("alert.leave_not_cancelled", 6900.0),
        ],
        shift_s=3600,
    ),
    "a_leave_cancelled_after_the_shift_end_is_in_time_within_the_hour": Case(
        [
            *ON_POST,
            (-600, leave("L1", 2400, 3400)),
            *track(0, 2370, inside),
            *track(2400, 3270, outside),
            *track(3300, 3570, inside),
            (5000, cancel("L1")),
        ],
        9000,
        [
            ("presence.departed", 2400.0),
            ("presence.returned", 3300.0),
            ("leave.cancelled", 5000.0),
        ],
        shift_s=3600,
    ),
    "an_unreported_decision_falling_after_the_end_is_still_taken": Case(
        [*ON_POST, *track(0, 3470, inside), *track(3500, 3590, outside)],
        7200,
        [
            ("presence.departed", 3500.0),
            ("alert.left_early", 3600.0),
            ("alert.unreported_departure", 3500.0),
        ],
        shift_s=3600,
    ),
    "a_guard_leaving_2_hours_early_gets_every_alert_due_inside_the_shift_and_left_early": Case(
        [*ON_POST, *track(0, 7170, inside), *track(7200, 9000, outside)],
        # His terminal quiet from 10:30, the end waits end_upload_wait_s (10 min) for positions
        # it may have stored; none come, and left early falls then.
        15000,
        [
            ("presence.departed", 7200.0),
            ("alert.unreported_departure", 7200.0),
            ("alert.overtime_departure", 8100.0),
            ("alert.device_silent", 9600.0),
            ("alert.left_early", 14400.0),
        ],
        shift_s=14400,
    ),
    "a_guard_on_a_leave_reaching_the_end_did_not_leave_early": Case(
        [
            *ON_POST,
            (-600, leave("L1", 3000, 4000)),
            *track(0, 2970, inside),
            *track(3000, 3570, outside),
        ],
        7200,
        [("presence.departed", 3000.0)],
        shift_s=3600,
    ),
    "a_leave_spanning_the_shift_start_excuses_the_guard_until_it_ends": Case(
        [(-86400, leave("L1", -3600, 1800)), *track(1500, 2400, inside)],
        2400,
        [("presence.arrived", 1500.0)],
    ),
    "a_guard_not_back_when_the_leave_spanning_the_start_ends_is_absent": Case(
        [(-86400, leave("L1", -3600, 1800)), *track(2700, 3000, inside)],
        3000,
        [
            ("alert.absent_at_shift_start", 2400.0),
            ("alert.device_silent", 2400.0),
            ("presence.device_resumed", 2700.0),
            ("presence.arrived", 2700.0),
        ],
    ),
    "a_guard_back_from_a_leave_spanning_the_start_must_cancel_it_within_the_hour": Case(
        [(-86400, leave("L1", -3600, 1800)), *track(1500, 5400, inside)],
        5400,
        [("presence.arrived", 1500.0), ("alert.leave_not_cancelled", 5100.0)],
    ),
    "a_leave_spanning_the_start_cancelled_in_time_raises_nothing": Case(
        [(-86400, leave("L1", -3600, 1800)), *track(1500, 5400, inside), (2000, cancel("L1"))],
        5400,
        [("presence.arrived", 1500.0), ("leave.cancelled", 2000.0)],
    ),
    "a_leave_beginning_just_after_the_start_that_he_came_in_before_needs_no_cancelling": Case(
        [(-86400, leave("L1", 60, 3600)), *track(30, 7300, inside)],
        7300,
        [("presence.arrived", 30.0)],
    ),
    "a_leave_spanning_the_start_that_he_did_not_use_needs_no_cancelling": Case(
        [(-86400, leave("L1", -3600, 1800)), *ON_POST, *track(0, 5400, inside)],
        5400,
        [("presence.arrived", -300.0)],
    ),
    "a_terminal_quiet_during_an_approved_leave_is_not_silent": Case(
        [
            (-86400, leave("L1", 3600, 10800)),
            *track(-300, 3590, inside),
            *track(3600, 3700, outside),
            *track(10700, 11000, inside),
        ],
        11000,
        [("presence.departed", 3600.0), ("presence.returned", 10700.0)],
    ),
    "a_terminal_still_quiet_after_the_leave_ends_is_silent_from_its_end": Case(
        [
            (-86400, leave("L1", 3600, 7200)),
            *track(-300, 3590, inside),
            *track(3600, 3700, outside),
        ],
        8000,
        [
            ("presence.departed", 3600.0),
            ("alert.leave_overrun", 7200.0),
            ("alert.device_silent", 7800.0),
        ],
    ),
    # --- reports and leaves entered late -----------------------------------------------------
    "a_report_made_before_leaving_but_entered_after_the_alert_withdraws_it": Case(
        [
            *ON_POST,
            *track(0, 570, outside),
            (360, report("r1", filed_s=-60)),
            *track(600, 900, inside),
        ],
        900,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("alert.withdrawn", 360.0),  # when the report was typed in
            ("presence.returned", 600.0),
        ],
    ),
    # Found by the relief property (a blind area, then the upload): the report withdrew
    # nothing once a leave he was out under from the 15-minute mark was on the departure,
    # though that leave covered no start and the unreported alert stood.
    "a_report_entered_late_withdraws_the_alert_though_a_later_leave_took_the_outing_over": Case(
        [
            *ON_POST,
            *track(0, 1170, outside),
            (400, leave("l1", 1000, 2800)),  # approved while he is out, from 16:40
            (1500, report("r1", filed_s=-60)),
            *track(1200, 1500, inside),
        ],
        1500,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("presence.returned", 1200.0),
            ("alert.withdrawn", 1500.0),  # when the report was typed in
        ],
    ),
    # The same with the leave he had (approved at 07:50, typed in at 08:40): before, it
    # withdrew nothing, for the departure had the leave approved while he was out.
    "a_leave_typed_in_late_withdraws_the_alerts_though_a_later_leave_took_the_outing_over": Case(
        [
            *ON_POST,
            *track(0, 1770, outside),
            (600, leave("l2", 1000, 2800)),  # approved while he is out, from 08:16:40
            (2400, leave("l1", -60, 3600, approved_s=-600)),
            *track(1800, 2400, inside),
        ],
        2400,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("presence.returned", 1800.0),
            ("alert.withdrawn", 2400.0),  # leave_on_record
        ],
    ),
    # A leave approved at 08:05 from 07:55, while he was out: live, the unreported alert fell
    # at 08:02 and stands (it was right when raised). Seen only through the upload of a blind
    # area (07:58-08:10), the decision falls late, backfilled, and must be the same; before,
    # it put the outing under that leave and raised nothing.
    "a_leave_approved_after_he_left_covers_no_start_when_the_upload_shows_it": Case(
        [
            *ON_POST,
            (300, leave("l1", -300, 3600)),
            *[
                (600 + (s + 120) / 1000, fix(Membership.OUTSIDE, lag_s=600 + (s + 120) / 1000 - s))
                for s in range(0, 600, 30)
            ],
            *track(600, 1170, outside),
            *track(1200, 1500, inside),
        ],
        1500,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("presence.returned", 1200.0),
        ],
    ),
    # He left at 08:00 unreported, his terminal in a blind area (07:58-08:10). At 08:05 the
    # leader approved and typed in a leave from 07:55 to 08:11:40: live, typing it put the
    # outing under it, so he overran it at 08:11:40 (no overtime at 08:15). Through the upload
    # at 08:10 the machine learned he was out only after the leave was typed; before, the
    # outing stayed under no leave and raised the overtime at 08:15 instead of the overrun.
    "a_leave_typed_in_while_his_terminal_was_in_a_blind_area_takes_the_outing_over_as_live": Case(
        [
            *ON_POST,
            (300, leave("l1", -300, 700)),
            *[
                (600 + (s + 120) / 1000, fix(Membership.OUTSIDE, lag_s=600 + (s + 120) / 1000 - s))
                for s in range(0, 600, 30)
            ],
            *track(600, 1170, outside),
            *track(1200, 1500, inside),
        ],
        1500,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("alert.leave_overrun", 700.0),
            ("presence.returned", 1200.0),
        ],
    ),
    "an_unused_late_report_never_covers_the_next_departure": Case(
        [
            *ON_POST,
            *track(0, 1770, inside),
            (1000, report("r1", filed_s=600)),
            *track(1800, 2370, outside),
            *track(2400, 2700, inside),
        ],
        2700,
        [
            ("presence.departed", 1800.0),
            ("alert.unreported_departure", 1800.0),
            ("presence.returned", 2400.0),
        ],
    ),
    "a_report_covers_only_the_one_departure_it_was_made_for": Case(
        [
            *ON_POST,
            (-20, report("r1")),
            *track(0, 270, outside),
            *track(300, 570, inside),
            *track(600, 870, outside),
            *track(900, 1200, inside),
        ],
        1200,
        [
            ("presence.departed", 0.0),
            ("presence.returned", 300.0),
            ("presence.departed", 600.0),
            ("alert.unreported_departure", 600.0),
            ("presence.returned", 900.0),
        ],
    ),
    "a_leave_approved_before_leaving_but_entered_late_withdraws_both_alerts": Case(
        [
            *ON_POST,
            *track(0, 1470, outside),
            *track(1500, 1800, inside),
            (1000, leave("L1", 0, 1800, approved_s=-600)),
            (1700, cancel("L1")),
        ],
        1800,
        [
            ("presence.departed", 0.0),
            ("alert.unreported_departure", 0.0),
            ("alert.overtime_departure", 900.0),
            ("alert.withdrawn", 1000.0),
            ("alert.withdrawn", 1000.0),
            ("presence.returned", 1500.0),
            ("leave.cancelled", 1700.0),
        ],
    ),
}


def _play(case: Case) -> Scenario:
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", case.devices, T0, at(case.shift_s)
    )
    scenario = Scenario(policy=case.policy, state=state).run(case.script)
    scenario.advance(case.until_s)
    return scenario


@pytest.mark.parametrize("name", list(CASES))
def test_hard_case(name: str) -> None:
    case = CASES[name]
    arrived = any(t == "presence.arrived" for t, _ in case.expected)
    assert _play(case).pairs(skip=() if arrived else ("presence.arrived",)) == case.expected


def test_the_device_left_behind_alert_names_both_devices_and_is_resolved_by_the_return() -> None:
    scenario = _play(CASES["badge_left_in_the_booth_does_not_hide_a_30_minute_absence"])
    [left] = scenario.only("alert.device_left_behind")
    assert left.data["left_device_id"] == BADGE and left.data["away_device_id"] == PHONE
    assert left.alert_key is not None
    assert isinstance(left.data["apart_m"], float)
    [returned] = scenario.only("presence.returned")
    assert left.alert_key in returned.resolves


def test_a_withdrawal_names_the_alert_and_why() -> None:
    name = "a_report_made_before_leaving_but_entered_after_the_alert_withdraws_it"
    scenario = _play(CASES[name])
    [unreported] = scenario.only("alert.unreported_departure")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (unreported.alert_key,)
    assert withdrawn.alert_key is None
    assert withdrawn.data["reason"] == "report_on_record"
    assert withdrawn.data["reported_at"] == at(-60).isoformat()
    assert withdrawn.data["entered_at"] == at(360).isoformat()
    # The return no longer resolves what was withdrawn.
    [returned] = scenario.only("presence.returned")
    assert unreported.alert_key not in returned.resolves


def test_a_report_entered_after_the_shift_closed_still_withdraws() -> None:
    case = CASES["an_unreported_decision_falling_after_the_end_is_still_taken"]
    scenario = _play(case)
    assert scenario.state.closed is True
    scenario.run([(8000, report("r9", filed_s=3480))])
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.data["report_id"] == "r9"


def test_a_deadline_due_while_the_gateway_was_down_is_late_even_if_a_queued_fix_fires_it() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 270, outside)])
    # Killed at 300 s; restarted at 1500 s with the fixes queued at the broker.
    down = scenario.state
    assert down.stepped_at == at(270)
    scenario.state = replace(down, unwatched_from=down.stepped_at, unwatched_until=at(1500))
    scenario.auto_tick = False
    scenario.clock.set(at(1500))
    for offset_s in range(300, 1500, 30):
        scenario.feed(fix(Membership.OUTSIDE, lag_s=1500 - offset_s)(at(1500)))
    [overtime] = scenario.only("alert.overtime_departure")
    assert overtime.data["late"] is True and overtime.data["backfilled"] is True


def test_an_unreported_decision_due_before_sparse_fixes_confirmed_it_is_not_late() -> None:
    # Fixes 3 minutes apart: the second fix outside (1080 s) confirms the departure after its
    # unreported decision was due (900 + 120 s). Nothing was down or stalled, nothing uploaded
    # late: the alert is neither late nor backfilled. (A fix three minutes after the last one
    # waits 5 s for positions the terminal may have stored: gateway.rules.holds.)
    scenario = _play(CASES["sparse_outside_fixes_spanning_the_confirmation_confirm_a_departure"])
    [unreported] = scenario.only("alert.unreported_departure")
    assert unreported.data["detected_at"] == at(1085).isoformat()
    assert (unreported.data["late"], unreported.data["backfilled"]) == (False, False)


def test_after_a_restart_a_tick_leaves_overdue_deadlines_to_the_fixes_the_broker_kept() -> None:
    scenario = Scenario().run([*ON_POST, *track(0, 270, outside)])
    # Killed at 300 s; back at 1500 s. He was back on post at 840 s, before the 900 s limit:
    # the broker holds the fixes that show it, but the first tick comes before them.
    down = scenario.state
    scenario.state = replace(down, unwatched_from=down.stepped_at, unwatched_until=at(1500))
    scenario.auto_tick = False
    scenario.clock.set(at(1500))
    assert scenario.feed(Tick()) == []
    assert scenario.state.next_deadline == at(1530)  # the grace after the restart
    for offset_s in range(300, 1500, 30):
        where = Membership.OUTSIDE if offset_s < 840 else Membership.INSIDE
        scenario.feed(fix(where, lag_s=1500 - offset_s)(at(1500)))
    scenario.clock.set(at(1530))
    scenario.feed(Tick())
    assert scenario.pairs() == [
        ("presence.departed", 0.0),
        ("alert.unreported_departure", 0.0),
        ("presence.returned", 840.0),
    ]
