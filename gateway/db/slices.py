"""Long lists of ids sent in slices: one statement's ``IN (...)`` list per slice.

A city's roster holds more ids than a database takes as parameters of one statement
(PostgreSQL: 65,535; SQLite before 3.32: 999), so a lookup by a list of ids of unbounded
length goes through ``slices``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["IDS_PER_STATEMENT", "slices"]

T = TypeVar("T")

IDS_PER_STATEMENT = 900
"""Ids in one ``IN`` list when the caller has no reason for another size: under every
backend's limit."""


def slices(values: Sequence[T], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``, in order (none when empty)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    for start in range(0, len(values), size):
        yield values[start : start + size]
