"""A leave typed in after an outing it covered is over, as if it had been on record: the
outing's unreported and overtime alerts are withdrawn; if he came back only after the leave
ran out, ``alert.leave_overrun`` is raised then, dated at the leave's end and ended at his
return (``offpost.overran_before_entry``); if he was still out when the shift ended, the
overrun stays open, and his ``alert.left_early`` is withdrawn when the leave reached the end.
Before, the overtime alert was withdrawn and nothing took its place (the time he was away past
his leave went unrecorded), and a leave reaching the end left his *left early* standing.

Offsets are seconds from the shift start. The guard is on post from 0 and out from 3600 on a
leave approved by phone at 3300 (from 12600, approved at 12300, on the 4-hour shift)."""

from __future__ import annotations

from .scenario import (
    Build,
    Scenario,
    Script,
    at,
    inside,
    leave,
    outside,
    restore,
    secs,
    shift,
    track,
)


def _out_until(back_s: float, *script: tuple[float, Build]) -> Scenario:
    plan: Script = [
        *track(0, 3570, inside),
        *track(3600, back_s - 30, outside),
        *track(back_s, 14000, inside, 120),
        *script,
    ]
    scenario = Scenario().run(plan)
    scenario.advance(14000)
    return scenario


def _withdrawn(scenario: Scenario) -> list[object]:
    return [e.data["withdrawn_type"] for e in scenario.only("alert.withdrawn")]


def test_back_after_the_leave_ran_out_the_overrun_is_raised_and_ended_at_once() -> None:
    # Leave 3600-6000 typed in at 9600; he was back at 9000.
    scenario = _out_until(9000, (9600, leave("L1", 3600, 6000, approved_s=3300)))
    assert _withdrawn(scenario) == ["alert.unreported_departure", "alert.overtime_departure"]
    [overrun] = scenario.only("alert.leave_overrun")
    assert overrun.time == at(6000) and overrun.alert_key is not None
    assert overrun.resolves == (overrun.alert_key,) and overrun.ended_at == at(9000)
    assert overrun.data["returned_at"] == at(9000).isoformat()
    assert overrun.data["overrun_s"] == 3000.0 and overrun.data["leave_id"] == "L1"
    assert overrun.data["detected_at"] == at(9600).isoformat()
    # The cancellation is owed from his return, as for a leave on record.
    [not_cancelled] = scenario.only("alert.leave_not_cancelled")
    assert secs(not_cancelled.time) == 12600.0


def test_a_leave_ending_before_the_fifteen_minutes_is_overrun_not_overtime() -> None:
    # Leave 3600-4000 (under the 900-s limit), back at 5000, typed in at 6000: under a leave on
    # record he would have overrun it at 4000, and never been raised overtime.
    scenario = _out_until(5000, (6000, leave("L1", 3600, 4000, approved_s=3300)))
    assert _withdrawn(scenario) == ["alert.unreported_departure", "alert.overtime_departure"]
    [overrun] = scenario.only("alert.leave_overrun")
    assert overrun.time == at(4000) and overrun.ended_at == at(5000)


def test_back_within_the_leave_or_its_extension_nothing_is_raised() -> None:
    scenario = _out_until(5400, (9600, leave("L1", 3600, 6000, approved_s=3300)))
    assert scenario.only("alert.leave_overrun") == []
    # Back at 9000 with an extension 6000-9600 on record since 5000: he was on leave throughout.
    scenario = _out_until(
        9000,
        (5000, leave("L2", 6000, 9600)),
        (9600, leave("L1", 3600, 6000, approved_s=3300)),
    )
    assert scenario.only("alert.leave_overrun") == []
    assert _withdrawn(scenario) == ["alert.unreported_departure", "alert.overtime_departure"]


def _left_at_the_end(*script: tuple[float, Build]) -> Scenario:
    """A 4-hour shift (to 14400); out from 12600 and not back by the end; then ``script``."""
    scenario = Scenario(state=shift(14400)).run(
        [*track(0, 12570, inside), *track(12600, 14370, outside)]
    )
    scenario.advance(14500)
    scenario.state = restore(scenario.state)  # what a restart loads keeps what is needed
    scenario.run(script)
    scenario.advance(30000)
    return scenario


def test_a_leave_reaching_the_end_withdraws_left_early() -> None:
    scenario = _left_at_the_end((15000, leave("L1", 12600, 16200, approved_s=12300)))
    [early] = scenario.only("alert.left_early")
    assert _withdrawn(scenario) == [
        "alert.unreported_departure",
        "alert.overtime_departure",
        "alert.left_early",
    ]
    assert scenario.only("alert.withdrawn")[2].withdraws == (early.alert_key,)
    assert scenario.only("alert.leave_overrun") == []
    # Reaching it through an extension approved by the first leave's end counts the same.
    scenario = _left_at_the_end(
        (15000, leave("L2", 13000, 16200, approved_s=12900)),
        (15100, leave("L1", 12600, 13000, approved_s=12300)),
    )
    assert "alert.left_early" in _withdrawn(scenario)


def test_a_leave_ending_before_the_end_raises_the_overrun_and_left_early_stands() -> None:
    scenario = _left_at_the_end((15000, leave("L1", 12600, 13000, approved_s=12300)))
    assert _withdrawn(scenario) == ["alert.unreported_departure", "alert.overtime_departure"]
    [overrun] = scenario.only("alert.leave_overrun")
    # Not back by the end: open, as one raised during the shift would have stayed.
    assert overrun.time == at(13000) and overrun.resolves == () and overrun.ended_at is None
    assert "returned_at" not in overrun.data
