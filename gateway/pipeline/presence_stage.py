"""The presence rules in the pipeline: one machine per shift, fed by several stages.

``PresenceMachines`` is the one way into the presence machines (``gateway.rules.presence``):
the fix stage (``PresenceRules``) feeds it positions, the patrol stage checkpoint scans and
punches, the API's commands reports and leaves, the deadline stage the clock. Each input steps
the shift's machine, marks it to be saved and writes its events, in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import Duty
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.rules import FixObserved, PresenceState, RuleInput, Tick, step

__all__ = ["PresenceFeed", "PresenceMachines", "PresenceRules"]

_PRESENCE_CHANGES = frozenset({"presence.arrived", "presence.departed", "presence.returned"})


class PresenceFeed(Protocol):
    """What a stage with evidence of where a guard is needs from the presence rules."""

    def feed(self, ctx: BatchContext, duty: Duty, rule_input: RuleInput) -> None:
        """Apply ``rule_input`` to the presence machine of ``duty``'s shift."""


class PresenceMachines:
    """Steps, starts, fires and saves the presence machines kept in ``memory.presence``."""

    def __init__(self, memory: PipelineMemory, emitter: Emitter, clock: Clock) -> None:
        self._memory = memory
        self._emitter = emitter
        self._clock = clock

    def feed(self, ctx: BatchContext, duty: Duty, rule_input: RuleInput) -> None:
        """Apply one input to the machine of ``duty``'s shift (started if it has none yet).

        The machine steps at the clock's current time, not the batch's start: its ``now``
        decides whether a deadline fired late and whether a fix was backfilled, and a large
        batch takes a while.
        """
        presence = self._memory.presence
        state = presence.get(duty.shift_id)
        if state is None:
            state = _start(duty)
        new_state, events = step(state, rule_input, self._clock.now(), duty.policy)
        if new_state != state:
            presence[duty.shift_id] = new_state
            ctx.dirty_presence.add(duty.shift_id)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)
            if event.type in _PRESENCE_CHANGES:
                self._memory.presence_since[duty.shift_id] = event.time

    def due(self, ctx: BatchContext, active: Sequence[Duty], now: datetime) -> None:
        """Start the machines of the shifts under way; tick those with a deadline at ``now``."""
        presence = self._memory.presence
        for duty in active:
            if duty.shift_id not in presence:
                presence[duty.shift_id] = _start(duty)
                ctx.dirty_presence.add(duty.shift_id)
        duties = self._memory.duties
        for shift_id, state in list(presence.items()):
            if state.next_deadline is not None and state.next_deadline <= now:
                due = duties.duty(shift_id)
                if due is not None:
                    self.feed(ctx, due, Tick())

    def save(self, ctx: BatchContext, now: datetime) -> None:
        """Write the machines changed in this batch (two statements); forget closed ones."""
        presence = self._memory.presence
        rows: list[dict[str, Any]] = []
        for shift_id in sorted(ctx.dirty_presence):
            state = presence.get(shift_id)
            if state is None:
                continue
            rows.append(
                {
                    "shift_id": shift_id,
                    "guard_id": state.guard_id,
                    "state": state.to_json(),
                    "next_deadline": state.next_deadline,
                    "updated_at": now,
                }
            )
            if state.closed:
                # A closed shift produces nothing more; its saved state stays as the record.
                del presence[shift_id]
        repo.save_presence_states(ctx.session, rows, stored=self._memory.stored)
        self._memory.stored.update(str(row["shift_id"]) for row in rows)


class PresenceRules:
    """The stage that feeds every placed fix of the batch to its shift's machine, in order."""

    def __init__(self, machines: PresenceMachines) -> None:
        self._machines = machines

    def run(self, ctx: BatchContext) -> None:
        for placed in ctx.placed:
            observed = FixObserved.from_fix(
                placed.fix, placed.verdict.membership, placed.verdict.distance_m
            )
            self._machines.feed(ctx, placed.duty, observed)


def _start(duty: Duty) -> PresenceState:
    return PresenceState.start(
        duty.shift_id,
        duty.guard_id,
        duty.post_id,
        duty.site_id,
        duty.device_ids,
        duty.starts_at,
        duty.ends_at,
    )
