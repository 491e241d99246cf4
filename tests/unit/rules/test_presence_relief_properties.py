"""A relief over generated days: a person ends the guard's duty before the scheduled end
(``ShiftEnded``: a leader relieving him, a site load cutting the shift short).

What the rules as written say (docs/presence-rules.md, "The end of the shift"): what he does
after the relief is off duty; what is owed for what happened before it is still decided. So an
outing wholly before the relief gets exactly the alerts it gets without one (the hour to cancel
a leave, a report typed in later, run on after the relief), an outing wholly after it raises
nothing and is no departure, and an honest guard relieved anywhere gets no alert; restarts
anywhere change none of it. A machine ended with nothing owed any more is closed, whichever
input settled its last decision.

A relief is an end: when his terminal is out of network at it, the machine ends once the
positions it stored before the relief are in, or the end's wait (``end_upload_wait_s``) is over.
An outing before a relief that falls in a blind area, its positions sent within that wait, gets
the alerts it gets without one.

Where the generated days stop: the relief falls at least ``MARGIN_S`` from the outing (the
confirmation of a departure or a return takes fixes on both sides of a boundary, and which side
of the relief they fall is the terminal's timing), and, in a blind area, more than a minute
after its last position sent live and ``UPLOAD_MARGIN_S`` or more inside the wait (what comes
later is history, as after the scheduled end).
"""

from __future__ import annotations

from hypothesis import given, reject
from hypothesis import strategies as st

from gateway.policy import SitePolicy
from gateway.rules import ShiftEnded
from geofence.membership import Membership
from tests.unit.rules.scenario import (
    Build,
    Scenario,
    at,
    cancel,
    fix,
    inside,
    leave,
    outside,
    shift,
)
from tests.unit.rules.test_presence_properties import (
    _PROPERTY,
    NEAR_S,
    SHIFT_END_S,
    Item,
    Outing,
    Restart,
    _alerts,
    _paperwork_for,
    _play,
    _standing,
    honest_fixes,
    outings,
    paperwork,
    restarts,
)

MARGIN_S = 300.0
"""How far a generated relief stays from the outing's first fix out and from its return being
known: more than a departure's or a return's confirmation and the longest gap between fixes."""

WAIT_S = SitePolicy().end_upload_wait_s
UPLOAD_MARGIN_S = 60.0
"""How far inside the end's wait a generated upload after a relief in a blind area comes."""


def _relieved(now_s: float) -> tuple[float, Build]:
    return (now_s, lambda _now: ShiftEnded())


def _told_again(relief_s: float) -> Build:
    return lambda _now: ShiftEnded(ended_at=at(relief_s))


def _known_back(out: Outing) -> float:
    """When the rules can know of his return: his first fix inside, or the upload bringing it."""
    return out.first_in_s if out.offline is None else max(out.first_in_s, out.offline[1])


@_PROPERTY
@given(honest_fixes(), paperwork(), restarts(), st.floats(0, SHIFT_END_S - 60))
def test_an_honest_guard_relieved_anywhere_gets_no_alert(
    fixes: list[Item], papers: list[Item], stops: list[Item], relief_s: float
) -> None:
    scenario = _play([*fixes, *papers, *stops, _relieved(relief_s)])
    assert _alerts(scenario) == []
    assert not scenario.only("presence.departed")
    assert scenario.state.relieved_at is not None and scenario.state.closed


@_PROPERTY
@given(outings(), st.data())
def test_an_outing_before_the_relief_gets_the_alerts_it_gets_without_one(
    out: Outing, data: st.DataObject
) -> None:
    if abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    earliest = _known_back(out) + MARGIN_S
    if earliest > SHIFT_END_S - 60:
        reject()
    relief_s = data.draw(st.floats(earliest, SHIFT_END_S - 60), label="relief_s")
    expected = _paperwork_for(data, out)
    stops = data.draw(restarts(), label="restarts")
    scenario = _play([*expected.script, *stops, _relieved(relief_s)])
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == expected.standing, (expected.paperwork, stops, happened)
    assert len(scenario.only("presence.departed")) == 1
    assert scenario.state.relieved_at is not None and scenario.state.closed


@_PROPERTY
@given(outings(), st.data())
def test_an_outing_before_a_relief_in_a_blind_area_gets_the_alerts_it_gets_without_one(
    out: Outing, data: st.DataObject
) -> None:
    if out.offline is None or abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    went, came_back = out.offline
    earliest = max(out.first_in_s + MARGIN_S, went + 120, came_back - WAIT_S + UPLOAD_MARGIN_S)
    if earliest > came_back - 30:
        reject()
    relief_s = data.draw(st.floats(earliest, came_back - 30), label="relief_s")
    expected = _paperwork_for(data, out)
    stops = data.draw(restarts(), label="restarts")
    # The pipeline tells a relief again at each roster read after a restart, with its time.
    told_again = [
        (relief_s + later_s, _told_again(relief_s))
        for later_s in data.draw(st.lists(st.floats(1, WAIT_S + 600), max_size=2), label="again")
    ]
    scenario = _play([*expected.script, *stops, _relieved(relief_s), *told_again])
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == expected.standing, (expected.paperwork, stops, happened)
    assert len(scenario.only("presence.departed")) == 1
    assert scenario.state.relieved_at == at(relief_s) and scenario.state.closed


@_PROPERTY
@given(outings(), st.data())
def test_an_outing_after_the_relief_raises_nothing(out: Outing, data: st.DataObject) -> None:
    relief_s = data.draw(st.floats(0, out.first_out_s - MARGIN_S), label="relief_s")
    expected = _paperwork_for(data, out)
    stops = data.draw(restarts(), label="restarts")
    scenario = _play([*expected.script, *stops, _relieved(relief_s)])
    assert _standing(scenario) == {}, (expected.paperwork, stops, scenario.pairs())
    assert not scenario.only("presence.departed")


def test_the_relief_properties_can_fail() -> None:
    # Out at 3000 s for 20 minutes, no report: relieved at 2500 s, before it, nothing; relieved
    # at 5000 s, after his return, the alerts of the outing stand: the relief is what decides.
    script: list[Item] = [(float(s), _inside_or_out(s)) for s in range(-300, 14700, 30)]
    before = _play([*script, _relieved(2500.0)])
    after = _play([*script, _relieved(5000.0)])
    assert _standing(before) == {}
    assert _standing(after) == {
        "alert.unreported_departure": 1,
        "alert.overtime_departure": 1,
    }


def test_a_cancellation_typed_in_after_the_relief_closes_the_machine() -> None:
    # Found by the second property: out 1800-2100 s on a leave, relieved at 2404 s, the leave
    # cancelled at 2760 s, within the hour of his return. The cancellation settled the last
    # decision owed; the machine stayed ended and open, waiting for nothing, before.
    script: list[Item] = [
        (float(s), outside if 1800 <= s < 2100 else inside) for s in range(-300, 14700, 30)
    ]
    script += [
        (1740.0, leave("L1", 1790, 2185, approved_s=1740)),
        _relieved(2404.0),
        (2760.0, cancel("L1", cancelled_s=2160)),
    ]
    scenario = _play(script)
    assert [t for t, _ in scenario.pairs()] == [
        "presence.departed",
        "presence.returned",
        "leave.cancelled",
    ]
    assert scenario.state.closed and scenario.state.next_deadline is None


def test_a_relief_in_a_blind_area_waits_for_the_positions_that_show_the_outing_before_it() -> None:
    # Out at 3000 s for 20 minutes, no report, the terminal out of network from 2700 s to
    # 5400 s: relieved at 5000 s, it sends what it stored at 5400 s, within the end's wait.
    # The outing before the relief is judged as it is without one (before, the relief ended
    # the machine at once: nothing was raised, the positions came to an ended shift).
    script: list[Item] = []
    for s in range(-300, 14700, 30):
        if 2700 <= s < 5400:
            sent = 5400.0 + (s - 2700) / 3000
            out = Membership.OUTSIDE if 3000 <= s < 4200 else Membership.INSIDE
            script.append((sent, fix(out, lag_s=sent - s)))
        else:
            script.append((float(s), _inside_or_out(s)))
    # Told again at 5100 s (a roster read after a restart): it goes on waiting.
    scenario = _play([*script, _relieved(5000.0), (5100.0, _told_again(5000.0))])
    assert _standing(scenario) == {
        "alert.unreported_departure": 1,
        "alert.overtime_departure": 1,
    }
    backfilled = {e.type: e.data["backfilled"] for e in scenario.events}
    assert backfilled["alert.unreported_departure"] is True
    assert scenario.state.relieved_at == at(5000.0) and scenario.state.closed


def test_a_relief_in_a_blind_area_ends_after_the_wait_when_nothing_is_sent() -> None:
    # On post, the terminal out of network from 2700 s and back only at 9000 s: relieved at
    # 5000 s, the machine waits the end's wait for its positions, then ends; what comes later
    # is history, as after the scheduled end.
    script: list[Item] = [_relieved(5000.0)]
    for s in range(-300, 14700, 30):
        if 2700 <= s < 9000:
            sent = 9000.0 + (s - 2700) / 7000
            script.append((sent, fix(Membership.INSIDE, lag_s=sent - s)))
        else:
            script.append((float(s), inside))
    scenario = Scenario(state=shift(SHIFT_END_S))
    waited = {5000.0 + WAIT_S - 30: False, 5000.0 + WAIT_S + 30: True}
    for offset_s, item in sorted(script, key=lambda entry: entry[0]):
        for tick_s, ended in list(waited.items()):
            if tick_s < offset_s:
                scenario.advance(tick_s)
                assert scenario.state.ended is ended, tick_s
                del waited[tick_s]
        scenario.advance(offset_s)
        assert not isinstance(item, Restart)
        scenario.feed(item(scenario.clock.now()))
    scenario.advance(SHIFT_END_S + 3 * 3600)
    assert not waited
    assert [t for t, _ in _alerts(scenario)] == ["alert.device_silent"]  # from 2700 s, on the clock
    assert _standing(scenario) == {}
    assert scenario.state.relieved_at == at(5000.0) and scenario.state.closed


def _inside_or_out(offset_s: int) -> Build:
    return outside if 3000 <= offset_s < 4200 else inside
