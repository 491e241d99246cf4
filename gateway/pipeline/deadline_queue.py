"""When the clock next has work: the rule machines' deadlines in a priority queue, and the
shifts still to start behind a cursor, so a tick costs what is due, not what is on duty.

``DeadlineQueue`` keeps one entry per machine (presence, attendance, patrol) at its next
deadline, in a binary heap: a tick pops only the entries whose time has come, earliest first.
The machine maps themselves keep it up to date: they are ``ScheduledDict`` containers, which
(re)schedule a machine whenever it is set and unschedule it when it is removed, so no stage
can change a machine and forget its deadline.

The queue follows the journal (``gateway.pipeline.journal``), so a failed transaction leaves
it exactly as it found it:

* ``_due`` (machine → the deadline its heap entry stands for) is a journaled dict: rolled back
  with the machines;
* an entry pushed in a failed transaction is left in the heap but no longer matches ``_due``
  once that is rolled back: it is stale, and dropped when it comes up (lazy deletion);
* an entry popped in a failed transaction is pushed back by the rollback;
* a compaction (the heap rebuilt from ``_due`` when stale entries outnumber live ones) keeps
  the heap it replaced, to be put back by a rollback.

``ShiftStarts`` is the cursor over the roster's shifts in start order: a tick starts the
machines of the shifts whose start has come since the last tick, without looking at the rest.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import TypeVar

from gateway.pipeline.duty import Duty, DutyIndex
from gateway.pipeline.journal import Journal, JournaledDict

__all__ = [
    "ATTENDANCE",
    "DEADLINES_PER_TRANSACTION",
    "PATROL",
    "PRESENCE",
    "DeadlineQueue",
    "ScheduledDict",
    "ShiftStarts",
]

K = TypeVar("K")
V = TypeVar("V")

PRESENCE = 0
ATTENDANCE = 1
PATROL = 2
"""The kinds of machine; at the same deadline they fire in this order (as they always did:
presence first, then attendance, then patrol)."""

DEADLINES_PER_TRANSACTION = 2000
"""The most deadlines fired (and shifts started) in one transaction. A shift change puts
tens of thousands of deadlines on the same second; firing them all in one transaction would
hold every fix arriving meanwhile until the last alert is written, and the first alert would
leave only with the last. In slices of 2,000 (at a few tens of microseconds an event, about
0.1 s of work) the first alerts commit at once, fixes are taken between slices, and 100,000
deadlines take 50 slices. Earliest first, so no deadline waits behind a later one."""

_COMPACT_MIN = 1024
"""Below this many heap entries stale ones are left to be dropped as they come up."""

Entry = tuple[datetime, int, str]
"""(deadline, kind, machine id): ordered by deadline, then kind, then id."""


class DeadlineQueue:
    """Each machine's next deadline, earliest first (see the module docstring)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._heap: list[Entry] = []
        self._due: JournaledDict[tuple[int, str], datetime] = JournaledDict(journal)
        self.examined = 0
        """Heap entries popped so far, stale ones included: what the clock's work cost (an
        idle tick pops none)."""
        self.fired = 0
        """Deadlines handed out as due so far."""

    def __len__(self) -> int:
        """Machines with a deadline scheduled."""
        return len(self._due)

    @property
    def heap_size(self) -> int:
        """Entries in the heap, stale ones included (bounded by compaction)."""
        return len(self._heap)

    def clear(self) -> None:
        """Forget every deadline (a reload, outside any transaction, schedules them again)."""
        self._heap = []
        self._due = JournaledDict(self._journal)

    def schedule(self, kind: int, machine_id: str, due: datetime | None) -> None:
        """The machine's next deadline is ``due`` (None: it has none)."""
        key = (kind, machine_id)
        current = self._due.get(key)
        if current == due:
            return
        if due is None:
            del self._due[key]  # its heap entry is now stale
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, kind, machine_id))
        if len(self._heap) > _COMPACT_MIN and len(self._heap) > 2 * len(self._due):
            self._compact()

    def next_due(self) -> datetime | None:
        """The earliest deadline in the heap (maybe a stale entry's: never later than the
        true earliest), or None when empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` machines whose deadline is at or before ``now``, earliest first;
        each is unscheduled (firing it schedules its next deadline). Only entries already due
        are looked at."""
        heap = self._heap
        due = self._due
        out: list[tuple[int, str]] = []
        while heap and heap[0][0] <= now and len(out) < limit:
            entry = heapq.heappop(heap)
            self._journal.record(partial(self._push, entry))
            self.examined += 1
            key = (entry[1], entry[2])
            if due.get(key) != entry[0]:
                continue  # stale: the machine moved on, or a rollback took its change back
            del due[key]
            out.append(key)
        self.fired += len(out)
        return out

    def _push(self, entry: Entry) -> None:
        heapq.heappush(self._heap, entry)

    def _compact(self) -> None:
        old = self._heap
        self._heap = [(d, kind, machine) for (kind, machine), d in self._due.items()]
        heapq.heapify(self._heap)
        self._journal.record(lambda: setattr(self, "_heap", old))


class ScheduledDict(JournaledDict[K, V]):
    """A journaled map of machines that keeps ``queue`` told of each machine's deadline.

    ``deadline(key, value)`` gives the machine's next deadline (None: none). Every way of
    setting or removing an entry goes through ``_changed``.
    """

    __slots__ = ("_deadline", "_kind", "_queue")

    def __init__(
        self,
        journal: Journal,
        queue: DeadlineQueue,
        kind: int,
        deadline: Callable[[K, V], datetime | None],
        items: Iterable[tuple[K, V]] = (),
    ) -> None:
        super().__init__(journal)
        self._queue = queue
        self._kind = kind
        self._deadline = deadline
        for key, value in items:
            self[key] = value

    def reschedule(self, key: K) -> None:
        """Schedule the machine at ``key`` again from its state (a machine the clock fired may
        come out of the step unchanged, still due: a deadline held back after a restart)."""
        if dict.__contains__(self, key):
            self._changed(key, dict.__getitem__(self, key))

    def _changed(self, key: K, value: V | None) -> None:
        due = None if value is None else self._deadline(key, value)
        self._queue.schedule(self._kind, str(key), due)

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self._changed(key, value)

    def __delitem__(self, key: K) -> None:
        super().__delitem__(key)
        self._changed(key, None)

    def pop(self, key: K, *default: V) -> V:  # type: ignore[override]
        present = dict.__contains__(self, key)
        value = super().pop(key, *default)
        if present:
            self._changed(key, None)
        return value

    def setdefault(self, key: K, default: V) -> V:
        if not dict.__contains__(self, key):
            self[key] = default
        return dict.__getitem__(self, key)

    def popitem(self) -> tuple[K, V]:
        key, value = super().popitem()
        self._changed(key, None)
        return key, value

    def clear(self) -> None:
        keys = list(self)
        super().clear()
        for key in keys:
            self._changed(key, None)


class ShiftStarts:
    """The cursor over the roster's shifts in start order (see the module docstring).

    ``take(now, limit)`` returns up to ``limit`` shifts whose start is at or before ``now`` and
    which are still under way, that the cursor has not passed yet; shifts passed that already
    ended are skipped. A new roster (``DutyIndex``) puts the cursor back at its first shift:
    every shift under way is offered once more (starting one that has its machine is a no-op).
    The cursor's moves are journaled.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._roster: DutyIndex | None = None
        self._next = 0

    def take(self, duties: DutyIndex, now: datetime, limit: int) -> list[Duty]:
        """The next shifts to start at ``now``, at most ``limit``."""
        if duties is not self._roster:
            self._roster, self._next = duties, 0  # a reload: outside any transaction
        ordered = duties.by_start
        before = index = self._next
        out: list[Duty] = []
        while index < len(ordered) and len(out) < limit:
            duty = ordered[index]
            if duty.starts_at > now:
                break
            index += 1
            if duty.ends_at > now:
                out.append(duty)
        if index != before:
            self._next = index
            self._journal.record(lambda: setattr(self, "_next", before))
        return out

    def pending(self, duties: DutyIndex, now: datetime) -> bool:
        """Whether shifts whose start has come wait to be taken."""
        if duties is not self._roster:
            return bool(duties.by_start) and duties.by_start[0].starts_at <= now
        ordered = duties.by_start
        return self._next < len(ordered) and ordered[self._next].starts_at <= now
