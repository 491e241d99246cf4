"""The pipeline thread settles each input only once its fate is final, and bounds its queue.

A real ``Processor`` on SQLite (and PostgreSQL when configured) with the sample Wuhan site; raw
inputs are strings the test's decoder maps to a fix, to nothing ("not for us"), or to a codec
failure. ``on_settled`` is what MQTT ingest acknowledges from.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.db.models import PositionRow
from gateway.pipeline.batch_budget import BatchSizer
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, post_points

DEVICE = "gps-001"


class Settled:
    """Records what ``on_settled`` got, in order, and when (relative to the commits)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.log: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, items: Sequence[str]) -> None:
        with self.lock:
            self.items.extend(items)
            self.log.append(f"settled {len(items)}")


@pytest.fixture
def setup(engine: Engine) -> Iterator[tuple[Processor, ManualClock, dict[str, DecodeOutcome]]]:
    load_sample_site(engine)
    inside = post_points(engine, "jt-gate-north").inside
    clock = ManualClock(DAY_START + timedelta(minutes=10))
    fixes = {
        f"fix-{i}": DecodeOutcome(
            fixes=(fix_at(DEVICE, DAY_START + timedelta(minutes=1, seconds=10 * i), inside),)
        )
        for i in range(6)
    }
    yield Processor(engine, clock), clock, fixes


def make_runtime(
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
    settled: Settled,
    **options: Any,
) -> PipelineRuntime[str]:
    processor, clock, fixes = setup

    def decode(item: str) -> DecodeOutcome | None:
        if item == "bad":
            raise ValueError("a codec bug")
        return fixes.get(item)  # anything else is not for us

    return PipelineRuntime(processor, clock, decode, on_settled=settled, **options)


def stored(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PositionRow)) or 0


def test_every_input_is_settled_in_order_once_committed_or_dropped(
    engine: Engine, setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]]
) -> None:
    settled = Settled()
    runtime = make_runtime(setup, settled)
    inputs = ["fix-0", "elsewhere", "fix-1", "bad", "fix-2"]
    for item in inputs:
        runtime.submit(item)  # before start: one batch
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()

    assert settled.items == inputs
    assert settled.log == ["settled 5"]
    assert stored(engine) == 3
    counters = setup[0].counters.snapshot()
    assert (counters["ignored.not_for_us"], counters["errors.decoder"]) == (1, 1)


def test_a_codec_that_keeps_failing_is_counted_each_time_and_logged_once_a_minute(
    engine: Engine,
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: a traceback and the whole input for every message, burying the log.
    settled = Settled()
    runtime = make_runtime(setup, settled)
    clock = setup[1]
    runtime.start()
    try:
        for _ in range(50):
            runtime.submit("bad")
        assert runtime.wait_idle()
        clock.advance(timedelta(seconds=61))
        runtime.submit("bad")
        runtime.submit("fix-0")
        assert runtime.wait_idle()
    finally:
        runtime.stop()
    counters = setup[0].counters.snapshot()
    assert counters["errors.decoder"] == 51
    assert stored(engine) == 1  # the stream went on
    lines = [r for r in caplog.records if r.getMessage().startswith("decoder failed on")]
    assert [r.getMessage() for r in lines] == [
        "decoder failed on 'bad'",
        "decoder failed on 'bad' (49 more ValueError not logged since)",
    ]
    assert all(r.exc_info is not None for r in lines)  # each line with its traceback


def test_a_batch_whose_transaction_fails_settles_nothing_until_the_retry_commits(
    engine: Engine,
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
    mocker: MockerFixture,
) -> None:
    processor = setup[0]
    settled = Settled()
    real = processor.process_outcomes
    attempts: list[int] = []

    def flaky(outcomes: list[DecodeOutcome]) -> None:
        attempts.append(len(outcomes))
        settled.log.append(f"attempt {len(attempts)} with {len(settled.items)} settled")
        if len(attempts) <= 2:
            raise RuntimeError("the database went away")
        real(outcomes)

    mocker.patch.object(processor, "process_outcomes", side_effect=flaky)
    runtime = make_runtime(setup, settled)
    for item in ("fix-0", "fix-1", "fix-2"):
        runtime.submit(item)
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()

    assert attempts == [3, 3, 3]
    assert settled.log == [
        "attempt 1 with 0 settled",
        "attempt 2 with 0 settled",
        "attempt 3 with 0 settled",
        "settled 3",
    ]
    assert settled.items == ["fix-0", "fix-1", "fix-2"]
    assert stored(engine) == 3


def test_poison_dropped_after_repeated_failures_is_settled_with_the_rest(
    engine: Engine,
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
    mocker: MockerFixture,
) -> None:
    processor, _clock, fixes = setup
    poison = fixes["fix-1"]
    real = processor.process_outcomes

    def fails_on_poison(outcomes: list[DecodeOutcome]) -> None:
        if any(outcome is poison for outcome in outcomes):
            raise RuntimeError("this record always fails")
        real(outcomes)

    mocker.patch.object(processor, "process_outcomes", side_effect=fails_on_poison)
    mocker.patch("gateway.pipeline.runtime.time.sleep")  # no back-off pauses in the test
    settled = Settled()
    runtime = make_runtime(setup, settled)
    for item in ("fix-0", "fix-1", "fix-2"):
        runtime.submit(item)
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()

    # Its fate is final (dropped, counted): acknowledging it is right, or it would come forever.
    assert settled.items == ["fix-0", "fix-1", "fix-2"]
    assert stored(engine) == 2


def test_submit_waits_for_room_then_says_the_queue_is_full(
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
) -> None:
    settled = Settled()
    runtime = make_runtime(setup, settled, max_queue=3)
    for item in ("fix-0", "fix-1", "fix-2"):
        runtime.submit(item, timeout_s=0)

    started = time.monotonic()
    with pytest.raises(queue.Full):
        runtime.submit("fix-3", timeout_s=0.3)
    assert time.monotonic() - started >= 0.3
    assert runtime.backlog() == 3

    # A submit without a timeout waits, and gets in once the pipeline makes room.
    waiting = threading.Thread(target=runtime.submit, args=("fix-3",))
    waiting.start()
    time.sleep(0.1)
    assert waiting.is_alive()  # no timeout: it waits as long as it takes
    runtime.start()
    try:
        waiting.join(5)
        assert not waiting.is_alive()
        assert runtime.wait_idle()
    finally:
        runtime.stop()
    assert settled.items == ["fix-0", "fix-1", "fix-2", "fix-3"]


def test_the_queue_bound_must_be_positive(
    setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]],
) -> None:
    with pytest.raises(ValueError, match="max_queue"):
        make_runtime(setup, Settled(), max_queue=0)


def test_batches_are_sized_to_the_time_budget_from_the_work_measured(
    engine: Engine, setup: tuple[Processor, ManualClock, dict[str, DecodeOutcome]]
) -> None:
    """3,000 fixes queued before the thread starts: the first batch takes ``max_batch``, each
    later one what the sizer makes of the batches before it (the seconds reported to
    ``on_batch_timed``), so a deadline never waits behind more than about a budget of work."""
    processor, clock, _fixes = setup
    inside = post_points(engine, "jt-gate-north").inside
    start = DAY_START + timedelta(minutes=1)

    def decode(item: str) -> DecodeOutcome:
        return DecodeOutcome(fixes=(fix_at(DEVICE, start + timedelta(seconds=int(item)), inside),))

    timed: list[tuple[int, float]] = []
    runtime: PipelineRuntime[str] = PipelineRuntime(
        processor,
        clock,
        decode,
        max_batch=1000,
        batch_budget_s=0.05,
        on_batch_timed=lambda count, seconds: timed.append((count, seconds)),
    )
    clock.set(start + timedelta(hours=1))
    for n in range(3000):
        runtime.submit(str(n))
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()
    assert stored(engine) == 3000
    assert sum(count for count, _ in timed) == 3000
    sizer = BatchSizer(1000, budget_s=0.05)
    left = 3000
    for count, seconds in timed:
        assert count == min(sizer.next_size(), left)
        sizer.observe(count, seconds)
        left -= count
    assert timed[0][0] == 1000
    assert len(timed) > 3  # smaller batches followed: 1,000 fixes take well over 0.05 s
