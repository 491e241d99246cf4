"""The pipeline runtime under faults, on a real database (SQLite, and PostgreSQL when set):
poisoned inputs found by halving and quarantined, an unavailable database waited out, a stop
during an outage counted.

Every batch is g-001's fixes at the north gate (the sample site), one input each, all submitted
before the runtime starts so that they form one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_mock import MockerFixture
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import geofence
from gateway.clock import ManualClock
from gateway.db.models import PositionRow
from gateway.db.quarantine import QuarantineRow
from gateway.pipeline import fix_stages
from gateway.pipeline.processor import Processor
from gateway.pipeline.runtime import PipelineRuntime
from gateway.records import DecodeOutcome
from tests.e2e.helpers import DAY_START, fix_at, load_sample_site, post_points
from tests.fixtures.databases import CommitFault

POISON_ACCURACY_M = 7.25


def inputs(engine: Engine, count: int, poisoned: tuple[int, ...] = ()) -> list[DecodeOutcome]:
    inside = post_points(engine, "jt-gate-north").inside
    return [
        DecodeOutcome(
            fixes=(
                fix_at(
                    "gps-001",
                    DAY_START + timedelta(minutes=1, seconds=2 * i),
                    inside,
                    accuracy_m=POISON_ACCURACY_M if i in poisoned else 8.0,
                ),
            )
        )
        for i in range(count)
    ]


def stored(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PositionRow)) or 0


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def settled() -> list[DecodeOutcome]:
    """The inputs the runtime settled (what MQTT ingest would acknowledge), in order."""
    return []


@pytest.fixture
def runtime(engine: Engine, settled: list[DecodeOutcome]) -> PipelineRuntime[DecodeOutcome]:
    clock = ManualClock(DAY_START + timedelta(minutes=5))
    load_sample_site(engine)
    return PipelineRuntime(
        Processor(engine, clock), clock, lambda item: item, on_settled=settled.extend
    )


def test_two_poisoned_inputs_of_64_are_found_by_halving_and_quarantined(
    engine: Engine,
    runtime: PipelineRuntime[DecodeOutcome],
    settled: list[DecodeOutcome],
    mocker: MockerFixture,
) -> None:
    real_classify = geofence.classify

    def classify(*args: Any) -> Any:
        if args[3] == POISON_ACCURACY_M:
            raise ValueError("geometry engine failed")
        return real_classify(*args)

    mocker.patch.object(fix_stages, "classify", classify)
    attempts = mocker.spy(runtime.processor, "process_outcomes")
    submitted = inputs(engine, 64, poisoned=(10, 45))
    for item in submitted:
        runtime.submit(item)
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()

    # 3 attempts at the whole batch, then two halves per level down to the poisoned ones
    # (32, 16, 8, 4, 2, 1): 2 + 5 * 4 transactions for two poisons in different halves.
    assert attempts.call_count == 3 + 2 + 5 * 4
    counters = runtime.processor.counters.snapshot()
    assert counters["quarantined.value_error"] == 2
    assert counters["fixes.received"] == counters["fixes.stored"] == 62
    assert counters["errors.transaction"] == 3 + 2 * 6  # the failing half at each level
    assert "errors.database_unavailable" not in counters
    assert stored(engine) == 62
    with Session(engine) as session:
        kept = list(session.scalars(select(QuarantineRow).order_by(QuarantineRow.id)))
    assert [(r.source, r.device_id, r.reason_key) for r in kept] == [
        ("decoded", "gps-001", "value_error")
    ] * 2
    assert [r.reason for r in kept] == ["ValueError: geometry engine failed"] * 2
    assert "accuracy_m=7.25" in kept[0].raw and kept[0].raw_encoding == "text"
    # Stored or quarantined, every input's fate is final: all 64 settled, in order, once.
    assert [id(item) for item in settled] == [id(item) for item in submitted]


def test_an_unavailable_database_is_waited_out_and_the_batch_stored_once(
    engine: Engine,
    runtime: PipelineRuntime[DecodeOutcome],
    settled: list[DecodeOutcome],
    mocker: MockerFixture,
) -> None:
    fault = CommitFault(engine)
    mocker.patch.object(engine.dialect, "do_commit", fault)
    for item in inputs(engine, 20):
        runtime.submit(item)
    fault.fail(3)
    runtime.start()
    try:
        assert runtime.wait_idle()
    finally:
        runtime.stop()
    counters = runtime.processor.counters.snapshot()
    assert fault.fired == 3
    assert counters["errors.database_unavailable"] == 3
    assert counters["errors.transaction"] == 3
    assert counters["fixes.received"] == counters["fixes.stored"] == 20
    assert not [k for k in counters if k.startswith(("quarantined.", "dropped."))]
    assert stored(engine) == 20
    assert len(settled) == 20  # settled once, after the commit that went through


def test_a_stop_during_an_outage_counts_what_was_not_stored(
    engine: Engine,
    runtime: PipelineRuntime[DecodeOutcome],
    settled: list[DecodeOutcome],
    mocker: MockerFixture,
) -> None:
    fault = CommitFault(engine)
    mocker.patch.object(engine.dialect, "do_commit", fault)
    for item in inputs(engine, 20):
        runtime.submit(item)
    fault.fail(10**6)
    runtime.start()
    counters = runtime.processor.counters
    wait_until(lambda: counters.get("errors.database_unavailable") >= 3)
    started = time.monotonic()
    runtime.stop()
    assert time.monotonic() - started < 3.0  # the back-off wait ends at once
    fault.fail(0)
    assert counters.get("errors.unstored_at_stop") == 20
    assert counters.get("fixes.stored") == 0
    assert stored(engine) == 0
    assert settled == []  # nothing acknowledged: a broker delivers all 20 again
