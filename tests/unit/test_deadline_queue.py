"""The deadline queue against the journal: pops given back, pushes gone stale, compaction undone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.pipeline.deadline_queue import PATROL, PRESENCE, DeadlineQueue
from gateway.pipeline.journal import Journal

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_due_entries_come_out_earliest_first_then_kind_then_id() -> None:
    queue = DeadlineQueue(Journal())
    queue.schedule(PATROL, "b", at(5))
    queue.schedule(PRESENCE, "c", at(5))
    queue.schedule(PRESENCE, "a", at(1))
    queue.schedule(PRESENCE, "z", at(9))
    assert queue.pop_due(at(4.999), 10) == [(PRESENCE, "a")]
    assert queue.pop_due(at(5), 10) == [(PRESENCE, "c"), (PATROL, "b")]
    assert queue.pop_due(at(100), 10) == [(PRESENCE, "z")]
    assert queue.pop_due(at(100), 10) == []
    assert len(queue) == 0


def test_a_moved_or_cleared_deadline_leaves_only_a_stale_entry() -> None:
    queue = DeadlineQueue(Journal())
    queue.schedule(PRESENCE, "a", at(1))
    queue.schedule(PRESENCE, "a", at(3))  # moved later
    queue.schedule(PRESENCE, "b", at(2))
    queue.schedule(PRESENCE, "b", None)  # no deadline any more
    assert queue.pop_due(at(2.5), 10) == []
    assert queue.examined == 2  # both stale entries looked at once, and dropped
    assert queue.pop_due(at(3), 10) == [(PRESENCE, "a")]


def test_a_rollback_puts_back_what_was_popped_and_forgets_what_was_pushed() -> None:
    journal = Journal()
    queue = DeadlineQueue(journal)
    for i in range(10):
        queue.schedule(PRESENCE, f"m{i}", at(i))
    journal.begin()
    assert queue.pop_due(at(4), 3) == [(PRESENCE, "m0"), (PRESENCE, "m1"), (PRESENCE, "m2")]
    queue.schedule(PRESENCE, "m0", at(50))  # fired: its next deadline
    queue.schedule(PRESENCE, "m9", at(0.5))  # moved earlier by an input
    queue.schedule(PRESENCE, "new", at(0.1))
    journal.rollback()
    assert len(queue) == 10
    assert queue.pop_due(at(100), 100) == [(PRESENCE, f"m{i}") for i in range(10)]


def test_compaction_is_undone_by_a_rollback() -> None:
    journal = Journal()
    queue = DeadlineQueue(journal)
    for i in range(600):
        queue.schedule(PRESENCE, f"m{i}", at(1000 + i))
    journal.begin()
    for step in range(1, 4):  # 1,800 moves: the heap is compacted on the way
        for i in range(600):
            queue.schedule(PRESENCE, f"m{i}", at(1000 + i + step))
    assert queue.heap_size <= 2 * len(queue)
    assert queue.pop_due(at(1000 + 3), 10) == [(PRESENCE, "m0")]
    journal.rollback()
    assert queue.pop_due(at(5000), 1000) == [(PRESENCE, f"m{i}") for i in range(600)]
    assert queue.heap_size == 0


def test_compaction_in_a_committed_transaction_keeps_every_deadline() -> None:
    journal = Journal()
    queue = DeadlineQueue(journal)
    journal.begin()
    for step in range(4):
        for i in range(600):
            queue.schedule(PRESENCE, f"m{i}", at(i + step))
    journal.commit()
    assert queue.heap_size <= 2 * len(queue)
    assert queue.pop_due(at(10_000), 1000) == [(PRESENCE, f"m{i}") for i in range(600)]
