"""A leave taken at the end of a shift must still be cancelled (销假) within the hour: a guard
out on a leave that runs past his shift's end owes its cancellation within
``leave_cancel_limit_s`` of the leave's end (his return off duty is not watched), unless the
leave runs into his next shift, whose arrival asks it (``cancellations.owed_past_the_end``).
Before, such a leave asked for none.

A 4-hour shift (to 14400 s); he leaves at 12600 on a leave 12600-16200 approved at 12000."""

from __future__ import annotations

from gateway.rules import ShiftEnded

from .scenario import (
    Build,
    Scenario,
    at,
    cancel,
    inside,
    leave,
    outside,
    restore,
    secs,
    shift,
    track,
)

ON_LEAVE = leave("L1", 12600, 16200)


def _shift(*script: tuple[float, Build], next_shift_s: float | None = None) -> Scenario:
    scenario = Scenario(state=shift(14400, next_shift_s=next_shift_s)).run(
        [*track(0, 12570, inside), *track(12600, 14370, outside), *script]
    )
    scenario.advance(30000)
    return scenario


def _owed(scenario: Scenario) -> list[tuple[object, ...]]:
    return scenario.timed("alert.leave_not_cancelled", "returned_at", "off_duty")


def test_never_cancelled_the_alert_falls_an_hour_after_the_leave_ends() -> None:
    scenario = _shift((12000, ON_LEAVE))
    assert [t for t, _ in scenario.pairs()] == ["presence.departed", "alert.leave_not_cancelled"]
    assert _owed(scenario) == [(19800.0, at(16200).isoformat(), True)]
    assert scenario.state.closed


def test_cancelled_in_time_before_or_after_the_leave_ends() -> None:
    # Back early and cancelled by phone at 15000, before the leave's end: in time.
    scenario = _shift((12000, ON_LEAVE), (15000, cancel("L1")))
    [cancelled] = scenario.only("leave.cancelled")
    assert cancelled.data["in_time"] is True and _owed(scenario) == []
    # Cancelled at 19000, within the hour after it: in time too.
    scenario = _shift((12000, ON_LEAVE), (19000, cancel("L1")))
    [cancelled] = scenario.only("leave.cancelled")
    assert (cancelled.data["in_time"], cancelled.data["delay_s"]) == (True, 2800.0)


def test_a_restart_after_the_end_keeps_what_is_owed() -> None:
    scenario = Scenario(state=shift(14400)).run(
        [*track(0, 12570, inside), (12000, ON_LEAVE), *track(12600, 14370, outside)]
    )
    scenario.advance(15000)
    scenario.state = restore(scenario.state)
    scenario.advance(30000)
    assert _owed(scenario) == [(19800.0, at(16200).isoformat(), True)]


def test_a_leave_running_into_his_next_shift_is_that_shifts_to_settle() -> None:
    # His next shift starts at 15000, inside the leave: its arrival asks the cancellation.
    assert _owed(_shift((12000, ON_LEAVE), next_shift_s=15000)) == []
    # A next shift after the leave's end changes nothing here.
    assert _owed(_shift((12000, ON_LEAVE), next_shift_s=16200)) == [
        (19800.0, at(16200).isoformat(), True)
    ]


def test_a_leave_ending_at_the_end_or_typed_in_after_it() -> None:
    # A leave that ends with the shift is owed from the end.
    scenario = _shift((12000, leave("L1", 12600, 14400)))
    assert _owed(scenario) == [(18000.0, at(14400).isoformat(), True)]
    # Approved at 12300 by phone, typed in at 15000: owed the same (left early withdrawn).
    scenario = _shift((15000, leave("L1", 12600, 16200, approved_s=12300)))
    assert _owed(scenario) == [(19800.0, at(16200).isoformat(), True)]
    assert "alert.left_early" in [
        e.data["withdrawn_type"] for e in scenario.only("alert.withdrawn")
    ]


def _relieved(*script: tuple[float, Build]) -> Scenario:
    """Out from 12600 and relieved at 13000, before the 14400 end (a person ended his duty)."""
    return _shift(*script, (13000, lambda _now: ShiftEnded()))


def test_relieved_while_out_on_a_leave_it_is_owed_from_the_leaves_end() -> None:
    # The leave runs past the relief and past the scheduled end.
    scenario = _relieved((12000, ON_LEAVE))
    assert _owed(scenario) == [(19800.0, at(16200).isoformat(), True)]
    assert scenario.state.relieved_at == at(13000) and scenario.state.closed
    # It ends after the relief but before the scheduled end: his duty ended at the relief, so
    # his return at 13800 is off duty and the hour counts from the leave's end.
    scenario = _relieved((12000, leave("L1", 12600, 13800)))
    assert _owed(scenario) == [(17400.0, at(13800).isoformat(), True)]
    assert scenario.only("alert.leave_overrun") == []
    # Cancelled within the hour: in time, no alert.
    scenario = _relieved((12000, leave("L1", 12600, 13800)), (15000, cancel("L1")))
    assert _owed(scenario) == [] and scenario.only("leave.cancelled")[0].data["in_time"] is True


def test_relieved_a_leave_typed_in_after_the_relief_is_no_overrun() -> None:
    # Approved by phone at 12300 for 12600-13800, typed in at 15000, after the relief at
    # 13000: it outlasted his duty, so it was not overrun (the shift's 14400 end is not his);
    # it is owed from its end, and not before the entry's grace.
    scenario = _relieved((15000, leave("L1", 12600, 13800, approved_s=12300)))
    assert scenario.only("alert.leave_overrun") == []
    assert _owed(scenario) == [(17400.0, at(13800).isoformat(), True)]
    withdrawn = {e.data["withdrawn_type"] for e in scenario.only("alert.withdrawn")}
    assert "alert.unreported_departure" in withdrawn


def test_a_restart_between_the_relief_and_the_leaves_end_keeps_the_relief() -> None:
    scenario = Scenario(state=shift(14400)).run(
        [
            *track(0, 12570, inside),
            (12000, leave("L1", 12600, 13800)),
            *track(12600, 12990, outside),
            (13000, lambda _now: ShiftEnded()),
        ]
    )
    scenario.state = restore(scenario.state)
    assert scenario.state.relieved_at == at(13000)
    scenario.advance(30000)
    assert _owed(scenario) == [(17400.0, at(13800).isoformat(), True)]


def test_an_absence_a_late_leave_covers_to_past_the_relief_is_withdrawn() -> None:
    # He never came (absent at start), was relieved at 3000, and a leave over the whole of
    # his duty (to 3600, approved at the start by phone) is typed in at 10000: his duty ended
    # inside the leave, so the absence was wholly excused.
    scenario = Scenario(state=shift(14400)).run(
        [(3000, lambda _now: ShiftEnded()), (10000, leave("L1", 0, 3600, approved_s=0))]
    )
    scenario.advance(20000)
    assert [(secs(e.time), e.data["withdrawn_type"]) for e in scenario.only("alert.withdrawn")] == [
        (10000.0, "alert.absent_at_shift_start"),
        (10000.0, "alert.device_silent"),
    ]
