"""``BatchSizer``: the next batch fits the time budget, within its bounds."""

from __future__ import annotations

import pytest

from gateway.pipeline.batch_budget import MIN_BATCH, BatchSizer


def test_the_first_batch_takes_the_most_then_what_fits_the_budget() -> None:
    sizer = BatchSizer(5000, budget_s=0.25)
    assert sizer.next_size() == 5000  # nothing measured yet
    sizer.observe(5000, 1.25)  # 250 us an input: 5,000 would take 1.25 s
    assert sizer.seconds_per_input == pytest.approx(250e-6)
    assert sizer.next_size() == 1000
    sizer.observe(1000, 0.05)  # cheaper now: the estimate moves half way
    assert sizer.seconds_per_input == pytest.approx((250e-6 + 50e-6) / 2)
    assert sizer.next_size() == 1666


def test_the_size_stays_within_its_bounds() -> None:
    sizer = BatchSizer(5000, budget_s=0.25)
    sizer.observe(100, 60.0)  # a batch that waited out a database outage
    assert sizer.next_size() == MIN_BATCH
    sizer = BatchSizer(5000, budget_s=0.25)
    sizer.observe(10, 0.0)  # too quick to measure
    assert sizer.next_size() == 5000
    assert BatchSizer(50).next_size() == 50
    small = BatchSizer(50)
    small.observe(50, 100.0)
    assert small.next_size() == 50  # the floor never exceeds the ceiling


def test_nothing_is_learnt_from_an_empty_batch_and_bad_bounds_are_refused() -> None:
    sizer = BatchSizer(5000)
    sizer.observe(0, 3.0)
    assert sizer.seconds_per_input is None
    with pytest.raises(ValueError, match="budget_s > 0"):
        BatchSizer(5000, budget_s=0)
    with pytest.raises(ValueError, match="max_batch >= 1"):
        BatchSizer(0)
