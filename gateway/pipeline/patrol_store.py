"""The patrol machines of the roster window in memory, and their rows in the database.

Journaled, so a failed transaction takes the machines back with it, and scheduled: each
machine's next deadline (``next_due``) is kept in the memory's deadline queue. Read whole at
start-up (``read_patrols``), kept but for the shifts that left the window and completed with the
new ones' saved states after a site load (``refresh_patrols``), written as a batch changed them
(``save_patrols``). A closed machine leaves memory once saved; a leave or cancellation typed in
after its shift reads it back (``closed_patrols``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.db.models import PatrolStateRow
from gateway.pipeline.context import BatchContext
from gateway.pipeline.deadline_queue import PATROL, ScheduledDict
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.window_states import open_states, refresh_machines, saved_states_of
from gateway.rules import patrol as patrol_rules
from gateway.rules.patrol_state import PatrolState

__all__ = [
    "Patrols",
    "closed_patrols",
    "next_due",
    "patrol_map",
    "read_patrols",
    "refresh_patrols",
    "save_patrols",
]

Patrols = ScheduledDict[str, PatrolState]
"""The machines by machine id (``<shift id>/<route id>``)."""


def patrol_map(memory: PipelineMemory, items: dict[str, PatrolState]) -> Patrols:
    """``items`` journaled and scheduled in ``memory``."""
    return ScheduledDict(
        memory.journal,
        memory.deadlines,
        PATROL,
        lambda _machine_id, state: next_due(memory.duties, state),
        items.items(),
    )


def read_patrols(session: Session, memory: PipelineMemory) -> Patrols:
    """The saved machines of the shifts in the memory's roster window."""
    states = open_states(
        session,
        memory.duties,
        key=PatrolStateRow.machine_id,
        shift_id=PatrolStateRow.shift_id,
        state=PatrolStateRow.state,
    )
    return patrol_map(
        memory, {machine: PatrolState.from_json(state) for machine, state in states.items()}
    )


def refresh_patrols(
    session: Session, patrols: Patrols, duties: DutyIndex, new_shifts: Collection[str]
) -> None:
    """Keep the machines but those whose shift left the window, read the saved states of
    ``new_shifts``, and schedule every machine again (its shift's policy may have changed)."""
    refresh_machines(
        session,
        patrols,
        duties,
        new_shifts,
        key=PatrolStateRow.machine_id,
        shift_id=PatrolStateRow.shift_id,
        state=PatrolStateRow.state,
        shift_of=lambda _machine, state: state.shift_id,
        parse=PatrolState.from_json,
    )
    for machine_id in list(patrols):
        patrols.reschedule(machine_id)


def closed_patrols(
    session: Session, patrols: Patrols, shift_ids: Collection[str]
) -> list[PatrolState]:
    """The saved machines of ``shift_ids`` that ``patrols`` does not hold because they closed
    (a relief, a route taken off), in machine id order; read in slices of ids, one statement
    each, so a leave typed in late costs the same after a year of history."""
    saved = saved_states_of(
        session,
        shift_ids,
        key=PatrolStateRow.machine_id,
        shift_id=PatrolStateRow.shift_id,
        state=PatrolStateRow.state,
    )
    return [
        PatrolState.from_json(state)
        for machine_id, _shift, state in sorted(saved, key=lambda row: row[0])
        if machine_id not in patrols and state.get("closed")
    ]


def save_patrols(ctx: BatchContext, patrols: Patrols, duties: DutyIndex, now: datetime) -> None:
    """Write the machines ``ctx`` names changed; forget the closed ones."""
    for machine_id in sorted(ctx.dirty_patrols):
        patrol = patrols[machine_id]
        prepo.save_patrol_state(
            ctx.session,
            machine_id=machine_id,
            shift_id=patrol.shift_id,
            route_id=patrol.route_id,
            state=patrol.to_json(),
            next_deadline=next_due(duties, patrol),
            now=now,
        )
        if patrol.closed:
            del patrols[machine_id]


def next_due(duties: DutyIndex, state: PatrolState) -> datetime | None:
    """When the patrol machine ``state`` is next due (``None``: never, or its shift left the
    roster window)."""
    duty = duties.duty(state.shift_id)
    return None if duty is None else patrol_rules.next_patrol_deadline(state, duty.patrol_policy)
