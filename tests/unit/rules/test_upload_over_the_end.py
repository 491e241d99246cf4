"""A terminal quiet at the shift's end (a basement, a lift, switched off) uploads what it stored
after the end: the end waits for it up to ``end_upload_wait_s`` (10 min), and the positions
dated inside the shift are judged as any upload.

Before, the end fell on the clock and every fix arriving after it was ignored (off duty): a
guard back on post at 11:43 whose terminal uploaded at 12:05 kept the ``alert.left_early`` of
12:00, and an outing the upload showed inside the shift raised nothing at all.
"""

from __future__ import annotations

from datetime import datetime

from gateway.policy import SitePolicy
from gateway.rules import PresenceState
from geofence.membership import Membership
from tests.unit.rules.scenario import (
    T0,
    Build,
    Scenario,
    at,
    fix,
    inside,
    leave,
    outside,
    secs,
    shift,
    tick,
    track,
)
from tests.unit.rules.test_blind_area_upload import SKIP, upload

END_S = 4 * 3600.0
"""The shift: 08:00-12:00."""
WAIT_S = SitePolicy().end_upload_wait_s


def _day(script: list[tuple[float, Build]], policy: SitePolicy | None = None) -> Scenario:
    scenario = Scenario(policy=policy or SitePolicy(), state=shift(END_S))
    scenario.run(script)
    scenario.advance(END_S + 2 * 3600)
    return scenario


OUT_TO_THE_END = [
    ("presence.departed", 12600.0),
    ("alert.unreported_departure", 12600.0),
    ("alert.overtime_departure", 13500.0),
    ("alert.left_early", END_S),
]
"""Out from 11:30 to the end, seen as such: every alert due in the shift, and left early."""


def _out_at_half_past_eleven_then_quiet() -> list[tuple[float, Build]]:
    """On post from before 08:00; out at 11:30, live to 11:39:30; then his terminal quiet."""
    return track(-300, 12570, inside) + track(12600, 13170, outside)


def _back_at_eleven_forty_three_sent_at_five_past_twelve() -> list[tuple[float, Build]]:
    """What the quiet terminal stored: still out to 11:43, on post from 11:43 to the end."""
    return upload(13200, 13380, Membership.OUTSIDE, END_S + 300) + upload(
        13380, END_S, Membership.INSIDE, END_S + 300.5
    )


def test_back_before_the_end_on_positions_uploaded_after_it_is_not_leaving_early() -> None:
    # The upload at 12:05 shows him back at 11:43; the overtime the clock raised at 11:45
    # while the terminal was quiet is withdrawn by it too.
    scenario = _day(
        _out_at_half_past_eleven_then_quiet()
        + _back_at_eleven_forty_three_sent_at_five_past_twelve()
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 12600.0),
        ("alert.unreported_departure", 12600.0),
        ("alert.overtime_departure", 13500.0),
        ("presence.returned", 13380.0),
        ("alert.withdrawn", END_S + 300.51),
    ]
    [returned] = scenario.only("presence.returned")
    assert returned.data["backfilled"] is True
    [withdrawn] = scenario.only("alert.withdrawn")
    assert withdrawn.data["withdrawn_type"] == "alert.overtime_departure"
    # Quiet for ten minutes at 11:49:30: heard again by the upload, which the end waited for.
    [silent] = scenario.only("alert.device_silent")
    [resumed] = scenario.only("presence.device_resumed")
    assert resumed.resolves == (silent.alert_key,)
    assert resumed.time == at(END_S + 300)
    assert scenario.events.index(resumed) > scenario.events.index(returned)


def test_out_at_the_end_on_positions_uploaded_after_it_is_leaving_early_once_they_came() -> None:
    scenario = _day(
        _out_at_half_past_eleven_then_quiet()
        + upload(13200, END_S, Membership.OUTSIDE, END_S + 300)
    )
    assert scenario.pairs(skip=SKIP) == OUT_TO_THE_END
    [left] = scenario.only("alert.left_early")
    # Decided once the upload reached the end and had its 30 s for more of it to come (as
    # any upload: gateway.rules.holds), not at the end of the 10 minutes' wait.
    detected = datetime.fromisoformat(str(left.data["detected_at"]))
    assert at(END_S + 300 + 30) < detected < at(END_S + 300 + 31)


def test_nothing_uploaded_the_end_falls_when_the_wait_is_over() -> None:
    scenario = Scenario(state=shift(END_S)).run(_out_at_half_past_eleven_then_quiet())
    scenario.advance(END_S + WAIT_S - 1)
    assert scenario.only("alert.left_early") == []
    assert not scenario.state.ended
    scenario.advance(END_S + 2 * 3600)
    [left] = scenario.only("alert.left_early")
    assert left.time == at(END_S)
    assert left.data["detected_at"] == at(END_S + WAIT_S).isoformat()
    # The wait is the rule's, not the gateway's delay, and no old data decided it.
    assert (left.data["late"], left.data["backfilled"]) == (False, False)
    assert scenario.state.ended


def test_a_leave_typed_in_while_the_end_waits_does_not_end_the_wait() -> None:
    # Found by the generated days: a leave for the evening typed in at 12:02 fired every
    # deadline due by its time, the end among them, and the upload at 12:05 came too late.
    scenario = _day(
        [
            *_out_at_half_past_eleven_then_quiet(),
            (END_S + 120, leave("L9", END_S + 3600, END_S + 7200)),
            *_back_at_eleven_forty_three_sent_at_five_past_twelve(),
        ]
    )
    assert scenario.only("alert.left_early") == []
    assert [secs(e.time) for e in scenario.only("presence.returned")] == [13380.0]


def test_an_upload_after_the_end_split_by_a_tick_is_judged_whole() -> None:
    # Found by the generated days: quiet from 11:57, out from 11:58:30 by the positions sent
    # at 12:07 in two messages. The first (on post to 11:58) made the terminal heard up to
    # the end's last minute, and the tick between them fired the end with the outing unknown.
    scenario = _day(
        track(-300, 14220, inside)
        + upload(14250, 14310, Membership.INSIDE, END_S + 431)
        + [(END_S + 431.5, tick)]
        + upload(14310, END_S, Membership.OUTSIDE, END_S + 432)
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 14310.0),
        ("alert.left_early", END_S),
        ("alert.unreported_departure", 14310.0),
    ]


def test_an_upload_just_after_the_end_is_judged_whole_though_its_last_fixes_are_young() -> None:
    # Found by the generated days: quiet from 11:57 (his last live fix on post at 11:56:30),
    # out from 11:58:10 by the positions sent a second after the end. The one taken at
    # 11:59:05 was less than a minute old when it came: taken for live, it ended the upload and
    # made the terminal heard to the end's last minute, so the tick after it fired the end
    # with the departure unconfirmed (53 s of outside fixes), and the fix of 11:59:55 that
    # confirms it came to a closed shift: nothing was raised.
    taken_sent = [(14290.0, END_S + 1), (14345.0, END_S + 1.01), (14395.0, END_S + 2)]
    stored = [(sent, fix(Membership.OUTSIDE, lag_s=sent - taken)) for taken, sent in taken_sent]
    scenario = _day(track(-300, 14220, inside) + stored + [(END_S + 1.5, tick)])
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 14290.0),
        ("alert.left_early", END_S),
        ("alert.unreported_departure", 14290.0),
    ]


def test_an_outing_in_a_dead_zone_before_the_end_is_judged_from_the_upload_after_it() -> None:
    # On post, quiet from 11:30; the upload at 12:05: out 11:35-11:55, then on post.
    scenario = _day(
        track(-300, 12570, inside)
        + upload(12600, 12900, Membership.INSIDE, END_S + 300)
        + upload(12900, 14100, Membership.OUTSIDE, END_S + 300.5)
        + upload(14100, END_S, Membership.INSIDE, END_S + 301)
    )
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 12900.0),
        ("alert.unreported_departure", 12900.0),
        ("alert.overtime_departure", 13800.0),
        ("presence.returned", 14100.0),
    ]
    assert all(e.data["backfilled"] is True for e in scenario.events if e.type not in SKIP)


def test_a_decision_falling_while_the_end_waits_waits_with_it_and_is_not_late() -> None:
    # On a leave 10:00-11:00, back at 11:05 and never cancelled: the hour to cancel runs out at
    # 12:05, inside the end's wait for his terminal, quiet from 11:30. It falls at 12:10.
    scenario = _day(
        [
            (-600, leave("L1", 7200, 10800)),
            *track(-300, 7170, inside),
            *track(7200, 11070, outside),
            *track(11100, 12600, inside),
        ]
    )
    [owed] = scenario.only("alert.leave_not_cancelled")
    assert owed.time == at(11100 + 3600)
    assert owed.data["detected_at"] == at(END_S + WAIT_S).isoformat()
    assert (owed.data["late"], owed.data["backfilled"]) == (False, False)


def test_a_terminal_heard_to_the_end_does_not_make_it_wait() -> None:
    scenario = _day(track(-300, 12570, inside) + track(12600, END_S + 600, outside))
    [left] = scenario.only("alert.left_early")
    assert left.data["detected_at"] == at(END_S).isoformat()


def test_a_wait_of_zero_keeps_the_end_on_the_clock_and_the_upload_after_it_unjudged() -> None:
    # The upload after the end is not judged (no return is recorded), but the return it shows
    # before the end withdraws the alerts it shows wrong (gateway.rules.late_return): left
    # early, and the overtime that fell at 11:45, after he was back at 11:43.
    scenario = _day(
        _out_at_half_past_eleven_then_quiet()
        + _back_at_eleven_forty_three_sent_at_five_past_twelve(),
        SitePolicy(end_upload_wait_s=0),
    )
    withdrawn = [("alert.withdrawn", secs(e.time)) for e in scenario.only("alert.withdrawn")]
    assert scenario.pairs(skip=SKIP) == OUT_TO_THE_END + withdrawn
    [left] = scenario.only("alert.left_early")
    assert left.data["detected_at"] == at(END_S).isoformat()
    assert [
        (e.data["withdrawn_type"], e.data["returned_at"]) for e in scenario.only("alert.withdrawn")
    ] == [
        ("alert.overtime_departure", at(13380).isoformat()),
        ("alert.left_early", at(13380).isoformat()),
    ]


def _never_heard_then_sent(after_end_s: float = 300) -> list[tuple[float, Build]]:
    """A basement post out of network from before 08:00 to the end: on post from 07:58, out
    10:00-10:30, on post to the end, all sent ``after_end_s`` after the end (12:05) in three
    messages."""
    sent = END_S + after_end_s
    return (
        upload(-120, 7200, Membership.INSIDE, sent)
        + upload(7200, 9000, Membership.OUTSIDE, sent + 5)
        + upload(9000, END_S, Membership.INSIDE, sent + 10)
    )


def test_a_terminal_never_heard_in_the_shift_has_the_end_wait_for_its_upload() -> None:
    # Before, the end waited only for a terminal heard in the shift: the upload was history,
    # the absence withdrawn and nothing else told (no arrival, the outing never judged).
    scenario = _day(_never_heard_then_sent())
    assert scenario.pairs(skip=SKIP) == [
        ("alert.absent_at_shift_start", 600.0),
        # Told by the upload's second position (sent 10 ms after the first): one position
        # inside confirms no arrival.
        ("alert.withdrawn", END_S + 300.01),
        ("presence.departed", 7200.0),
        ("alert.unreported_departure", 7200.0),
        ("alert.overtime_departure", 8100.0),
        ("presence.returned", 9000.0),
    ]
    [arrived] = scenario.only("presence.arrived")
    [withdrawn] = scenario.only("alert.withdrawn")
    assert arrived.time == at(-120) and arrived.data["backfilled"] is True
    assert withdrawn.data["reason"] == "arrived_before"
    [silent] = scenario.only("alert.device_silent")
    [resumed] = scenario.only("presence.device_resumed")
    assert resumed.resolves == (silent.alert_key,)
    assert scenario.only("alert.left_early") == []
    assert scenario.state.closed


def test_a_terminal_never_heard_and_nothing_sent_ends_the_shift_when_the_wait_is_over() -> None:
    # A guard who did not come, his terminal off: the end waits for an upload that never
    # comes, and nothing more than his absence and the silence is raised.
    scenario = Scenario(state=shift(END_S))
    scenario.advance(END_S + WAIT_S - 1)
    assert not scenario.state.ended
    scenario.advance(END_S + WAIT_S + 1)
    assert scenario.state.ended
    assert scenario.pairs() == [
        ("alert.absent_at_shift_start", 600.0),
        ("alert.device_silent", 600.0),
    ]


def test_a_terminal_never_heard_uploading_after_the_wait_only_withdraws_the_absence() -> None:
    scenario = _day(_never_heard_then_sent(after_end_s=WAIT_S + 900))
    assert scenario.pairs(skip=SKIP) == [
        ("alert.absent_at_shift_start", 600.0),
        ("alert.withdrawn", END_S + WAIT_S + 900),
    ]
    assert scenario.only("presence.arrived") == []


def test_a_guard_with_only_an_offline_wand_has_no_upload_to_wait_for() -> None:
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", ("wand-1",), T0, at(END_S), wands=("wand-1",)
    )
    scenario = Scenario(state=state)
    scenario.advance(END_S + 1)
    assert scenario.state.ended


def test_a_double_shift_hands_over_at_the_end_without_waiting() -> None:
    # 连班: the next shift at this post starts at this one's end and judges the outing; the
    # hand-over does not wait for the quiet terminal.
    scenario = Scenario(state=shift(END_S, next_shift_s=END_S))
    scenario.run(_out_at_half_past_eleven_then_quiet())
    scenario.advance(END_S + 1)
    assert scenario.state.ended
    assert scenario.state.handover is not None
