"""A terminal out of network (a basement, a lift, a dead zone) stores its positions and uploads
them when it is back: the outing they show is judged as if they had come live.

Found by the generated days of ``test_presence_properties``: the stored positions sent after
the live one (as JT/T 808 terminals may: 0x0200, then 0x0704) were never judged; an upload
split over two messages with a tick between them decided the outing's 15 minutes with half of
it known; an alert that fell on the clock while the terminal was quiet stood after its
positions showed him back before it; a leave he had for later was taken as his for the
outing; a late cancellation of a leave typed in late raised nothing. An absence at the shift
start raised while his terminal was quiet in the booth stood (resolved, as if he had come
late) after its positions showed him on post before it fell.
"""

from __future__ import annotations

import pytest

from gateway.rules import PresenceState
from geofence.membership import Membership
from tests.unit.rules.scenario import (
    DEVICE,
    T0,
    Build,
    Scenario,
    at,
    cancel,
    fix,
    inside,
    leave,
    outside,
    restore,
    shift,
    tick,
    track,
)

SKIP = ("presence.arrived", "alert.device_silent", "presence.device_resumed")


def upload(
    start_s: float, end_s: float, membership: Membership, sent_s: float
) -> list[tuple[float, Build]]:
    """The fixes a terminal took every 30 s from ``start_s`` to ``end_s`` (exclusive), sent
    at ``sent_s``, oldest first, 10 ms apart."""
    count = int((end_s - start_s) // 30)
    return [
        (sent_s + i / 100, fix(membership, lag_s=sent_s + i / 100 - (start_s + i * 30)))
        for i in range(count)
    ]


def _day(script: list[tuple[float, Build]], state: PresenceState | None = None) -> Scenario:
    scenario = Scenario(state=shift(4 * 3600) if state is None else state).run(script)
    scenario.advance(8 * 3600)
    return scenario


def _live_then_stored(sent_s: tuple[float, float, float]) -> list[tuple[float, Build]]:
    """On post, quiet from 09:00; at 09:25 the terminal sends where it is (on post), then
    what it stored (on post to 09:05, out to 09:10, on post again) in three messages sent at
    ``sent_s``; then live fixes on post."""
    first, second, third = sent_s
    return (
        track(-300, 3570, inside)
        + track(5100, 5100, inside)
        + upload(3600, 3900, Membership.INSIDE, first)
        + upload(3900, 4200, Membership.OUTSIDE, second)
        + upload(4200, 5100, Membership.INSIDE, third)
        + track(5130, 6000, inside)
    )


def test_an_upload_split_by_a_tick_is_judged_whole() -> None:
    # Quiet from 09:00; out 09:05-09:10 on the stored positions, sent at 09:25 in two messages
    # with a tick between: back at 09:10, so no 15 minutes (09:20) were ever off post.
    scenario = _day(
        track(-300, 3570, inside)
        + upload(3600, 3900, Membership.INSIDE, 5100)
        + upload(3900, 4200, Membership.OUTSIDE, 5100.5)
        + [(5101.5, tick)]
        + upload(4200, 5100, Membership.INSIDE, 5102)
        + track(5130, 6000, inside)
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3900.0),
        ("alert.unreported_departure", 3900.0),
        ("presence.returned", 4200.0),
    ]


def test_overtime_raised_while_quiet_is_withdrawn_when_the_upload_shows_him_back() -> None:
    # Out at 09:00 live, quiet from 09:03 out there: overtime at 09:15 on the clock. The upload
    # at 09:30 shows him back at 09:08.
    scenario = _day(
        track(-300, 3570, inside)
        + track(3600, 3780, outside)
        + upload(3810, 4080, Membership.OUTSIDE, 5400)
        + upload(4080, 5400, Membership.INSIDE, 5400.5)
        + track(5430, 6000, inside)
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3600.0),
        ("alert.unreported_departure", 3600.0),
        ("alert.overtime_departure", 4500.0),
        ("presence.returned", 4080.0),
        ("alert.withdrawn", 5400.5 + 1 / 100),
    ]
    [overtime] = scenario.only("alert.overtime_departure")
    [returned] = scenario.only("presence.returned")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (overtime.alert_key,)
    assert overtime.alert_key not in returned.resolves
    assert withdrawn.data["reason"] == "returned_before"
    assert withdrawn.data["fell_at"] == at(4500).isoformat()
    assert withdrawn.data["returned_at"] == at(4080).isoformat()


def test_an_overrun_raised_while_quiet_is_withdrawn_and_the_leave_still_owed() -> None:
    # On a leave 09:00-09:10; out at 09:00, quiet from 09:03: overrun at 09:10 on the clock.
    # Back at 09:08 by the upload at 09:30: no overrun, the cancellation owed by 10:08.
    scenario = _day(
        track(-300, 3570, inside)
        + track(3600, 3780, outside)
        + upload(3810, 4080, Membership.OUTSIDE, 5400)
        + upload(4080, 5400, Membership.INSIDE, 5400.5)
        + track(5430, 9000, inside)
        + [(3000, leave("L1", 3600, 4200))]
    )
    [overrun] = scenario.only("alert.leave_overrun")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (overrun.alert_key,)
    assert withdrawn.data["withdrawn_type"] == "alert.leave_overrun"
    assert scenario.timed("alert.leave_not_cancelled", "leave_id") == [(4080 + 3600, "L1")]


def test_a_leave_for_later_is_not_taken_for_an_outing_the_upload_shows_over() -> None:
    # Unreported out at 09:00, quiet from 09:03; a leave for 09:15-09:45 on record covers the
    # 15 minutes as far as the gateway knows then. The upload shows him back at 09:05: he
    # never used that leave and owes no cancellation of it.
    scenario = _day(
        track(-300, 3570, inside)
        + track(3600, 3780, outside)
        + upload(3810, 3900, Membership.OUTSIDE, 5400)
        + upload(3900, 5400, Membership.INSIDE, 5400.5)
        + track(5430, 12000, inside)
        + [(1800, leave("L9", 4500, 6300))]
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3600.0),
        ("alert.unreported_departure", 3600.0),
        ("presence.returned", 3900.0),
    ]
    [returned] = scenario.only("presence.returned")
    assert returned.data["leave_id"] is None


def test_a_late_cancellation_of_a_leave_typed_in_late_is_late() -> None:
    # Out 09:00-09:10 on a leave approved at 08:55, typed in at 11:00 with the cancellation he
    # made at 10:40, past the hour (10:10): the alert stands, resolved by the cancellation.
    scenario = _day(
        track(-300, 3570, inside)
        + track(3600, 4170, outside)
        + track(4200, 7170, inside)
        + [
            (10800, leave("L1", 3600, 6000, approved_s=3300)),
            (10830, cancel("L1", cancelled_s=9600)),
        ]
    )
    [alert] = scenario.only("alert.leave_not_cancelled")
    [cancelled] = scenario.only("leave.cancelled")
    assert alert.time == at(4200 + 3600) and alert.data["leave_entered_at"] is not None
    assert cancelled.data["in_time"] is False and cancelled.resolves == (alert.alert_key,)


def test_a_cancellation_in_time_of_a_leave_typed_in_late_raises_nothing() -> None:
    scenario = _day(
        track(-300, 3570, inside)
        + track(3600, 4170, outside)
        + track(4200, 7170, inside)
        + [
            (10800, leave("L1", 3600, 6000, approved_s=3300)),
            (10830, cancel("L1", cancelled_s=7000)),
        ]
    )
    assert scenario.only("alert.leave_not_cancelled") == []
    [cancelled] = scenario.only("leave.cancelled")
    assert cancelled.data["in_time"] is True


def test_the_stored_positions_sent_after_the_live_one_are_judged() -> None:
    # Quiet from 09:00; at 09:25 the terminal sends where it is now, then what it stored: out
    # 09:05-09:10. The live fix waits for them; the terminal is heard again at once.
    scenario = _day(_live_then_stored((5100.5, 5101, 5101.5)))
    assert scenario.pairs(skip=("presence.arrived", "alert.device_silent")) == [
        ("presence.device_resumed", 5100.0),
        ("presence.departed", 3900.0),
        ("alert.unreported_departure", 3900.0),
        ("presence.returned", 4200.0),
    ]


def test_a_live_fix_held_back_is_judged_when_nothing_older_comes() -> None:
    # Quiet from 09:00 out there (out at 08:58): back at 09:25 by a live fix, nothing stored.
    # The fix waits 5 s for what the terminal may send behind it, then counts as it came: back
    # at 09:25; the overtime that fell before stands. One fix inside and nothing after it, the
    # return is confirmed once its device's next fix would have come, at most 10 minutes on
    # (``deadlines._return_due``).
    scenario = Scenario(state=shift(4 * 3600)).run(
        track(-300, 3450, inside) + track(3480, 3570, outside) + track(5100, 5100, inside)
    )
    assert scenario.state.held != ()
    assert scenario.only("presence.device_resumed") != []
    scenario.state = restore(scenario.state)  # a restart keeps it: it is in the stored state
    assert scenario.state.held != ()
    scenario.advance(5104)
    assert scenario.state.held != ()
    scenario.advance(5106)
    assert scenario.state.held == ()
    scenario.advance(5699)
    assert scenario.only("presence.returned") == []
    scenario.advance(5800)
    [returned] = scenario.only("presence.returned")
    assert returned.time == at(5100)
    assert scenario.timed("alert.overtime_departure") == [(3480 + 900,)]


def test_a_sparse_terminals_fix_held_back_still_holds_the_deadline_it_precedes() -> None:
    # Fixes three minutes apart: out at 09:00, back by the fix of 09:14:58, two seconds before
    # the 15 minutes. Held back 5 s, that fix still comes before the tick of 09:15 decides:
    # no overtime raised and withdrawn, as none would have been without the hold.
    scenario = _day(
        track(-300, 3599, inside, every_s=180)
        + track(3600, 4320, outside, every_s=180)
        + track(4498, 4858, inside, every_s=180)
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3600.0),
        ("alert.unreported_departure", 3600.0),
        ("presence.returned", 4498.0),
    ]


@pytest.mark.parametrize(
    ("first_s", "every_s"),
    [(-299, 20), (-302, 90)],
    ids=["badge heard every 20 s", "badge saving power, a fix every 90 s"],
)
def test_the_badge_in_the_booth_does_not_let_the_phones_held_fix_jump_its_upload(
    first_s: float, every_s: float
) -> None:
    # As above, with his badge on the booth's table, heard all along; a fix of it comes at
    # 09:25:01 (every 20 s), or at 09:24:58, held back itself (every 90 s: after a gap), while
    # the phone's stored fixes arrive. Before, the badge's newer fix applied the phone's held
    # one, or (one fix held at a time) its own held fix kept the phone's from being held: the
    # rest of the upload was then older than the phone's track, kept as history, the return of
    # 09:10 never seen. Nor does the badge's fix, or a tick, fire the overtime of 09:20 in the
    # gap the phone's held fix follows while its stored fixes are on their way.
    badge = "badge-2"
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", [DEVICE, badge], T0, at(4 * 3600)
    )
    badge_fixes = track(first_s, 6000, fix(Membership.INSIDE, device=badge), every_s=every_s)
    scenario = _day(_live_then_stored((5100.5, 5100.6, 5101.2)) + badge_fixes, state)
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3900.0),
        ("alert.device_left_behind", 3900.0),
        ("alert.unreported_departure", 3900.0),
        ("presence.returned", 4200.0),
    ]


def test_a_state_stored_before_each_device_could_hold_a_fix_still_reads() -> None:
    # States saved by the previous version keep their one fix held back as ``held_fix`` and
    # ``held_membership``: a restart onto this version must not lose it.
    scenario = Scenario(state=shift(4 * 3600)).run(
        track(-300, 3450, inside) + track(5100, 5100, inside)
    )
    [held] = scenario.state.held
    stored = scenario.state.to_json()
    del stored["held"]
    stored |= {"held_fix": held.evidence.to_json(), "held_membership": str(held.membership)}
    assert PresenceState.from_json(stored) == scenario.state
    assert restore(scenario.state) == scenario.state


def _quiet_across_the_start(arrived_s: float, sent_s: float) -> Scenario:
    """His terminal in a blind area (a basement booth) from before the shift start: nothing
    heard until ``sent_s``, when it uploads what it stored, on post from ``arrived_s``; then
    live fixes on post."""
    return _day(
        upload(arrived_s, sent_s, Membership.INSIDE, sent_s) + track(sent_s + 30, 6000, inside)
    )


def test_an_absence_raised_while_quiet_is_withdrawn_when_the_upload_shows_him_on_post() -> None:
    # On post from 07:55 in the booth, his terminal out of network until 08:40: absent and
    # silent at 08:10 on the clock. The upload shows him there all along: the absence was
    # wrong and is withdrawn; the silence stands (nobody heard him), resolved when heard.
    scenario = _quiet_across_the_start(-300, 2400)
    [absent] = scenario.only("alert.absent_at_shift_start")
    [arrived] = scenario.only("presence.arrived")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert absent.time == at(600)
    assert arrived.time == at(-300) and absent.alert_key not in arrived.resolves
    assert withdrawn.withdraws == (absent.alert_key,)
    assert withdrawn.data["reason"] == "arrived_before"
    assert withdrawn.data["withdrawn_type"] == "alert.absent_at_shift_start"
    assert withdrawn.data["arrived_at"] == at(-300).isoformat()
    assert withdrawn.data["fell_at"] == at(600).isoformat()
    silent = scenario.only("alert.device_silent")[0]
    [resumed] = scenario.only("presence.device_resumed")
    assert silent.time == at(600) and resumed.resolves == (silent.alert_key,)


@pytest.mark.parametrize(
    ("arrived_s", "withdrawn"),
    [(599, True), (600, False), (720, False)],
    ids=["a second before it fell", "as it fell", "after it fell"],
)
def test_an_absence_stands_when_the_upload_shows_him_coming_only_as_it_fell(
    arrived_s: float, withdrawn: bool
) -> None:
    # Live, a fix fires what was due by its own time first: on post at 08:10:00 comes after
    # the absence of 08:10, which his arrival then resolves.
    scenario = _quiet_across_the_start(arrived_s, 2400)
    [absent] = scenario.only("alert.absent_at_shift_start")
    [arrived] = scenario.only("presence.arrived")
    assert arrived.time == at(arrived_s)
    if withdrawn:
        assert [w.withdraws for w in scenario.only("alert.withdrawn")] == [(absent.alert_key,)]
        assert arrived.resolves == ()
    else:
        assert scenario.only("alert.withdrawn") == []
        assert arrived.resolves == (absent.alert_key,)


def test_an_absence_withdrawn_on_the_upload_is_not_withdrawn_again_by_a_leave() -> None:
    # As above, then a leave over the start approved at 07:30 is typed in at 09:00: it would
    # have excused the absence, which is withdrawn already.
    scenario = _day(
        upload(-300, 2400, Membership.INSIDE, 2400)
        + track(2430, 6000, inside)
        + [(3600, leave("L1", -600, 300, approved_s=-1800))]
    )
    [absent] = scenario.only("alert.absent_at_shift_start")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.withdraws == (absent.alert_key,)
    assert withdrawn.data["reason"] == "arrived_before"


def test_a_terminal_first_heard_after_the_start_has_its_live_fix_wait_for_what_it_stored() -> None:
    # As above, but the terminal sends where it is now (08:40) first, then what it stored
    # since 07:55 (as JT/T 808 terminals may: 0x0200, then 0x0704). Before, the first fix of
    # a terminal was never held back: it counted at once as his arrival at 08:40, and the
    # stored positions behind it were history.
    scenario = _day(
        track(2400, 2400, inside)
        + upload(-300, 2400, Membership.INSIDE, 2400.5)
        + track(2430, 6000, inside)
    )
    [absent] = scenario.only("alert.absent_at_shift_start")
    [arrived] = scenario.only("presence.arrived")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert arrived.time == at(-300)
    assert withdrawn.withdraws == (absent.alert_key,)
    assert withdrawn.data["reason"] == "arrived_before"


def _scan_downloaded(at_s: float, sent_s: float) -> tuple[float, Build]:
    """His scan of a checkpoint at his post at ``at_s`` with an offline wand (evidence from
    fixed equipment, not worn), downloaded at ``sent_s``."""
    return (sent_s, fix(Membership.INSIDE, lag_s=sent_s - at_s, worn=False))


@pytest.mark.parametrize(
    ("scanned_s", "withdrawn"),
    [(-60, True), (599, True), (600, False), (1860, False), (4 * 3600 + 60, False)],
    ids=["before the start", "before it fell", "as it fell", "after it fell", "after the end"],
)
def test_an_absence_is_withdrawn_by_a_wand_downloaded_after_the_shift_that_shows_it_wrong(
    scanned_s: float, withdrawn: bool
) -> None:
    # No terminal heard all shift: absent at 08:10. The wand he carried, downloaded at 12:30,
    # after his machine closed, holds his scan at his post. Dated before the absence fell, it
    # shows the alert wrong: withdrawn, and nothing else (he is off duty: no arrival, so no
    # time on post is counted). Before, every fix after the end was ignored.
    scenario = Scenario(state=shift(4 * 3600))
    scenario.advance(4 * 3600 + 1800)
    assert scenario.state.closed
    scenario.run([_scan_downloaded(scanned_s, 4 * 3600 + 16200)])
    [absent] = scenario.only("alert.absent_at_shift_start")
    found = scenario.only("alert.withdrawn")
    assert scenario.only("presence.arrived") == []
    assert scenario.state.closed
    if withdrawn:
        [withdrawal] = found
        assert withdrawal.withdraws == (absent.alert_key,)
        assert withdrawal.data["reason"] == "arrived_before"
        assert withdrawal.data["arrived_at"] == at(scanned_s).isoformat()
        again = scenario.feed(fix(Membership.INSIDE, lag_s=16200, worn=False)(scenario.clock.now()))
        assert again == []  # withdrawn once
    else:
        assert found == []


@pytest.mark.parametrize(
    ("devices", "wands", "silent"),
    [
        (("wand-1",), ("wand-1",), False),
        ((DEVICE, "wand-1"), ("wand-1",), True),
        ((DEVICE,), (), True),
    ],
    ids=["a wand alone", "a terminal and a wand", "a terminal"],
)
def test_a_guard_heard_only_through_an_offline_wand_is_never_silent(
    devices: tuple[str, ...], wands: tuple[str, ...], silent: bool
) -> None:
    # Nobody hears a guard whose only device is an offline wand while he is on duty: *terminal
    # silent* would fall every shift for a terminal he does not have, and stay open. His
    # absence at the start still falls (nothing places him), and the wand's download after
    # the shift is what withdraws it. Before, both fell every shift.
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", devices, T0, at(4 * 3600), wands=wands
    )
    scenario = Scenario(state=state)
    scenario.advance(2 * 3600)
    scenario.state = restore(scenario.state)  # the wands are kept across a restart
    scenario.advance(5 * 3600)
    assert scenario.state.closed
    assert len(scenario.only("alert.absent_at_shift_start")) == 1
    assert len(scenario.only("alert.device_silent")) == (1 if silent else 0)
    assert scenario.state.wands == wands
