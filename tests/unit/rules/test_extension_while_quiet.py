"""An extension (续假) approved while the guard's terminal was quiet out of network, whose
stored positions then show him back under the leave it extends: that leave is the one he owes
the cancellation of, within the hour from his return, as if the positions had come live.

Before, the outing was taken as under no leave at all (the extension began after his return,
so it was dropped, and the leave it extended with it): no cancellation was owed, and a guard
who never cancelled his leave raised no ``alert.leave_not_cancelled``.

Offsets are seconds from the shift start (08:00; the shift lasts 4 hours). He is on post, out
at 09:00 (3600) on leave L1 for 09:00-09:10, and his terminal goes quiet out there at 09:03.
The stored positions are sent at 09:30 (5400).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geofence.membership import Membership
from tests.unit.rules.scenario import Build, inside, leave, outside, track
from tests.unit.rules.test_blind_area_upload import SKIP, _day, upload

Timed = list[tuple[float, Build]]
LEAVES: Timed = [(3000, leave("L1", 3600, 4200)), (3900, leave("L2", 4200, 6000))]


def _quiet_back_at(back_s: float, leaves: Timed) -> Timed:
    return (
        track(-300, 3570, inside)
        + track(3600, 3780, outside)
        + upload(3810, back_s, Membership.OUTSIDE, 5400)
        + upload(back_s, 5400, Membership.INSIDE, 5400.5)
        + track(5430, 12000, inside)
        + leaves
    )


def _live_back_at(back_s: float, leaves: Timed) -> Timed:
    return (
        track(-300, 3570, inside)
        + track(3600, back_s - 30, outside)
        + track(back_s, 12000, inside)
        + leaves
    )


@pytest.mark.parametrize("script", [_quiet_back_at, _live_back_at], ids=["stored", "live"])
def test_back_under_the_first_leave_owes_its_cancellation_whatever_the_extension(
    script: Callable[[float, Timed], Timed],
) -> None:
    # Back at 09:06; L2 (09:10-09:40) was approved at 09:05 while he seemed still out.
    scenario = _day(script(3960, LEAVES))
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3600.0),
        ("presence.returned", 3960.0),
        ("alert.leave_not_cancelled", 3960.0 + 3600),
    ]
    [returned] = scenario.only("presence.returned")
    assert returned.data["leave_id"] == "L1"
    assert scenario.timed("alert.leave_not_cancelled", "leave_id") == [(3960 + 3600, "L1")]


def test_back_under_the_second_link_of_a_chain_owes_that_ones_cancellation() -> None:
    # L1 09:00-09:10, extended by L2 to 09:20, extended by L3 to 09:40 (approved at 09:15,
    # while he seemed still out); the positions show him back at 09:16, under L2.
    leaves: Timed = [
        (3000, leave("L1", 3600, 4200)),
        (3900, leave("L2", 4200, 4800)),
        (4500, leave("L3", 4800, 6000)),
    ]
    scenario = _day(_quiet_back_at(4560, leaves))
    [returned] = scenario.only("presence.returned")
    assert returned.data["leave_id"] == "L2"
    assert scenario.timed("alert.leave_not_cancelled", "leave_id") == [(4560 + 3600, "L2")]


def test_an_extension_of_a_leave_for_later_is_still_not_his() -> None:
    # Unreported out at 09:00, back at 09:05 by the positions; L1 for 09:15-09:25 and its
    # extension L2 to 09:45 were on record for later: neither was his for this outing.
    leaves: Timed = [(1800, leave("L1", 4500, 5100)), (2400, leave("L2", 5100, 6300))]
    scenario = _day(_quiet_back_at(3900, leaves))
    assert scenario.pairs(skip=SKIP) == [
        ("presence.departed", 3600.0),
        ("alert.unreported_departure", 3600.0),
        ("presence.returned", 3900.0),
    ]
    [returned] = scenario.only("presence.returned")
    assert returned.data["leave_id"] is None
