"""The undo log of the pipeline's memory: every mutation made in a transaction is undone by a
rollback, none outside one is recorded, and a commit keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.filters import DropReason, FixFilter
from gateway.pipeline.journal import Journal, JournaledDict, JournaledSet
from gateway.policy import SitePolicy
from gateway.records import PositionFix

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_every_dict_mutation_in_a_transaction_is_undone() -> None:
    journal = Journal()
    d: JournaledDict[str, int] = JournaledDict(journal, {"a": 1, "b": 2, "c": 3}.items())
    journal.begin()
    d["a"] = 10
    d["a"] = 11
    d["new"] = 4
    del d["b"]
    assert d.pop("c") == 3
    d.setdefault("other", 5)
    d.setdefault("a", 99)
    d.update({"x": 6, "a": 12})
    d.popitem()
    assert journal.rollback() == 9
    assert d == {"a": 1, "b": 2, "c": 3}
    journal.begin()
    d.clear()
    journal.rollback()
    assert d == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(TypeError):
        d |= {"z": 1}


def test_every_set_mutation_in_a_transaction_is_undone() -> None:
    journal = Journal()
    s: JournaledSet[str] = JournaledSet(journal, ["a", "b"])
    journal.begin()
    s.add("c")
    s.add("a")  # already there: nothing to undo
    s.discard("b")
    s.remove("a")
    s.update(["d", "e"])
    with pytest.raises(KeyError):
        s.remove("nope")
    assert journal.rollback() == 5
    assert s == {"a", "b"}
    journal.begin()
    s.clear()
    journal.rollback()
    assert s == {"a", "b"}
    with pytest.raises(TypeError):
        s.pop()
    with pytest.raises(TypeError):
        s -= {"a"}
    with pytest.raises(TypeError):
        s.difference_update({"a"})
    assert s == {"a", "b"}


def test_outside_a_transaction_nothing_is_recorded_and_a_commit_keeps_the_changes() -> None:
    journal = Journal()
    d: JournaledDict[str, int] = JournaledDict(journal)
    d["a"] = 1
    assert journal.rollback() == 0 and d == {"a": 1}
    journal.begin()
    d["b"] = 2
    assert journal.first_touch("token") is True
    assert journal.first_touch("token") is False
    journal.commit()
    assert journal.rollback() == 0 and d == {"a": 1, "b": 2}
    assert journal.first_touch("token") is False  # outside a transaction


def _fix(seconds: float, lat: float = 30.5) -> PositionFix:
    at = NOW + timedelta(seconds=seconds)
    return PositionFix("dev-1", at, at, lat, 114.3, accuracy_m=5.0)


def test_the_filters_forget_a_rolled_back_batch_and_keep_a_committed_one() -> None:
    journal = Journal()
    fixes = FixFilter(lambda _device: SitePolicy(), journal=journal)
    journal.begin()
    assert fixes.check(_fix(0), NOW) is None
    journal.commit()

    journal.begin()
    assert [fixes.check(_fix(s), NOW + timedelta(seconds=60)) for s in (10, 20)] == [None, None]
    assert fixes.check(_fix(30, lat=31.5), NOW + timedelta(seconds=60)) is (
        DropReason.IMPOSSIBLE_JUMP
    )
    journal.rollback()

    journal.begin()  # the same batch again: not duplicates, and the same jump
    assert [fixes.check(_fix(s), NOW + timedelta(seconds=60)) for s in (10, 20)] == [None, None]
    assert fixes.check(_fix(30, lat=31.5), NOW + timedelta(seconds=60)) is (
        DropReason.IMPOSSIBLE_JUMP
    )
    journal.commit()
    assert fixes.check(_fix(0), NOW + timedelta(seconds=60)) is DropReason.DUPLICATE
    assert fixes.check(_fix(20), NOW + timedelta(seconds=60)) is DropReason.DUPLICATE
