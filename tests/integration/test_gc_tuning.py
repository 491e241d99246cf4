"""A gateway process runs with the gateway's collector settings (``gateway.gc_tuning``):
``build_gateway``, which ``guard-gateway run``, the demo and the bench's live scenarios use,
sets the thresholds; ``Gateway.start`` freezes the heap it loaded and ``Gateway.stop`` gives it
back to the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.bootstrap import build_gateway
from gateway.clock import ManualClock
from gateway.gc_tuning import GATEWAY_GC_THRESHOLDS, collector_as_a_gateway
from gateway.settings import Settings
from tests.e2e.helpers import DAY_START

PYTHON_DEFAULTS = (700, 10, 10)


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*PYTHON_DEFAULTS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@pytest.mark.usefixtures("default_thresholds")
def test_building_a_gateway_sets_the_collector_thresholds(db_url: str) -> None:
    assert gc.get_threshold() == PYTHON_DEFAULTS
    gateway = build_gateway(
        Settings(database_url=db_url),
        ManualClock(DAY_START),
        with_ingest=False,
        with_field_devices=False,
    )
    try:
        assert gc.get_threshold() == GATEWAY_GC_THRESHOLDS == (10_000, 10, 100)
        assert gc.get_freeze_count() == 0  # built, not started
        gateway.start()
        # The gateway's own objects (its processor's memory among them) are out of the
        # collector's walks while it runs.
        memory = gateway.processor.memory
        assert gc.is_tracked(memory) and gc.get_freeze_count() > 0
        assert not any(obj is memory for obj in gc.get_objects())  # walked by no collection
    finally:
        gateway.stop()
    assert gc.get_freeze_count() == 0
    assert any(obj is memory for obj in gc.get_objects())


@pytest.mark.usefixtures("default_thresholds")
def test_a_bench_that_drives_the_pipeline_itself_sets_the_collector_as_a_gateway() -> None:
    # bench --scenario posts and history build a Processor, not a gateway: before, they ran
    # with Python's thresholds and measured the collector's walks of the roster and states
    # (a fix 205 µs against 135 µs tuned, at 1,000 guards).
    started = {"states": [object()]}
    with collector_as_a_gateway() as freeze_started:
        assert gc.get_threshold() == GATEWAY_GC_THRESHOLDS
        assert gc.get_freeze_count() == 0
        freeze_started()
        assert gc.get_freeze_count() > 0
        assert not any(obj is started for obj in gc.get_objects())
    assert gc.get_threshold() == PYTHON_DEFAULTS
    assert gc.get_freeze_count() == 0
    assert any(obj is started for obj in gc.get_objects())
