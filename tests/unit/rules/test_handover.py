"""A double shift (连班) is one duty (``gateway.rules.handover``): the first shift hands the
outing under way at its end over, and the second takes it as its own from its start. A 4-hour
first shift from ``T0`` (offsets in seconds), the second at the same post from its end."""

from __future__ import annotations

from gateway.rules import DutyContinued, PresenceState
from gateway.rules.handover import settled

from .scenario import DEVICE, Build, Scenario, at, inside, outside, report, restore, shift, track

END_S = 4 * 3600


def _first(left_s: float, *script: tuple[float, Build]) -> Scenario:
    """The first shift: on post, out from ``left_s`` to past its end."""
    scenario = Scenario(state=shift(END_S, next_shift_s=END_S))
    scenario.run([*track(0, left_s - 30, inside), *track(left_s, END_S - 30, outside), *script])
    scenario.advance(END_S + 1)
    return scenario


def _second(first: Scenario) -> Scenario:
    """The second shift's machine at its start, handed the first's outing."""
    state = PresenceState.start(
        "shift-2", "guard-1", "post-1", "site-1", [DEVICE], at(END_S), at(2 * END_S)
    )
    second = Scenario(state=state, clock=first.clock)
    handed = first.state.handover
    assert handed is not None
    second.feed(DutyContinued("shift-1", handed, first.state.reports, first.state.leaves))
    return second


def test_the_first_shift_hands_the_outing_on_and_raises_nothing_at_its_end() -> None:
    first = _first(END_S - 240, (END_S - 270, report("R1")))
    assert [t for t, _ in first.pairs()] == ["presence.departed"]
    assert first.state.departure is None and first.state.closed
    handed = first.state.handover
    assert handed is not None and handed.report_id == "R1" and handed.unreported_done
    assert restore(first.state).handover == handed


def test_the_second_shift_judges_it_from_when_it_began() -> None:
    first = _first(END_S - 240, (END_S - 270, report("R1")))
    second = _second(first)
    [arrived] = second.only("presence.arrived")
    assert arrived.data["continued_from"] == "shift-1" and arrived.data["after_shift_start_s"] == 0
    assert arrived.data["away_since"] == at(END_S - 240).isoformat()
    # Still out at 15 minutes from when he left (in the second shift): overtime, no absence.
    second.run(track(END_S + 30, END_S + 900, outside))
    second.run(track(END_S + 930, END_S + 1200, inside))
    second.advance(END_S + 1500)
    assert second.pairs(skip=()) == [
        ("presence.arrived", END_S),
        ("alert.overtime_departure", END_S + 660),
        ("presence.returned", END_S + 930),
    ]


def test_an_unreported_decision_not_taken_by_the_end_is_the_second_shifts() -> None:
    # Out 100 s before the end: the decision (2 minutes after) falls in the second shift.
    first = _first(END_S - 100)
    assert first.state.handover is not None and not first.state.handover.unreported_done
    second = _second(first)
    second.advance(END_S + 300)
    assert [t for t, _ in second.pairs(skip=())] == [
        "presence.arrived",
        "alert.unreported_departure",
    ]


def test_a_second_shift_that_saw_him_first_leaves_it_to_the_first() -> None:
    first = _first(END_S - 100)
    second = Scenario(
        state=PresenceState.start(
            "shift-2", "guard-1", "post-1", "site-1", [DEVICE], at(END_S), at(2 * END_S)
        ),
        clock=first.clock,
    )
    second.run(track(END_S + 30, END_S + 60, inside))
    handed = first.state.handover
    assert handed is not None
    second.feed(DutyContinued("shift-1", handed))
    assert second.state.departure is None  # not taken
    kept = settled(first.state, taken=False)
    assert kept.departure == handed and kept.handover is None and not kept.closed
    assert settled(first.state, taken=True).handover is None
