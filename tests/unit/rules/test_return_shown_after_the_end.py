"""A return before the end that evidence coming after the guard's machine ended shows
(``gateway.rules.late_return``): the alerts it shows wrong are withdrawn, nothing else.

The shift runs from T0 to 4 h (the "end", 12:00 below for a shift of 08:00-12:00). On post,
he goes out at 11:40 (fixes outside every 30 s to 11:45), and his terminal goes quiet out
there. The clock raises *unreported* at 11:42, *overtime* at 11:55 and, the end's wait for a
quiet terminal over, *left early* at 12:10; nothing being owed any more, the machine closes.
What he did meanwhile reaches the gateway only later: the positions his terminal stored (sent
at 12:30, after the end's wait), or the scans of the offline wand he carried (downloaded at
16:30). Before, every one of them was history and *left early* stood whatever they showed.
"""

from __future__ import annotations

import pytest

from gateway.rules import PresenceState, RuleEvent
from geofence.membership import Membership
from tests.unit.rules.scenario import (
    DEVICE,
    T0,
    Build,
    Scenario,
    at,
    fix,
    inside,
    leave,
    outside,
    restore,
    track,
)

END_S = 4 * 3600
OUT_S = END_S - 1200  # 11:40
QUIET_S = END_S - 900  # 11:45, the last fix outside sent live
UPLOAD_S = END_S + 1800  # 12:30, after the end's wait (12:10)
DOWNLOAD_S = END_S + 16200  # 16:30
BADGE = "badge-2"


def _out_at_the_end(devices: tuple[str, ...] = (DEVICE,)) -> Scenario:
    """The morning above, to the machine's close; its alerts raised on the clock."""
    state = PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", list(devices), T0, at(END_S)
    )
    scenario = Scenario(state=state).run(
        track(-300, OUT_S - 30, inside) + track(OUT_S, QUIET_S, outside)
    )
    scenario.advance(UPLOAD_S - 60)
    assert scenario.state.closed
    assert len(scenario.only("alert.left_early")) == 1
    assert len(scenario.only("alert.overtime_departure")) == 1
    return scenario


def _stored(start_s: float, end_s: float, membership: Membership, sent_s: float) -> list[Build]:
    """What the terminal took every 30 s from ``start_s`` to ``end_s`` inclusive, all sent at
    ``sent_s``, oldest first."""
    count = int((end_s - start_s) // 30) + 1
    return [fix(membership, lag_s=sent_s - (start_s + i * 30)) for i in range(count)]


def _send(scenario: Scenario, at_s: float, builds: list[Build]) -> list[RuleEvent]:
    scenario.advance(at_s)
    return [event for build in builds for event in scenario.feed(build(scenario.clock.now()))]


def _withdrawn(events: list[RuleEvent]) -> dict[str, dict[str, object]]:
    """The withdrawals among ``events``, by the type of the alert withdrawn."""
    return {
        str(e.data["withdrawn_type"]): dict(e.data) for e in events if e.type == "alert.withdrawn"
    }


def _scan(at_s: float, sent_s: float) -> Build:
    """His scan of a checkpoint at his post at ``at_s`` with the offline wand, sent at
    ``sent_s``: evidence from fixed equipment, not worn."""
    return fix(Membership.INSIDE, lag_s=sent_s - at_s, worn=False)


@pytest.mark.parametrize(
    ("back_s", "withdrawn"),
    [
        (END_S - 600, {"alert.overtime_departure", "alert.left_early"}),  # 11:50
        (END_S - 150, {"alert.left_early"}),  # 11:57:30, after the overtime fell
        (END_S - 15, set()),  # 11:59:45: not 30 s inside by the end
        (END_S + 60, set()),  # off duty by then
    ],
    ids=["back before the limit", "back after it", "back too late to count", "after the end"],
)
def test_the_positions_a_quiet_terminal_sends_after_the_end_withdraw_what_they_show_wrong(
    back_s: float, withdrawn: set[str]
) -> None:
    scenario = _out_at_the_end()
    [left_early] = scenario.only("alert.left_early")
    [overtime] = scenario.only("alert.overtime_departure")
    events = _send(
        scenario,
        UPLOAD_S,
        _stored(QUIET_S + 30, back_s - 30, Membership.OUTSIDE, UPLOAD_S)
        + _stored(back_s, END_S + 300, Membership.INSIDE, UPLOAD_S),
    )
    found = _withdrawn(events)
    assert set(found) == withdrawn
    keys = {
        "alert.left_early": left_early.alert_key,
        "alert.overtime_departure": overtime.alert_key,
    }
    for type_, data in found.items():
        assert data["withdrawn_key"] == keys[type_]
        assert data["reason"] == "returned_before"
        assert data["returned_at"] == at(back_s).isoformat()
    if "alert.left_early" in found:
        assert found["alert.left_early"]["fell_at"] == at(END_S).isoformat()
    # No return is recorded after the end, and the alerts that fell before it stand.
    assert [e.type for e in events if e.type != "alert.withdrawn"] == []
    assert scenario.state.closed
    again = _send(
        scenario, UPLOAD_S + 60, _stored(back_s, back_s + 60, Membership.INSIDE, UPLOAD_S + 60)
    )
    assert _withdrawn(again) == {}  # withdrawn once


def test_one_fix_inside_alone_withdraws_nothing_and_a_later_one_confirms_across_a_restart() -> None:
    # One position inside may be an error: as live, a return needs 30 s of inside evidence.
    scenario = _out_at_the_end()
    assert (
        _withdrawn(
            _send(
                scenario, UPLOAD_S, _stored(END_S - 600, END_S - 600, Membership.INSIDE, UPLOAD_S)
            )
        )
        == {}
    )
    scenario.state = restore(scenario.state)  # the candidate return survives a restart
    found = _withdrawn(
        _send(
            scenario,
            UPLOAD_S + 120,
            _stored(END_S - 540, END_S - 540, Membership.INSIDE, UPLOAD_S + 120),
        )
    )
    assert set(found) == {"alert.overtime_departure", "alert.left_early"}
    assert found["alert.left_early"]["returned_at"] == at(END_S - 600).isoformat()


def test_a_fix_outside_within_the_30_s_undoes_the_candidate_return() -> None:
    scenario = _out_at_the_end()
    sent = [
        fix(Membership.INSIDE, lag_s=UPLOAD_S - (END_S - 600)),
        fix(Membership.OUTSIDE, lag_s=UPLOAD_S - (END_S - 585)),  # out again 15 s later
        fix(Membership.INSIDE, lag_s=UPLOAD_S - (END_S - 560)),
    ]
    assert _withdrawn(_send(scenario, UPLOAD_S, sent)) == {}
    found = _withdrawn(
        _send(
            scenario, UPLOAD_S + 60, [fix(Membership.INSIDE, lag_s=UPLOAD_S + 60 - (END_S - 530))]
        )
    )
    assert found["alert.left_early"]["returned_at"] == at(END_S - 560).isoformat()


@pytest.mark.parametrize(
    ("scanned_s", "withdrawn"),
    [
        (QUIET_S - 60, set()),  # while the terminal still showed him out
        (END_S - 500, {"alert.overtime_departure", "alert.left_early"}),
        (END_S - 100, {"alert.left_early"}),
        (END_S - 20, set()),  # not 30 s before the end
    ],
    ids=["before his last fix outside", "before the limit fell", "after it", "at the end"],
)
def test_a_scan_of_the_wand_downloaded_after_the_shift_shows_him_back(
    scanned_s: float, withdrawn: set[str]
) -> None:
    # His terminal died out there; back on post, he scanned a checkpoint with the wand he
    # carries, which is downloaded in the afternoon. A scan at the post places him there.
    scenario = _out_at_the_end()
    found = _withdrawn(_send(scenario, DOWNLOAD_S, [_scan(scanned_s, DOWNLOAD_S)]))
    assert set(found) == withdrawn
    for data in found.values():
        assert data["returned_at"] == at(scanned_s).isoformat()


def test_a_device_that_was_not_out_with_him_says_nothing_of_his_return() -> None:
    # The badge stayed in the booth: its positions there, sent after the end, do not show him
    # back, however many.
    scenario = _out_at_the_end(devices=(DEVICE, BADGE))
    badge = [
        fix(Membership.INSIDE, lag_s=UPLOAD_S - t, device=BADGE)
        for t in range(int(QUIET_S), int(END_S), 30)
    ]
    assert _withdrawn(_send(scenario, UPLOAD_S, badge)) == {}
    # Back at 11:55:10, after the overtime fell at 11:55: only the left early is wrong.
    phone = _stored(END_S - 290, END_S - 190, Membership.INSIDE, UPLOAD_S + 60)
    assert set(_withdrawn(_send(scenario, UPLOAD_S + 60, phone))) == {"alert.left_early"}


def test_a_guard_still_out_at_the_end_keeps_his_alerts() -> None:
    scenario = _out_at_the_end()
    before = scenario.state
    events = _send(scenario, UPLOAD_S, _stored(QUIET_S + 30, END_S, Membership.OUTSIDE, UPLOAD_S))
    assert events == []
    assert scenario.state == before  # a closed machine left as it was: not written again


def test_an_outing_after_the_return_the_upload_shows_is_history() -> None:
    # Back at 11:50, out again from 11:55 to the end, all in the one upload: the return
    # withdraws the left early of the outing the clock saw; the second outing is not judged,
    # as an outing only an upload after the end's wait shows is not.
    scenario = _out_at_the_end()
    events = _send(
        scenario,
        UPLOAD_S,
        _stored(QUIET_S + 30, END_S - 630, Membership.OUTSIDE, UPLOAD_S)
        + _stored(END_S - 600, END_S - 330, Membership.INSIDE, UPLOAD_S)
        + _stored(END_S - 300, END_S, Membership.OUTSIDE, UPLOAD_S),
    )
    assert set(_withdrawn(events)) == {"alert.overtime_departure", "alert.left_early"}
    assert [e.type for e in events if e.type != "alert.withdrawn"] == []


# A leave for later, taken up while he seemed out. Out at 11:25 without a report, his terminal
# quiet out there from 11:31:30; he is back on post at 11:32, which only its stored positions
# show. His leader types in at 11:32 a leave he approves for 11:42-12:12. At 11:40, his 15
# minutes run out while he still seems out: the leave, beginning within the grace, takes the
# outing over (no *overtime*), it reaches the end (no *left early*), and so its cancellation is
# owed from its end (12:12, off duty) within the hour, by 13:12.
LATER_OUT_S = END_S - 2100  # 11:25
LATER_QUIET_S = END_S - 1710  # 11:31:30, the last fix outside sent live
LATER_BACK_S = END_S - 1680  # 11:32
LATER_LEAVE_S = END_S - 1080  # 11:42
LATER_LEAVE_END_S = END_S + 720  # 12:12
LATER_UPLOAD_S = END_S + 660  # 12:11, after the end's wait (12:10)


def _out_when_a_later_leave_begins() -> Scenario:
    """The morning above, to the end's wait for the quiet terminal; nothing sent since."""
    scenario = Scenario(
        state=PresenceState.start("shift-1", "guard-1", "post-1", "site-1", [DEVICE], T0, at(END_S))
    ).run(
        track(-300, LATER_OUT_S - 30, inside)
        + track(LATER_OUT_S, LATER_QUIET_S, outside)
        + [(LATER_BACK_S, leave("L9", LATER_LEAVE_S, LATER_LEAVE_END_S))]
    )
    scenario.advance(LATER_UPLOAD_S - 30)
    assert scenario.only("alert.overtime_departure") == []
    assert scenario.only("alert.left_early") == []
    return scenario


def _back_before_the_later_leave(sent_s: float, back_s: float = LATER_BACK_S) -> list[Build]:
    """What the terminal took from its last live fix outside: out to ``back_s``, then inside
    for five minutes, all sent at ``sent_s``."""
    return _stored(LATER_QUIET_S + 30, back_s - 30, Membership.OUTSIDE, sent_s) + _stored(
        back_s, back_s + 300, Membership.INSIDE, sent_s
    )


def test_a_return_before_a_later_leave_shown_after_the_end_owes_no_cancellation() -> None:
    # Sent at 12:11, past the end's wait: history, but it shows him back at 11:32, ten minutes
    # before the leave began. Live (or sent within the wait) the leave would not have been his
    # for this outing; after the wait, before, he was still raised *leave not cancelled* at
    # 13:12, for a leave nothing shows he used.
    scenario = _out_when_a_later_leave_begins()
    events = _send(scenario, LATER_UPLOAD_S, _back_before_the_later_leave(LATER_UPLOAD_S))
    assert [e.type for e in events] == []  # nothing raised or recorded from history
    scenario.advance(LATER_LEAVE_END_S + 3 * 3600)
    assert scenario.only("alert.leave_not_cancelled") == []
    assert scenario.state.closed
    assert [e.type for e in scenario.events if e.type.startswith("alert.")] == [
        "alert.unreported_departure"  # he did leave without a report
    ]


def test_a_not_cancelled_alert_raised_before_that_evidence_came_is_withdrawn() -> None:
    # The same positions, downloaded only at 16:30: the alert of 13:12 was wrong.
    scenario = _out_when_a_later_leave_begins()
    scenario.advance(DOWNLOAD_S - 60)
    [not_cancelled] = scenario.only("alert.leave_not_cancelled")
    assert not_cancelled.time == at(LATER_LEAVE_END_S + 3600)
    assert scenario.state.closed
    found = _withdrawn(_send(scenario, DOWNLOAD_S, _back_before_the_later_leave(DOWNLOAD_S)))
    assert set(found) == {"alert.leave_not_cancelled"}
    data = found["alert.leave_not_cancelled"]
    assert data["withdrawn_key"] == not_cancelled.alert_key
    assert data["reason"] == "returned_before"
    assert data["leave_id"] == "L9"
    assert data["returned_at"] == at(LATER_BACK_S).isoformat()
    assert data["fell_at"] == at(LATER_LEAVE_END_S + 3600).isoformat()
    assert scenario.state.closed
    assert (
        _withdrawn(_send(scenario, DOWNLOAD_S + 60, _back_before_the_later_leave(DOWNLOAD_S + 60)))
        == {}
    )


def test_a_return_after_the_later_leave_began_still_owes_its_cancellation() -> None:
    # Shown back at 11:45, he was out when the leave began: it was his, and what came after
    # the end records no return, so the cancellation stays owed from the leave's end.
    scenario = _out_when_a_later_leave_begins()
    events = _send(
        scenario,
        LATER_UPLOAD_S,
        _back_before_the_later_leave(LATER_UPLOAD_S, back_s=LATER_LEAVE_S + 180),
    )
    assert _withdrawn(events) == {}
    scenario.advance(LATER_LEAVE_END_S + 3 * 3600)
    [not_cancelled] = scenario.only("alert.leave_not_cancelled")
    assert not_cancelled.time == at(LATER_LEAVE_END_S + 3600)
    assert not_cancelled.data["off_duty"] is True


def test_an_extension_of_the_leave_he_was_out_on_still_owes_its_cancellation() -> None:
    # Out at 11:25 on a leave to 11:42 approved before he left, extended (续假) at 11:40 to
    # 12:12 while his terminal was quiet: back at 11:32, he was out under the first leave, and
    # the extension he seemed to go on under is the same absence: its cancellation stays owed.
    scenario = Scenario(
        state=PresenceState.start("shift-1", "guard-1", "post-1", "site-1", [DEVICE], T0, at(END_S))
    ).run(
        [
            *track(-300, LATER_OUT_S - 30, inside),
            (LATER_OUT_S - 600, leave("L1", LATER_OUT_S - 60, LATER_LEAVE_S)),
            *track(LATER_OUT_S, LATER_QUIET_S, outside),
            (LATER_LEAVE_S - 120, leave("L2", LATER_LEAVE_S, LATER_LEAVE_END_S)),
        ]
    )
    events = _send(scenario, LATER_UPLOAD_S, _back_before_the_later_leave(LATER_UPLOAD_S))
    assert _withdrawn(events) == {}
    scenario.advance(LATER_LEAVE_END_S + 3 * 3600)
    [not_cancelled] = scenario.only("alert.leave_not_cancelled")
    assert not_cancelled.data["leave_id"] == "L2"
    assert not_cancelled.time == at(LATER_LEAVE_END_S + 3600)
