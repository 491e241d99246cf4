"""A double shift (连班) is one duty (``gateway.rules.handover``): the first shift hands on what
stands at its end (he is on duty, the outing under way, his terminal's silence), and the
second takes it over from its start. A 4-hour first shift from ``T0`` (offsets in seconds),
the second at the same post from its end."""

from __future__ import annotations

from gateway.rules import DutyContinued, PresenceState
from gateway.rules.handover import Handover, settled

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
    second = Scenario(state=_second_state(), clock=first.clock)
    handed = first.state.handover
    assert handed is not None
    second.feed(DutyContinued("shift-1", handed, first.state.reports, first.state.leaves))
    return second


def _second_state() -> PresenceState:
    return PresenceState.start(
        "shift-2", "guard-1", "post-1", "site-1", [DEVICE], at(END_S), at(2 * END_S)
    )


def test_the_first_shift_hands_the_outing_on_and_raises_nothing_at_its_end() -> None:
    first = _first(END_S - 240, (END_S - 270, report("R1")))
    assert [t for t, _ in first.pairs()] == ["presence.departed"]
    assert first.state.departure is None and first.state.closed
    handed = first.state.handover
    assert handed is not None and handed.on_post and handed.silence is None
    assert handed.departure is not None and handed.departure.report_id == "R1"
    assert handed.departure.unreported_done
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
    handed = first.state.handover
    assert handed is not None and handed.departure is not None
    assert not handed.departure.unreported_done
    second = _second(first)
    second.advance(END_S + 300)
    assert [t for t, _ in second.pairs(skip=())] == [
        "presence.arrived",
        "alert.unreported_departure",
    ]


def test_a_second_shift_that_saw_him_first_leaves_the_outing_to_the_first() -> None:
    first = _first(END_S - 100)
    second = Scenario(state=_second_state(), clock=first.clock)
    second.run(track(END_S + 30, END_S + 60, inside))
    handed = first.state.handover
    assert handed is not None
    second.feed(DutyContinued("shift-1", handed))
    assert second.state.departure is None  # not taken
    kept = settled(first.state, taken=False)
    assert kept.departure == handed.departure and kept.handover is None and not kept.closed
    assert settled(first.state, taken=True).handover is None


def test_on_post_at_the_change_he_is_on_duty_from_the_start_with_no_fix_yet() -> None:
    first = Scenario(state=shift(END_S, next_shift_s=END_S))
    first.run(track(0, END_S - 30, inside))
    first.advance(END_S + 1)
    assert first.state.handover == Handover(on_post=True)
    second = _second(first)
    assert second.pairs(skip=()) == [("presence.arrived", END_S)]
    second.advance(END_S + 1800)  # no absence; his terminal is quiet in this shift, though
    assert [t for t, _ in second.pairs(skip=())] == ["presence.arrived", "alert.device_silent"]


def test_a_quiet_terminal_is_one_silence_resolved_when_heard_again() -> None:
    # Quiet from 13500: the first shift raises the silence at 14100 (10 minutes).
    first = Scenario(state=shift(END_S, next_shift_s=END_S))
    first.run(track(0, 13500, inside))
    first.advance(END_S + 1)
    [silent] = first.only("alert.device_silent")
    handed = first.state.handover
    assert handed is not None and handed.silence is not None
    second = _second(first)
    second.advance(END_S + 1200)
    assert (
        second.only("alert.device_silent") == []
        and second.only("alert.absent_at_shift_start") == []
    )
    second.run(track(END_S + 1800, END_S + 1860, inside))
    [resumed] = second.only("presence.device_resumed")
    assert resumed.resolves == (silent.alert_key,)
    assert restore(second.state).silences == second.state.silences


def test_a_guard_who_never_came_is_the_second_shifts_to_find_absent() -> None:
    first = Scenario(state=shift(END_S, next_shift_s=END_S))
    first.advance(END_S + 1)
    handed = first.state.handover
    assert handed is not None and not handed.on_post
    second = _second(first)
    second.advance(END_S + 900)
    assert "alert.absent_at_shift_start" in [t for t, _ in second.pairs()]
