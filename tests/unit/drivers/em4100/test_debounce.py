"""One scan per presentation of a tag, judged on the timestamps given (the injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.em4100.debounce import Debouncer

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_repeats_every_150_ms_for_ten_seconds_are_one_scan() -> None:
    debouncer = Debouncer(2.0)
    accepted = [debouncer.accept("01000734E0", _at(i * 0.15)) for i in range(67)]
    assert accepted.count(True) == 1
    assert accepted[0] is True


def test_same_tag_after_more_than_debounce_away_is_a_new_scan() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept("A", _at(0))
    assert not debouncer.accept("A", _at(1.0))
    assert debouncer.accept("A", _at(3.01))


def test_same_tag_after_exactly_debounce_is_still_the_same_presentation() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept("A", _at(0))
    assert not debouncer.accept("A", _at(2.0))


def test_repeats_extend_the_presentation() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept("A", _at(0))
    assert not debouncer.accept("A", _at(1.9))
    assert not debouncer.accept("A", _at(3.8))
    assert debouncer.accept("A", _at(5.9))


def test_tags_are_debounced_independently() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept("A", _at(0))
    assert debouncer.accept("B", _at(0.5))
    assert not debouncer.accept("A", _at(1.0))
    assert not debouncer.accept("B", _at(1.0))


def test_configurable_window() -> None:
    debouncer = Debouncer(0.5)
    assert debouncer.accept("A", _at(0))
    assert debouncer.accept("A", _at(0.6))
    assert debouncer.debounce_s == 0.5


def test_many_tags_do_not_break_debouncing_of_the_current_one() -> None:
    debouncer = Debouncer(2.0)
    for i in range(1000):
        assert debouncer.accept(f"T{i}", _at(i * 0.01))
    assert not debouncer.accept("T999", _at(10.0))
