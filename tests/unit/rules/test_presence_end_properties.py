"""One outing near the end of the shift, generated: leaving early, and limits at the end.

The rules as written (docs/presence-rules.md, "The end of the shift"): a guard who left before
the end and was not back by it gets ``alert.left_early`` at the end, and every alert whose
deadline fell inside the shift; a limit reached only after the end is not raised (inside the
shift he was off post for less than 15 minutes); the unreported decision is taken whenever it
falls. Outings here begin 2.5 to 40 minutes before the end and last 5 minutes to 2 hours, with
the reports (but not the leaves: their end-of-shift rules are cases of their own, named in
``test_presence_hard_cases``) and restarts of ``test_presence_properties``.
"""

from __future__ import annotations

import random

from hypothesis import given, reject
from hypothesis import strategies as st

from gateway.policy import SitePolicy
from tests.unit.rules.scenario import inside, outside, secs
from tests.unit.rules.test_presence_properties import (
    _PROPERTY,
    NEAR_S,
    SHIFT_END_S,
    Expected,
    Item,
    Outing,
    _paperwork_for,
    _play,
    _standing,
    restarts,
)

LIMIT_S = 900.0
"""The verbal report's 15 minutes (the default policy)."""
CONFIRM_S = SitePolicy().departure_confirm_s


@st.composite
def outings_near_the_end(draw: st.DrawFn) -> Outing:
    """On post from before the shift; out from 2.5-40 min before its end for 5 min to 2 h;
    a fix every 7.5 s to 1 min, on through the hours after the end (ignored off duty)."""
    stream = random.Random(draw(st.integers(0, 2**32)))
    longest_gap = draw(st.sampled_from([15.0, 30.0, 60.0]))
    left_s = draw(st.floats(SHIFT_END_S - 2400, SHIFT_END_S - 150))
    back_s = left_s + draw(st.floats(300, 7200))
    fixes: list[Item] = []
    first_out = first_in = None
    offset = -300.0
    while offset < back_s + 300:
        out = left_s <= offset < back_s
        if out and first_out is None:
            first_out = offset
        if not out and offset >= back_s and first_in is None:
            first_in = offset
        fixes.append((offset, outside if out else inside))
        offset += stream.uniform(longest_gap / 2, longest_gap)
    assert first_out is not None and first_in is not None
    return Outing(fixes, first_out, first_in, None)


def confirmed_in_the_shift(out: Outing) -> bool:
    """Whether ``out``'s outside fixes before the end span ``departure_confirm_s`` (one more
    second, off the boundary): an outing whose departure only a fix after the end would
    confirm is not one the end decides (the pipeline gives that fix to no machine of the shift:
    he is off duty then)."""
    outside_in_shift = [t for t, build in out.fixes if build is outside and t < SHIFT_END_S]
    return max(outside_in_shift) - min(outside_in_shift) >= CONFIRM_S + 1


def what_the_end_gives(out: Outing, data: st.DataObject) -> tuple[Expected, dict[str, int]]:
    """The paperwork drawn for ``out`` and the alerts that stand by the rules as written (the
    module docstring); examples at a boundary, with a leave, or that the end does not decide
    (``confirmed_in_the_shift``) are rejected."""
    off_post_in_shift = min(out.first_in_s, SHIFT_END_S) - out.first_out_s
    if abs(off_post_in_shift - LIMIT_S) < NEAR_S or abs(out.first_in_s - SHIFT_END_S) < NEAR_S:
        reject()
    if not confirmed_in_the_shift(out):
        reject()
    expected = _paperwork_for(data, out)
    if any(note.startswith("leave ") for note in expected.paperwork):
        reject()
    standing = {k: v for k, v in expected.standing.items() if k != "alert.overtime_departure"}
    if off_post_in_shift > LIMIT_S:
        standing["alert.overtime_departure"] = 1
    if out.first_in_s > SHIFT_END_S:
        standing["alert.left_early"] = 1
    return expected, standing


@_PROPERTY
@given(outings_near_the_end(), st.data())
def test_an_outing_near_the_end_gets_the_alerts_the_rules_give_it(
    out: Outing, data: st.DataObject
) -> None:
    expected, standing = what_the_end_gives(out, data)
    stops = data.draw(restarts())
    scenario = _play(expected.script + stops)
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == standing, (expected.paperwork, stops, happened)
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed
