"""``slices``: a long id list in order, in slices no longer than the size."""

from __future__ import annotations

import pytest

from gateway.db.slices import IDS_PER_STATEMENT, slices


def test_slices_keep_order_and_size() -> None:
    assert [list(s) for s in slices(list("abcdefg"), 3)] == [
        ["a", "b", "c"],
        ["d", "e", "f"],
        ["g"],
    ]
    assert list(slices([], 3)) == []
    ids = [f"p-{i}" for i in range(2 * IDS_PER_STATEMENT + 1)]
    sizes = list(slices(ids))
    assert [len(p) for p in sizes] == [IDS_PER_STATEMENT, IDS_PER_STATEMENT, 1]
    assert [i for p in sizes for i in p] == ids


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(slices([1], 0))
