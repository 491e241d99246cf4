"""SOS episodes: one alert per emergency per device, from any message, in any order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.policy import SitePolicy
from gateway.rules.alarms import SosEpisodes, SosObserved, SosPosition

from .scenario import T0, at

POLICY = SitePolicy()


def message(offset_s: float, sos: bool = True, device: str = "gps-7") -> SosObserved:
    return SosObserved(
        device_id=device,
        at=at(offset_s),
        received_at=at(offset_s),
        sos=sos,
        position=SosPosition("fix", 30.59, 114.30, 8.0, at(offset_s)),
        guard_id="g-1",
    )


# (offset_s, sos) in arrival order → offsets of the alerts raised
CASES: dict[str, tuple[list[tuple[float, bool]], list[float]]] = {
    "consecutive_sos_messages_raise_one_alert": ([(0, True), (30, True), (60, True)], [0]),
    "a_message_without_sos_ends_the_emergency": (
        [(0, True), (30, True), (60, False), (90, True)],
        [0, 90],
    ),
    "sos_after_a_long_gap_is_a_new_emergency": ([(0, True), (1200, True)], [0, 1200]),
    "an_sos_arriving_out_of_order_within_the_episode_raises_nothing_new": (
        [(60, True), (0, True), (90, True)],
        [60],
    ),
    "an_old_sos_arriving_late_from_another_emergency_is_raised": (
        [(3600, True), (0, True)],
        [3600, 0],
    ),
    "an_old_message_without_sos_does_not_end_the_emergency": (
        [(60, True), (30, False), (90, True)],
        [60],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sos_episode(name: str) -> None:
    script, expected = CASES[name]
    episodes = SosEpisodes()
    raised = []
    for offset_s, sos in script:
        raised += episodes.observe(message(offset_s, sos), at(7200), POLICY)
    assert [(e.time - T0).total_seconds() for e in raised] == expected
    assert all(e.type == "alert.sos" and e.alert_key == e.key for e in raised)


def test_devices_have_their_own_emergencies() -> None:
    episodes = SosEpisodes()
    first = episodes.observe(message(0, device="a"), at(0), POLICY)
    second = episodes.observe(message(10, device="b"), at(10), POLICY)
    assert len(first) == 1 and len(second) == 1
    assert first[0].key != second[0].key


def test_the_alert_carries_the_position_and_how_good_it_is() -> None:
    episodes = SosEpisodes()
    dropped = SosPosition(
        "fix_dropped", 30.59, 114.30, 350.0, at(0), dropped_because="poor_accuracy"
    )
    signal = SosObserved("gps-7", at(0), at(5), True, dropped, guard_id="g-1")
    [alert] = episodes.observe(signal, at(5), POLICY)
    position = alert.data["position"]
    assert isinstance(position, dict)
    assert position["quality"] == "fix_dropped"
    assert position["dropped_because"] == "poor_accuracy"
    assert alert.data["on_duty"] is False
    assert alert.data["backfilled"] is False


def test_the_same_first_sos_seen_again_after_a_restart_has_the_same_key() -> None:
    before = SosEpisodes().observe(message(0), at(0), POLICY)
    after = SosEpisodes().observe(message(0), at(0) + timedelta(minutes=5), POLICY)
    assert before[0].key == after[0].key
