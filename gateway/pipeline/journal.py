"""An undo log of the pipeline's in-memory state, so memory commits and rolls back with the
database transaction it went with.

The stages keep state between batches (presence machines, filter memory, last fixes, SOS
episodes, patrol and attendance machines...). A batch changes that state as it goes; if its
transaction then fails, the database forgets the batch and memory must forget it too, or the
retried batch would find its own fixes remembered as duplicates, its arrivals already made, its
alerts already raised. ``Journal`` records, for every change made while a transaction is open,
how to undo it; ``rollback`` undoes them newest first, ``commit`` forgets them.

The containers the stages mutate are ``JournaledDict`` and ``JournaledSet``: ordinary ``dict``
and ``set`` (reads cost nothing extra) whose mutating methods record the previous value first.
Values held in them must be immutable (frozen dataclasses, strings, datetimes) or replaced rather
than mutated in place; state mutated in place is copied once per transaction first
(``Journal.first_touch``), see ``gateway.filters``. Outside a transaction nothing is recorded
(a reload builds memory from the database, which is already the truth).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["Journal", "JournaledDict", "JournaledSet"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

Undo = Callable[[], None]


class Journal:
    """The undo log of one transaction at a time (the pipeline's owner thread only)."""

    __slots__ = ("_open", "_touched", "_undo")

    def __init__(self) -> None:
        self._open = False
        self._undo: list[Undo] = []
        self._touched: set[Hashable] = set()

    @property
    def active(self) -> bool:
        """Whether a transaction is open (changes are being recorded)."""
        return self._open

    def begin(self) -> None:
        """Start recording: a transaction opens. A journal left open (a bug) is rolled back."""
        if self._open:
            self.rollback()
        self._open = True

    def record(self, undo: Undo) -> None:
        """Remember how to undo one change (ignored outside a transaction)."""
        if self._open:
            self._undo.append(undo)

    def first_touch(self, token: Hashable) -> bool:
        """True the first time ``token`` is seen in this transaction (always False outside
        one): the moment to copy state that is about to be mutated in place."""
        if not self._open or token in self._touched:
            return False
        self._touched.add(token)
        return True

    def commit(self) -> None:
        """The transaction committed: memory's changes stand."""
        self._undo.clear()
        self._touched.clear()
        self._open = False

    def rollback(self) -> int:
        """The transaction failed: undo every change, newest first. Returns how many."""
        undone = len(self._undo)
        for undo in reversed(self._undo):
            undo()
        self.commit()
        return undone


class JournaledDict(dict[K, V]):
    """A ``dict`` whose changes are recorded in ``journal`` while a transaction is open."""

    __slots__ = ("_journal",)

    def __init__(self, journal: Journal, items: Iterable[tuple[K, V]] = ()) -> None:
        super().__init__(items)
        self._journal = journal

    def _remember(self, key: K) -> None:
        if not self._journal.active:
            return
        if dict.__contains__(self, key):
            old = dict.__getitem__(self, key)
            self._journal.record(lambda: dict.__setitem__(self, key, old))
        else:
            self._journal.record(lambda: self._forget(key))

    def _forget(self, key: K) -> None:
        dict.pop(self, key, None)

    def __setitem__(self, key: K, value: V) -> None:
        self._remember(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: K) -> None:
        self._remember(key)
        super().__delitem__(key)

    def pop(self, key: K, *default: V) -> V:  # type: ignore[override]
        self._remember(key)
        return super().pop(key, *default)

    def setdefault(self, key: K, default: V) -> V:
        if not dict.__contains__(self, key):
            self._remember(key)
        return super().setdefault(key, default)

    def update(self, other: Mapping[K, V]) -> None:  # type: ignore[override]
        for key, value in other.items():
            self[key] = value

    def popitem(self) -> tuple[K, V]:
        key, value = super().popitem()
        self._journal.record(lambda: dict.__setitem__(self, key, value))
        return key, value

    def clear(self) -> None:
        if self._journal.active:
            saved = dict(self)
            self._journal.record(lambda: dict.update(self, saved))
        super().clear()

    def __ior__(self, other: object) -> JournaledDict[K, V]:  # type: ignore[override,misc]
        raise TypeError("a journaled dict is updated with update()")


class JournaledSet(set[T]):
    """A ``set`` whose additions and removals are recorded in ``journal``."""

    __slots__ = ("_journal",)

    def __init__(self, journal: Journal, items: Iterable[T] = ()) -> None:
        super().__init__(items)
        self._journal = journal

    def add(self, item: T) -> None:
        if self._journal.active and not set.__contains__(self, item):
            self._journal.record(lambda: set.discard(self, item))
        super().add(item)

    def discard(self, item: T) -> None:  # type: ignore[override]
        if self._journal.active and set.__contains__(self, item):
            self._journal.record(lambda: set.add(self, item))
        super().discard(item)

    def remove(self, item: T) -> None:
        if not set.__contains__(self, item):
            raise KeyError(item)
        self.discard(item)

    def update(self, *others: Iterable[T]) -> None:
        for other in others:
            for item in other:
                self.add(item)

    def clear(self) -> None:
        if self._journal.active:
            saved = set(self)
            self._journal.record(lambda: set.update(self, saved))
        super().clear()

    def _refused(self, *_args: object) -> Any:
        raise TypeError("a journaled set is changed with add, discard, remove, update, clear")

    # These would change the set behind the journal's back.
    pop = __ior__ = __iand__ = __isub__ = __ixor__ = _refused
    difference_update = intersection_update = symmetric_difference_update = _refused
