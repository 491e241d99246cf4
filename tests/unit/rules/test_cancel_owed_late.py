"""A leave typed in after the guard used it is owed its cancellation (销假) as one on record:
``alert.leave_not_cancelled`` an hour after his return, or, when the leave is typed in after
that hour, ``report_grace_s`` (120 s) after its entry (``gateway.rules.cancellations``). Before,
such a leave asked for no cancellation at all: a guard who never cancelled it went unrecorded.

Offsets are seconds from the shift start. The guard is on post from 0, out 3600-7200 on a leave
for 3600-9000 approved by phone at 3300, back on post from 7200."""

from __future__ import annotations

from .scenario import (
    Scenario,
    Script,
    at,
    cancel,
    inside,
    leave,
    outside,
    restore,
    shift,
    track,
)

OUTING: Script = [
    *track(0, 3570, inside),
    *track(3600, 7170, outside),
    *track(7200, 14000, inside, 120),
]
PHONED = leave("L1", 3600, 9000, approved_s=3300)


def _play(script: Script, until_s: float = 15000, scenario: Scenario | None = None) -> Scenario:
    scenario = (scenario or Scenario()).run(script)
    scenario.advance(until_s)
    return scenario


def _not_cancelled(scenario: Scenario) -> list[tuple[object, ...]]:
    """(time as an offset, returned_at, leave_entered_at) of each not-cancelled alert."""
    return scenario.timed("alert.leave_not_cancelled", "returned_at", "leave_entered_at")


def test_typed_in_within_the_hour_the_alert_falls_an_hour_after_the_return() -> None:
    scenario = _play([*OUTING, (7800, PHONED)])
    # The outing's alerts are withdrawn as before; the cancellation is owed from 7200.
    assert [e.data["withdrawn_type"] for e in scenario.only("alert.withdrawn")] == [
        "alert.unreported_departure",
        "alert.overtime_departure",
    ]
    assert _not_cancelled(scenario) == [(10800.0, at(7200).isoformat(), at(7800).isoformat())]
    [alert] = scenario.only("alert.leave_not_cancelled")
    [returned] = scenario.only("presence.returned")
    assert alert.data["departure_id"] == returned.data["departure_id"]
    # Cancelled in time (typed in at 10000): nothing falls, the cancellation is in time.
    scenario = _play([*OUTING, (7800, PHONED), (10000, cancel("L1"))])
    assert _not_cancelled(scenario) == []
    [cancelled] = scenario.only("leave.cancelled")
    assert cancelled.data["in_time"] is True and cancelled.data["delay_s"] == 2800.0


def test_typed_in_after_the_hour_the_leader_has_the_grace_to_type_the_cancellation() -> None:
    # Typed in at 11700 (the hour ended at 10800): the alert at 11820, not at once.
    scenario = _play([*OUTING, (11700, PHONED)])
    assert _not_cancelled(scenario) == [(11820.0, at(7200).isoformat(), at(11700).isoformat())]
    # The cancellation typed in a minute after the leave, dated 7500 (within the hour): none.
    scenario = _play([*OUTING, (11700, PHONED), (11760, cancel("L1", cancelled_s=7500))])
    assert _not_cancelled(scenario) == []
    [cancelled] = scenario.only("leave.cancelled")
    assert cancelled.data["in_time"] is True and cancelled.data["delay_s"] == 300.0
    # Typed in after the grace, dated within the hour: the alert fell and is withdrawn.
    scenario = _play([*OUTING, (11700, PHONED), (12000, cancel("L1", cancelled_s=7500))])
    [alert] = scenario.only("alert.leave_not_cancelled")
    [withdrawn] = scenario.only("alert.withdrawn")[2:]
    assert withdrawn.withdraws == (alert.alert_key,)
    assert withdrawn.data["reason"] == "cancelled_in_time"


def test_a_leave_over_the_start_typed_in_after_he_arrived() -> None:
    # On leave -600-2800, approved an hour before the shift, in at 2900, typed in at 3600: the
    # absence and silence withdrawn as before, the cancellation owed from his arrival.
    scenario = _play(
        [*track(2900, 14000, inside, 120), (3600, leave("L1", -600, 2800, approved_s=-3600))]
    )
    assert _not_cancelled(scenario) == [(6500.0, at(2900).isoformat(), at(3600).isoformat())]
    [alert] = scenario.only("alert.leave_not_cancelled")
    assert alert.data["departure_id"] is None
    # On post at the start, he did not use it: nothing is owed.
    scenario = _play(
        [*track(0, 14000, inside, 120), (3600, leave("L1", -600, 2800, approved_s=-3600))]
    )
    assert _not_cancelled(scenario) == []


def test_after_the_shift_closed_the_machine_opens_again_for_the_cancellation() -> None:
    # A 4-hour shift (to 14400); the leave typed in at 20000, the machine long closed.
    scenario = _play(OUTING, 19000, Scenario(state=shift(14400)))
    assert scenario.state.closed
    scenario.run([(20000, PHONED)])
    assert not scenario.state.closed and scenario.state.ended
    # A restart before the alert falls loses nothing.
    scenario.state = restore(scenario.state)
    scenario.advance(21000)
    assert _not_cancelled(scenario) == [(20120.0, at(7200).isoformat(), at(20000).isoformat())]
    assert scenario.state.closed


def test_still_out_when_it_is_typed_in_his_return_asks_as_always() -> None:
    # Typed in at 5000 while he is out: the hour counts from his return, no entry time.
    scenario = _play([*OUTING, (5000, PHONED)])
    assert _not_cancelled(scenario) == [(10800.0, at(7200).isoformat(), None)]


def test_a_leave_that_does_not_cover_the_outing_asks_nothing() -> None:
    # Approved at 4600, after his 15 minutes ran out (4500): the outing stays unreported and
    # over its limit, and nothing was used.
    scenario = _play([*OUTING, (7800, leave("L1", 3600, 9000, approved_s=4600))])
    assert _not_cancelled(scenario) == []
    assert scenario.only("alert.withdrawn") == []


def test_a_leave_approved_while_he_was_out_before_his_limit_took_the_outing_over() -> None:
    # Approved at 4000, after he left at 3600 but before his 15 minutes ran out (4500): had
    # it been on record, it would have taken the outing over then. Typed in at 7800, after
    # his return, it withdraws the overtime alert (not the unreported one: it covered no
    # start), and its cancellation is owed from his return. Before, nothing was withdrawn.
    scenario = _play([*OUTING, (7800, leave("L1", 3600, 9000, approved_s=4000))])
    assert [
        (e.data["withdrawn_type"], e.data["reason"]) for e in scenario.only("alert.withdrawn")
    ] == [("alert.overtime_departure", "leave_on_record")]
    assert [
        t for t, _ in scenario.pairs() if t.startswith("alert.") and t not in _NOT_THE_OUTINGS
    ] == [
        "alert.unreported_departure",
        "alert.overtime_departure",
        "alert.leave_not_cancelled",
    ]
    assert _not_cancelled(scenario) == [(10800.0, at(7200).isoformat(), at(7800).isoformat())]


_NOT_THE_OUTINGS = ("alert.withdrawn", "alert.device_silent")
"""What ``pairs`` lists besides the outing's own alerts (the terminal falls silent after the
script's last fix)."""
