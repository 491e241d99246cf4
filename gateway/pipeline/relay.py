"""Punches handed to the process that runs their guard's rules (a partitioned gateway).

A clock-in terminal talks to one process (its serial port, its TCP address, the ``/iclock``
port it was given), whichever partition the guard who punched belongs to. That process stores
the punch, as every process stores what it receives; when it does not hold the guard
(``DutyIndex.holds``), it names the punch in ``relayed_punches`` in the same transaction
(``relay_punch``). The process holding the guard's partition finds it at its next pass, at most
``RELAY_EVERY_S`` of its clock later, applies it to the guard's attendance and presence as if
its own terminal had sent it, and deletes the row in the same transaction, under the same lease
fence as every pipeline transaction: a punch is applied once, by the guard's owner, also
across a takeover (a row nobody holds waits for the next owner). A single process holds every
guard, so it never relays; it looks once after each reload of its roster (at start) and
applies what a partitioned run left behind, and otherwise leaves its quiet ticks without a
query.

The table holds only punches in transit (a few, or those of a partition waiting for its new
owner), so a pass reads it whole and keeps the rows of the guards held here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.cluster.tables import RelayedPunchRow
from gateway.db.patrol_models import PunchRow
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.memory import PipelineMemory
from gateway.records import Punch, PunchKind, VerifyMode

__all__ = ["RELAY_EVERY_S", "RELAY_PER_PASS", "PunchRelay", "relay_punch"]

RELAY_EVERY_S = 1.0
"""How often (clock seconds) a process looks for punches relayed to its guards."""
RELAY_PER_PASS = 500
"""Relayed punches applied in one transaction at most (the rest in the next passes); under
every database's limit of parameters in one statement."""

_Apply = Callable[[BatchContext, Punch, datetime], None]


def relay_punch(session: Session, punch: Punch, guard_id: str, now: datetime) -> None:
    """Name the stored ``punch`` (same transaction) for the process holding ``guard_id``."""
    punch_id = session.scalar(
        select(PunchRow.id).where(
            PunchRow.terminal_id == punch.terminal_id,
            PunchRow.person_id == punch.person_id,
            PunchRow.punched_at == utc(punch.punched_at),
            PunchRow.kind == punch.kind.value,
        )
    )
    if punch_id is None:  # stored by this transaction a moment ago: cannot be missing
        raise RuntimeError(f"punch of {punch.terminal_id} at {punch.punched_at} not stored")
    session.execute(
        insert(RelayedPunchRow).values(punch_id=punch_id, guard_id=guard_id, relayed_at=now)
    )


class PunchRelay:
    """The stage that applies the punches relayed to the guards held here (see the module
    docstring), through ``apply(ctx, punch, now)``, the patrol stage's own punch path."""

    def __init__(self, memory: PipelineMemory, apply: _Apply) -> None:
        self._memory = memory
        self._apply = apply
        self._next_pass: datetime | None = None
        self._swept: DutyIndex | None = None

    def run(self, ctx: BatchContext) -> None:
        now = ctx.now
        duties = self._memory.duties
        if duties.scope is None:  # every guard held here: nobody relays to this process
            if duties is self._swept:
                return
            swept, self._swept = self._swept, duties
            # A transaction that fails takes the sweep back with it: the next one looks again.
            self._memory.journal.record(lambda: setattr(self, "_swept", swept))
        elif self._next_pass is not None and now < self._next_pass:
            return
        self._next_pass = now + timedelta(seconds=RELAY_EVERY_S)
        waiting = ctx.session.execute(
            select(RelayedPunchRow.punch_id, RelayedPunchRow.guard_id).order_by(
                RelayedPunchRow.punch_id
            )
        ).all()
        held = [row.punch_id for row in waiting if duties.holds(row.guard_id)]
        mine = held[:RELAY_PER_PASS]
        if len(held) > len(mine):
            self._swept = None  # more than one pass takes: the next transaction goes on
        if not mine:
            return
        session = ctx.session
        rows = session.scalars(select(PunchRow).where(PunchRow.id.in_(mine)).order_by(PunchRow.id))
        for row in rows.all():
            ctx.counters.add("punches.relayed_in")
            self._apply(ctx, _punch_of(row), now)
        session.execute(delete(RelayedPunchRow).where(RelayedPunchRow.punch_id.in_(mine)))


def _punch_of(row: PunchRow) -> Punch:
    return Punch(
        terminal_id=row.terminal_id,
        person_id=row.person_id,
        punched_at=row.punched_at,
        received_at=row.received_at,
        kind=PunchKind(row.kind),
        verify=VerifyMode(row.verify),
        source_format=row.source_format,
        raw=row.raw,
    )
