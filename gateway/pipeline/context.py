"""The per-batch context the stages run over, and the ``Stage`` port.

A ``BatchContext`` lives for one database transaction: the records of the batch go in, each
stage reads what the stages before it left and adds its own part (fixes placed on a duty, their
geofence verdicts, the events written, the machines changed), and the runner commits. Nothing in
it outlives the transaction, and what the stages changed in ``PipelineMemory`` is journaled, so a
failed batch leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.duty import Duty
from gateway.pipeline.pending import PendingEvents
from gateway.records import AlarmSignal, CheckpointScan, PositionFix, Punch
from geofence import MembershipResult

__all__ = ["BatchContext", "EmittedEvent", "OnDutyFix", "PlacedFix", "Stage"]


@dataclass(frozen=True, slots=True)
class EmittedEvent:
    """An event written to the outbox, as handed to in-process listeners (live view, demo)
    once its transaction has committed."""

    event_id: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OnDutyFix:
    """A fix whose device belongs to a guard on duty at the fix's time (identity's verdict)."""

    fix: PositionFix
    duty: Duty


@dataclass(frozen=True, slots=True)
class PlacedFix:
    """An accepted fix with the geofence's verdict against its duty's post."""

    fix: PositionFix
    duty: Duty
    verdict: MembershipResult
    """Inside, outside or uncertain, and the signed distance to the fence (negative inside)."""


@dataclass(slots=True, eq=False)
class BatchContext:
    """One transaction's records and results, passed through every stage in order.

    ``now`` is the clock when the batch began: filters and the patrol and attendance rules judge
    the batch by it. ``fixes`` are in device-time order (the reorder window: see
    ``BatchContext.open``). ``on_duty`` and ``placed`` are narrowed by identity, the filters
    and the geofence; ``alarms`` carries the alarms that came without a position, for a stage
    that raises them whatever the filters drop. ``events`` are those emitted so far, handed to
    listeners after the commit; ``pending`` holds their rows until the emitter flushes them
    (before the commit, or before a stage reads the alerts); the ``dirty_*`` sets name the
    machines to save. ``counters`` are the batch's own counts, added to the pipeline's once it
    has committed (a batch rolled back and retried counts once).
    """

    session: Session
    now: datetime
    counters: PipelineCounters
    fixes: Sequence[PositionFix] = ()
    alarms: Sequence[AlarmSignal] = ()
    scans: Sequence[CheckpointScan] = ()
    punches: Sequence[Punch] = ()
    on_duty: list[OnDutyFix] = field(default_factory=list)
    placed: list[PlacedFix] = field(default_factory=list)
    filtered: list[tuple[PositionFix, str]] = field(default_factory=list)
    """Fixes the filters dropped, with the reason: their alarms are still raised."""
    events: list[EmittedEvent] = field(default_factory=list)
    pending: PendingEvents = field(default_factory=PendingEvents)
    """Outbox rows and alert changes of ``events`` not yet written (``Emitter.flush``)."""
    dirty_presence: set[str] = field(default_factory=set)
    """Shift ids whose presence machine changed."""
    dirty_patrols: set[str] = field(default_factory=set)
    """Patrol machine ids (``<shift>/<route>``) that changed."""
    dirty_attendance: set[str] = field(default_factory=set)
    """Shift ids whose attendance machine changed."""

    @classmethod
    def open(
        cls,
        session: Session,
        now: datetime,
        counters: PipelineCounters,
        *,
        fixes: Sequence[PositionFix] = (),
        alarms: Sequence[AlarmSignal] = (),
        scans: Sequence[CheckpointScan] = (),
        punches: Sequence[Punch] = (),
    ) -> BatchContext:
        """A context for a batch of records (none for a tick or a command)."""
        # Per guard, records are processed in device-time order; sorting the batch is the
        # reorder window that absorbs jitter between terminals and MQTT deliveries.
        ordered = sorted(fixes, key=lambda f: f.fix_time) if fixes else ()
        return cls(
            session, now, counters, fixes=ordered, alarms=alarms, scans=scans, punches=punches
        )


class Stage(Protocol):
    """One step of the data path: reads and extends the context, in the session's transaction.

    A stage holds its own collaborators (the shared memory, the emitter, its machines), never
    the runner that calls it.
    """

    def run(self, ctx: BatchContext) -> None:
        """Do this stage's part of the batch."""
