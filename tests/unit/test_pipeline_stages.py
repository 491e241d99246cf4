"""The pipeline's stage chain: the order the data path runs in, and what a batch carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy.orm import Session

from gateway.clock import ManualClock
from gateway.pipeline.context import BatchContext
from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.processor import Processor
from gateway.pipeline.stages import build_chain
from gateway.records import Alarm, AlarmSignal, PositionFix

NOW = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)


def _fix(device: str, seconds: float) -> PositionFix:
    when = NOW + timedelta(seconds=seconds)
    return PositionFix(device, when, NOW, 30.5928, 114.3055)


def test_a_batch_runs_the_input_stages_then_deadlines_escalation_and_saves() -> None:
    chain = build_chain(PipelineMemory(), ManualClock(NOW), source="urn:test")

    assert [type(stage).__name__ for stage in chain.batch] == [
        "Identity",
        "Filters",
        "Alarms",
        "Geofence",
        "History",
        "PresenceRules",
        "PatrolStage",
        "RecordRelay",
        "Deadlines",
        "Escalation",
        "SaveStates",
    ]
    assert [type(stage).__name__ for stage in chain.after_command] == ["SaveStates"]


def test_no_stage_holds_the_processor() -> None:
    chain = build_chain(PipelineMemory(), ManualClock(NOW), source="urn:test")

    for stage in chain.batch:
        held = vars(stage).values() if hasattr(stage, "__dict__") else ()
        assert not any(isinstance(value, Processor) for value in held), stage


def test_a_batch_is_in_device_time_order_and_keeps_alarms_without_a_position() -> None:
    late, early = _fix("T-1", 30), _fix("T-2", 0)
    sos = AlarmSignal("T-3", NOW, NOW, frozenset({Alarm.SOS}))

    ctx = BatchContext.open(
        cast(Session, object()), NOW, PipelineCounters(), fixes=[late, early], alarms=[sos]
    )

    assert list(ctx.fixes) == [early, late]
    assert list(ctx.alarms) == [sos]
    assert ctx.events == [] and ctx.on_duty == [] and ctx.placed == []
