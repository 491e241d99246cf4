"""One outing of a guard with two terminals, one of them left in the booth.

A guard carries his phone out and leaves his badge (or tracker) on the booth's table, where it
goes on reporting, still, inside the post; its clock may run behind the phone's. The rules as
written (docs/presence-rules.md, "Two devices per guard"): the phone's outside run is the
departure, the badge's inside fixes do not undo it, and the badge is reported left behind; so
the outing gets the alerts one device would have had, plus ``alert.device_left_behind``.

The outings, paperwork and restarts are those of ``test_presence_properties``; the same again
with the gateway down a while (``test_presence_downtime_properties``).
"""

from __future__ import annotations

import random

from hypothesis import given, reject
from hypothesis import strategies as st

from gateway.rules import PresenceState
from geofence.membership import Membership
from tests.unit.rules.scenario import DEVICE, T0, at, fix, secs
from tests.unit.rules.test_presence_downtime_properties import _play_with_downtime, downtimes
from tests.unit.rules.test_presence_properties import (
    _PROPERTY,
    NEAR_S,
    SHIFT_END_S,
    Item,
    Outing,
    _paperwork_for,
    _play,
    _standing,
    outings,
    restarts,
)

BADGE = "badge-2"


def _two_device_shift() -> PresenceState:
    return PresenceState.start(
        "shift-1", "guard-1", "post-1", "site-1", [DEVICE, BADGE], T0, at(SHIFT_END_S)
    )


@st.composite
def badge_in_the_booth(draw: st.DrawFn) -> list[Item]:
    """The badge on the booth's table all shift: inside, still, every 20 s to 2 min; its clock
    on time or running behind by 90 s (each fix dated that much before it is sent)."""
    stream = random.Random(draw(st.integers(0, 2**32)))
    lag_s = draw(st.sampled_from([0.0, 90.0]))
    longest_gap = draw(st.sampled_from([40.0, 120.0]))
    items: list[Item] = []
    offset = -stream.uniform(200, 400)
    while offset < SHIFT_END_S + 300:
        items.append((offset, fix(Membership.INSIDE, device=BADGE, lag_s=lag_s)))
        offset += stream.uniform(longest_gap / 2, longest_gap)
    return items


@_PROPERTY
@given(outings(), badge_in_the_booth(), st.data())
def test_an_outing_leaving_a_device_behind_gets_its_alerts_and_left_behind(
    out: Outing, badge: list[Item], data: st.DataObject
) -> None:
    if abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    expected = _paperwork_for(data, out)
    stops = data.draw(restarts())
    scenario = _play(expected.script + badge + stops, state=_two_device_shift())
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == {**expected.standing, "alert.device_left_behind": 1}, (
        expected.paperwork,
        stops,
        happened,
    )
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed


@_PROPERTY
@given(outings(), badge_in_the_booth(), st.data(), downtimes())
def test_the_same_across_a_downtime(
    out: Outing, badge: list[Item], data: st.DataObject, down: tuple[float, float]
) -> None:
    # Both terminals' fixes kept by the broker meanwhile and handed over together, in the
    # order they were sent (test_presence_downtime_properties).
    if abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    expected = _paperwork_for(data, out)
    scenario = _play_with_downtime(expected.script + badge, down, state=_two_device_shift())
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == {**expected.standing, "alert.device_left_behind": 1}, (
        expected.paperwork,
        down,
        happened,
    )
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed
