"""A guard whose next shift is at another post and starts when this one ends may leave a few
minutes early to walk there (轮岗): that outing ends his shift, with no unreported departure
and no leaving early (``rules.departures.moving_on``). A 4-hour shift from ``T0``; the default
``next_post_walk_s`` of 300 s."""

from __future__ import annotations

from dataclasses import replace

from gateway.policy import SitePolicy
from gateway.rules import PresenceState

from .scenario import T0, Scenario, at, inside, outside, restore, shift, track

END_S = 4 * 3600


def _leaves_at(left_s: float, *, next_post: bool = True, walk_s: float = 300) -> Scenario:
    state = shift(END_S, next_post_s=END_S if next_post else None)
    scenario = Scenario(policy=SitePolicy(next_post_walk_s=walk_s), state=restore(state))
    scenario.run([*track(-300, left_s - 30, inside), *track(left_s, END_S + 600, outside)])
    scenario.advance(END_S + 900)
    return scenario


def test_leaving_two_minutes_early_for_the_next_post_ends_the_shift_quietly() -> None:
    scenario = _leaves_at(END_S - 120)
    assert scenario.pairs() == []
    assert scenario.state.closed


def test_leaving_ten_minutes_early_is_judged_as_any_outing() -> None:
    assert scenario_types(_leaves_at(END_S - 600)) == [
        "presence.departed",
        "alert.unreported_departure",
        "alert.left_early",
    ]


def test_without_a_next_post_or_with_no_walk_allowed_two_minutes_early_is_leaving_early() -> None:
    expected = ["presence.departed", "alert.unreported_departure", "alert.left_early"]
    assert scenario_types(_leaves_at(END_S - 120, next_post=False)) == expected
    assert scenario_types(_leaves_at(END_S - 120, walk_s=0)) == expected


def test_the_next_post_survives_a_restart() -> None:
    state = PresenceState.start(
        "s", "g", "p", "site", ["d"], T0, at(END_S), next_post_at=at(END_S + 60)
    )
    assert restore(state).next_post_at == at(END_S + 60)
    assert restore(replace(state, next_post_at=None)).next_post_at is None


def scenario_types(scenario: Scenario) -> list[str]:
    return [t for t, _ in scenario.pairs()]


def test_a_next_shift_at_this_post_from_the_end_is_a_double_shift_not_leaving_early() -> None:
    # 连班: the same post from the end on: out two or ten minutes before it, he has not left
    # work (an unreported outing is still raised as unreported).
    for left_s in (END_S - 120, END_S - 600):
        state = shift(END_S, next_shift_s=END_S)
        assert state.continued and restore(state).continued
        scenario = Scenario(state=state)
        scenario.run([*track(-300, left_s - 30, inside), *track(left_s, END_S + 600, outside)])
        scenario.advance(END_S + 900)
        assert scenario_types(scenario) == ["presence.departed", "alert.unreported_departure"]
    # A next shift at another post from the end is the next post's (above), not this.
    assert not shift(END_S, next_post_s=END_S, next_shift_s=END_S).continued
    # A break between the two: leaving before the end is leaving early.
    assert not shift(END_S, next_shift_s=END_S + 3600).continued
