"""Back on post exactly as an off-post limit runs out is back in time: the limits are "up to"
(15 minutes on a verbal report, the leave's end). Live, the tick at the limit may fire a
moment before the first fix inside, taken at the limit, comes; the return it shows then
withdraws the alert (``gateway.rules.offpost.confirm_return``). Before, it stood.
"""

from __future__ import annotations

from tests.unit.rules.scenario import at, inside, leave, outside, report, track
from tests.unit.rules.test_return_one_fix_inside import _day


def test_back_at_exactly_fifteen_minutes_on_a_report_is_not_overtime() -> None:
    # Reported, out from 08:10:00 (first fix outside), a fix every 30 s; the first inside is
    # 08:25:00, as the 15 minutes run out.
    scenario = _day(
        [
            *track(-300, 570, inside),
            (590, report("r1")),
            *track(600, 1470, outside),
            *track(1500, 1800, inside),
        ]
    )
    standing = [
        e
        for e in scenario.only("alert.overtime_departure")
        if e.alert_key not in {k for w in scenario.only("alert.withdrawn") for k in w.withdraws}
    ]
    assert standing == []
    [returned] = scenario.only("presence.returned")
    assert returned.time == at(1500)


def test_back_a_fix_after_fifteen_minutes_is_overtime() -> None:
    scenario = _day(
        [
            *track(-300, 570, inside),
            (590, report("r1")),
            *track(600, 1500, outside),
            *track(1530, 1800, inside),
        ]
    )
    [overtime] = scenario.only("alert.overtime_departure")
    assert overtime.time == at(1500)
    assert scenario.only("alert.withdrawn") == []


def test_back_at_exactly_the_leaves_end_is_no_overrun() -> None:
    scenario = _day(
        [
            *track(-300, 570, inside),
            (580, leave("L1", 600, 1500)),
            *track(600, 1470, outside),
            *track(1500, 1800, inside),
        ]
    )
    withdrawn = {k for w in scenario.only("alert.withdrawn") for k in w.withdraws}
    assert [e for e in scenario.only("alert.leave_overrun") if e.alert_key not in withdrawn] == []
