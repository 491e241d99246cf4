"""The presence rules decide the same whether the gateway ran all day or was down a while.

While the gateway is down the broker keeps every fix for it (a persistent QoS-1 session). On
start-up each state is told the span nobody watched (``gateway.rules.holds.unwatched_before``,
which the pipeline calls for every state it loads and every machine it starts), the first tick
may come before the backlog (the worst case, played here), and the kept fixes then arrive at
once, in their order, received then. The alerts that stand must be those the rules give the
same day seen live (docs/presence-rules.md, "Late data and restarts").

The generated days are those of ``test_presence_properties``; the downtime is 1 s to 2 h
anywhere from before the shift to its end. Reports, leaves and cancellations are typed in
outside it (the API is down with the gateway; typed later they would be other paperwork, with
other outcomes).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, reject
from hypothesis import strategies as st

from gateway.rules import FixObserved, PresenceState, RuleInput, Tick
from gateway.rules.holds import unwatched_before
from tests.unit.rules.scenario import Scenario, at, inside, outside, restore, secs, shift
from tests.unit.rules.test_presence_properties import (
    _PROPERTY,
    NEAR_S,
    SHIFT_END_S,
    Item,
    Outing,
    _alerts,
    _paperwork_for,
    _standing,
    honest_fixes,
    outings,
    paperwork,
)

HANDED_OVER_S = 0.002
"""How far apart the broker hands over the fixes it kept: at once, in order."""


def _play_with_downtime(
    script: list[Item],
    down: tuple[float, float],
    *,
    told: bool = True,
    state: PresenceState | None = None,
) -> Scenario:
    """Feed ``script`` to a shift's machine, the gateway down from ``down[0]`` to ``down[1]``:
    no tick then; each fix sent meanwhile is kept and handed over at the restart, received
    then; the state goes through its JSON and learns the span nobody watched (not if
    ``told`` is false: the control below)."""
    scenario = Scenario(state=shift(SHIFT_END_S) if state is None else state)
    kept: list[FixObserved] = []
    restarted = False
    for offset_s, item in sorted(script, key=lambda entry: entry[0]):
        if not restarted and offset_s >= down[1]:
            _restart(scenario, down, kept, told=told)
            restarted = True
        if down[0] <= offset_s < down[1]:
            built = item(at(offset_s))
            if not isinstance(built, FixObserved):
                reject()  # paperwork is typed in while the gateway runs (module docstring)
            kept.append(built)
            continue
        scenario.advance(offset_s)
        # Built at its own time: the handover may have taken the clock past it.
        fed: RuleInput = item(at(offset_s))
        if isinstance(fed, FixObserved):
            fed = dataclasses.replace(fed, received_at=scenario.clock.now())
        scenario.feed(fed)
    if not restarted:
        _restart(scenario, down, kept, told=told)
    scenario.advance(SHIFT_END_S + 3 * 3600)
    return scenario


def _restart(
    scenario: Scenario, down: tuple[float, float], kept: list[FixObserved], *, told: bool
) -> None:
    scenario.advance(down[0])
    scenario.clock.set(max(at(down[1]), scenario.clock.now()))
    scenario.state = restore(scenario.state)
    if told:
        scenario.state = unwatched_before(scenario.state, scenario.clock.now())
    scenario.auto_tick = False
    scenario.feed(Tick())  # the worst case: the runtime's first tick before the broker's backlog
    for fix in kept:
        scenario.clock.set(scenario.clock.now() + timedelta(seconds=HANDED_OVER_S))
        scenario.feed(dataclasses.replace(fix, received_at=scenario.clock.now()))
    scenario.auto_tick = True


@st.composite
def downtimes(draw: st.DrawFn) -> tuple[float, float]:
    starts = draw(st.floats(-600, SHIFT_END_S))
    return starts, starts + draw(st.floats(1, 2 * 3600))


@_PROPERTY
@given(honest_fixes(), paperwork(), downtimes())
def test_an_honest_guard_gets_no_alert_across_a_downtime(
    fixes: list[Item], papers: list[Item], down: tuple[float, float]
) -> None:
    scenario = _play_with_downtime(fixes + papers, down)
    assert _alerts(scenario) == []
    assert not [e for e in scenario.events if e.type == "presence.departed"]
    assert scenario.state.closed


@_PROPERTY
@given(outings(), st.data(), downtimes())
def test_one_outing_gets_the_same_alerts_across_a_downtime(
    out: Outing, data: st.DataObject, down: tuple[float, float]
) -> None:
    if abs(out.first_in_s - out.first_out_s - 900) < NEAR_S:
        reject()
    expected = _paperwork_for(data, out)
    scenario = _play_with_downtime(expected.script, down)
    happened = [(t, s) for t, s in scenario.pairs() if t != "presence.device_resumed"]
    assert _standing(scenario) == expected.standing, (expected.paperwork, down, happened)
    [departed] = scenario.only("presence.departed")
    assert abs(secs(departed.time) - out.first_out_s) < 0.001
    assert scenario.state.closed  # every decision owed was taken, so the machine closed


def test_the_downtime_property_can_fail() -> None:
    # On post, his terminal every 30 s; the gateway down from 08:10 to 08:40, its first tick
    # before the backlog. Told the span nobody watched, nothing; not told, that first tick
    # calls his terminal silent: the property catches a restart that forgets the span.
    script: list[Item] = [(float(s), inside) for s in range(-300, int(SHIFT_END_S) + 300, 30)]
    assert _alerts(_play_with_downtime(script, (600.0, 2400.0))) == []
    assert _alerts(_play_with_downtime(script, (600.0, 2400.0), told=False)) == [
        ("alert.device_silent", 570.0 + 600)
    ]


def test_fixes_kept_across_the_end_are_judged_before_it() -> None:
    # Out at 11:50 of a shift ending at 12:00, back at 11:55; the gateway down from 11:52 to
    # 12:20, the broker keeping his fixes. The end waits for them: back before it, he did not
    # leave early (had the first tick decided, he would have).
    script: list[Item] = [
        (float(s), outside if 13800 <= s < 14100 else inside)
        for s in range(-300, int(SHIFT_END_S) + 1800, 30)
    ]
    scenario = _play_with_downtime(script, (13920.0, 15600.0))
    assert _alerts(scenario) == [("alert.unreported_departure", 13800.0)]
    [returned] = scenario.only("presence.returned")
    assert secs(returned.time) == 14100.0
    untold = _play_with_downtime(script, (13920.0, 15600.0), told=False)
    assert ("alert.left_early", SHIFT_END_S) in _alerts(untold)
