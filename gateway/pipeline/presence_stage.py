"""The presence rules in the pipeline: one machine per shift, fed by several stages.

``PresenceMachines`` is the one way into the presence machines (``gateway.rules.presence``):
the fix stage (``PresenceRules``) feeds it positions, the patrol stage checkpoint scans and
punches, the API's commands reports and leaves, the deadline stage the clock. Each input steps
the shift's machine, marks it to be saved and writes its events, in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.db.models import LeaveRow, ReportRow
from gateway.pipeline.adjacent_shifts import fresh_state, learn_next_shifts
from gateway.pipeline.context import BatchContext
from gateway.pipeline.deadline_queue import ScheduledDict
from gateway.pipeline.duty import Duty
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.handovers import Handovers
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.stored_inputs import leave_approved, leave_of, report_filed
from gateway.rules import (
    DevicesAssigned,
    FixObserved,
    LeaveApproved,
    LeaveCancelled,
    PresenceState,
    ReportFiled,
    RuleInput,
    ShiftEnded,
    Tick,
    scheduled,
    step,
)
from gateway.rules.copying import replace
from gateway.rules.holds import unwatched_before
from gateway.rules.presence import due_sooner

__all__ = [
    "PresenceFeed",
    "PresenceMachines",
    "PresenceRules",
]

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
        self._handovers = Handovers(memory, self)

    def feed(self, ctx: BatchContext, duty: Duty, rule_input: RuleInput) -> None:
        """Apply one input to the machine of ``duty``'s shift.

        A shift without a machine in memory gets its saved one if it has one (a closed shift:
        a report typed in after it may still withdraw an alert), else a new one, which first
        learns the guard's leaves overlapping the shift (a leave approved days ahead, or one
        spanning shifts). The machine steps at the clock's current time, not the batch's start:
        its ``now`` decides whether a deadline fired late and whether a fix was backfilled, and a
        large batch takes a while.
        """
        state = self._machine(ctx, duty)
        self._step(ctx, duty, state, rule_input)

    def _step(
        self, ctx: BatchContext, duty: Duty, state: PresenceState, rule_input: RuleInput
    ) -> PresenceState:
        new_state, events = step(state, rule_input, self._clock.now(), duty.policy)
        if new_state != state:
            # A closed machine loaded for this input and left unchanged (a fix of a guard whose
            # shift closed) is neither kept nor written again.
            self._memory.presence[duty.shift_id] = new_state
            ctx.dirty_presence.add(duty.shift_id)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)
            if event.type in _PRESENCE_CHANGES:
                self._memory.presence_since[duty.shift_id] = event.time
        if new_state.handover is not None and state.handover is None:
            return self._handovers.hand_on(ctx, duty, new_state)
        return new_state

    def _machine(self, ctx: BatchContext, duty: Duty) -> PresenceState:
        state = self._memory.presence.get(duty.shift_id)
        if state is None and duty.shift_id in self._memory.stored:
            saved = repo.load_presence_state(ctx.session, duty.shift_id)
            if saved is not None:
                state = PresenceState.from_json(saved)
        if state is None:
            return self._start(ctx, duty)
        if _devices_differ(state, duty) and not state.ended:
            # A load gave him another terminal or took one away, or a state saved by an older
            # version took the post's terminal for a worn one: the machine follows the roster
            # before its next step, or his new terminal's fixes are a stranger's (see
            # ``gateway.rules.devices``).
            assigned = DevicesAssigned(duty.device_ids, duty.wands, duty.worn)
            state = self._step(ctx, duty, state, assigned)
            self._memory.presence[duty.shift_id] = state
            ctx.dirty_presence.add(duty.shift_id)
        return state

    def _start(
        self,
        ctx: BatchContext,
        duty: Duty,
        leaves: Sequence[LeaveRow] | None = None,
        reports: Sequence[ReportRow] | None = None,
    ) -> PresenceState:
        """A new machine for ``duty``, told of the guard's leaves overlapping the shift and of
        the reports made before it that went to no machine (``_reports_ahead``); ``leaves``,
        ``reports``: those of his read already, else looked up."""
        grace = timedelta(seconds=duty.policy.report_grace_s)
        begin, end = duty.starts_at - grace, duty.ends_at + grace
        if leaves is None:
            leaves = repo.leaves_overlapping(ctx.session, duty.guard_id, begin, end)
        if reports is None:
            ahead = _ahead(duty)
            found = repo.reports_of_guards(ctx.session, [duty.guard_id], ahead, duty.starts_at)
            reports = found.get(duty.guard_id, ())
        overlapping = [lv for lv in leaves if lv.starts_at < end and lv.ends_at > begin]
        told = self._reports_ahead(ctx, duty, reports)
        state = fresh_state(duty, self._memory.duties)
        if (since := self._memory.watched_since(duty.guard_id)) is not None:
            # A shift that began while this process was not running (or another held it).
            state = unwatched_before(state, since)
        if not overlapping and not told:
            # Its first deadline at once: a first tick at the shift start only to learn it cost
            # a step and a second save per guard, all at the same instant at a shift change.
            state = scheduled(state, self._clock.now(), duty.policy)
        self._memory.presence[duty.shift_id] = state
        ctx.dirty_presence.add(duty.shift_id)
        if self._handovers.take(ctx, duty):
            state = self._memory.presence[duty.shift_id]
        for leave in overlapping:
            state = self._step(ctx, duty, state, leave_approved(leave))
            if leave.cancelled_at is not None:
                cancelled = LeaveCancelled(leave_id=leave.id, cancelled_at=leave.cancelled_at)
                state = self._step(ctx, duty, state, cancelled)
        for report in told:
            state = self._step(ctx, duty, state, report_filed(report))
        return state

    def _reports_ahead(
        self, ctx: BatchContext, duty: Duty, reports: Sequence[ReportRow]
    ) -> list[ReportRow]:
        """Of the guard's ``reports``, those made before ``duty`` starts, recently enough to
        cover a departure in it (``report_validity_s``), that no other shift of his can use.
        A report goes to the shift under way when it is made or typed in (``apply``): one a
        guard phones in at 07:58 for stepping out at 08:05 reached no machine, and one made at
        07:55 of a night shift ending at 08:00 reached only that one; without this, either
        guard's 08:05 departure was raised as unreported. A report the other shift used, or may
        still use (a departure of it under way), stays with it: a report covers one departure."""
        duties = self._memory.duties
        ahead = _ahead(duty)
        out = []
        for row in reports:
            if not ahead <= row.reported_at < duty.starts_at:
                continue
            took = duties.duty_for_guard(duty.guard_id, row.reported_at) or duties.duty_for_guard(
                duty.guard_id, row.received_at
            )
            if (
                took is None
                or took.shift_id == duty.shift_id
                or (took.ends_at <= duty.starts_at and self._left_unused(ctx, took, row.id))
            ):
                out.append(row)
        return out

    def _left_unused(self, ctx: BatchContext, shift: Duty, report_id: str) -> bool:
        """Whether the machine of ``shift`` (over by now, or ending as the next one begins)
        left the report unused with no departure under way, so it can no longer use it."""
        state = self.machine(ctx, shift)
        if state is None:
            return True
        if state.departure is not None:
            return False
        return all(r.used_by is None for r in state.reports if r.report_id == report_id)

    def apply(self, ctx: BatchContext, guard_id: str, at: datetime, rule_input: RuleInput) -> None:
        """Feed a report, leave or cancellation to the guard's shifts it concerns.

        A report goes to the shift covering ``at`` (its own time), else the one under way now;
        a closed shift's saved machine still takes it (it may withdraw an alert). A leave or
        its cancellation goes to every shift of the guard in the roster that the leave overlaps
        and whose machine has started (shifts that start later learn it from the store when they
        do)."""
        duties = self._memory.duties
        if isinstance(rule_input, LeaveApproved | LeaveCancelled):
            leave = (
                rule_input
                if isinstance(rule_input, LeaveApproved)
                else leave_of(ctx.session, rule_input.leave_id)
            )
            if leave is not None:
                for shift in duties.duties_of_guard(guard_id):
                    grace = timedelta(seconds=shift.policy.report_grace_s)
                    overlaps = (
                        shift.starts_at < leave.ends_at + grace
                        and leave.starts_at - grace < shift.ends_at
                    )
                    if overlaps and self._started(shift):
                        self.feed(ctx, shift, rule_input)
                return
        duty = duties.duty_for_guard(guard_id, at) or duties.duty_for_guard(
            guard_id, self._clock.now()
        )
        if duty is not None:
            self.feed(ctx, duty, rule_input)
            if isinstance(rule_input, ReportFiled):
                self._handovers.forward_report(ctx, duty, rule_input)

    def step(
        self, ctx: BatchContext, duty: Duty, state: PresenceState, rule_input: RuleInput
    ) -> PresenceState:
        """Step ``state``, the machine of ``duty``, with ``rule_input`` (``Handovers``)."""
        return self._step(ctx, duty, state, rule_input)

    def machine(self, ctx: BatchContext, duty: Duty) -> PresenceState | None:
        """The machine of ``duty`` in memory or saved, or ``None`` if it has none yet."""
        if not (duty.shift_id in self._memory.presence or duty.shift_id in self._memory.stored):
            return None
        return self._machine(ctx, duty)

    def _started(self, duty: Duty) -> bool:
        return (
            duty.shift_id in self._memory.presence
            or duty.shift_id in self._memory.stored
            or duty.starts_at <= self._clock.now()
        )

    def start(self, ctx: BatchContext, duties: Sequence[Duty]) -> None:
        """Start the machines of ``duties`` (shifts whose start has come) that have none.

        A shift that has a saved state but no machine in memory is closed: it is not started
        again. The guards' leaves, and their reports made shortly before, are read in one
        statement each for all of them."""
        presence = self._memory.presence
        stored = self._memory.stored
        todo = [d for d in duties if d.shift_id not in presence and d.shift_id not in stored]
        if not todo:
            return
        grace = timedelta(seconds=max(d.policy.report_grace_s for d in todo))
        guards = sorted({d.guard_id for d in todo})
        leaves = repo.leaves_of_guards(
            ctx.session,
            guards,
            min(d.starts_at for d in todo) - grace,
            max(d.ends_at for d in todo) + grace,
        )
        reports = repo.reports_of_guards(
            ctx.session,
            guards,
            min(_ahead(d) for d in todo),
            max(d.starts_at for d in todo),
        )
        for duty in todo:
            self._start(ctx, duty, leaves.get(duty.guard_id, ()), reports.get(duty.guard_id, ()))

    def fire(self, ctx: BatchContext, shift_id: str, now: datetime) -> None:
        """Tick the machine of ``shift_id``, whose deadline the clock says is due at ``now``
        (a machine gone, or whose shift left the roster, is let be)."""
        state = self._memory.presence.get(shift_id)
        duty = self._memory.duties.duty(shift_id)
        if state is None or duty is None:
            return
        if state.next_deadline is not None and state.next_deadline <= now:
            self.feed(ctx, duty, Tick())
        # Popped from the queue: scheduled again from the state as it now is (a step that
        # changed nothing sets nothing, and the deadline would be lost).
        presence = self._memory.presence
        if isinstance(presence, ScheduledDict):
            presence.reschedule(shift_id)

    def follow_load(self, ctx: BatchContext) -> None:
        """Give the machines of the shifts a site load changed what it changed, once per
        roster read (``Deadlines``): a shift whose end moved (``gateway.site.shift_writes``:
        the same duty, to a new end) takes that end, and a shift whose site's limits changed
        has a deadline the new limits bring sooner (``due_sooner``) set again; both by a
        ``Tick``, which fires it if it is due already (an ended machine's too: the decisions
        it still owes follow the limits as they are). Only the shifts the read found changed
        (``DutyIndex.ends_moved``, ``limits_changed``) are looked at, or every machine after a
        full reload, whose limits may have changed while the gateway was down.

        First, the machines of the guards whose shifts the load changed
        (``DutyIndex.guards_changed``; every machine after a full reload) learn their next
        shifts again (``next_shifts``): a double shift given while the first runs makes it
        one duty (``PresenceState.continued``), and a leave running into a shift the load gave
        him is that shift's to settle."""
        duties, presence = self._memory.duties, self._memory.presence
        ends_moved, changed = duties.ends_moved, duties.limits_changed
        self._follow_devices(ctx)
        learn_next_shifts(
            presence,
            duties,
            ctx.dirty_presence,
            None if ends_moved is None else duties.guards_changed,
        )
        for shift_id in list(presence if ends_moved is None else ends_moved | changed):
            state, duty = presence.get(shift_id), duties.duty(shift_id)
            if state is None or duty is None or state.closed:
                continue
            if not (duty.cut_short or state.ended) and state.shift_end != duty.ends_at:
                presence[shift_id] = replace(state, shift_end=duty.ends_at)
                ctx.dirty_presence.add(shift_id)
            elif not (ends_moved is None or shift_id in changed) or not due_sooner(
                state, duty.policy
            ):
                continue
            self.feed(ctx, duty, Tick())

    def _follow_devices(self, ctx: BatchContext) -> None:
        """The machines whose guard the roster now gives other devices take them at once, not at
        their next input: a silence open for a terminal he no longer wears is withdrawn now, not
        when he next punches, or never. Only the shifts the read found with other devices
        (``DutyIndex.devices_changed``) are looked at, or all after a full reload."""
        duties, presence = self._memory.duties, self._memory.presence
        looked_at = presence if duties.ends_moved is None else duties.devices_changed
        for shift_id in list(looked_at):
            state, duty = presence.get(shift_id), duties.duty(shift_id)
            if state is None or duty is None or state.ended:
                continue
            if _devices_differ(state, duty):
                self._machine(ctx, duty)

    def relieve(self, ctx: BatchContext, duty: Duty) -> None:
        """End the machine of ``duty``, a shift a site load cut short (``Duty.cut_short``), as a
        person relieving the guard would (``ShiftEnded``) at the cut (``duty.ends_at``): what
        is owed for the part that happened (a departure's decision, the hour to cancel a leave)
        is still decided; the shift's remaining deadlines are dropped. Once: an ended machine
        is let be. Its next shifts were learned from the load first (``follow_load``): a leave
        he is out on that runs into a shift the load gave him is that shift's to settle
        (``cancellations.owed_past_the_end``), not asked twice."""
        state = self._memory.presence.get(duty.shift_id)
        if state is not None and not state.ended:
            self.feed(ctx, duty, ShiftEnded(ended_at=duty.ends_at))

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


def _devices_differ(state: PresenceState, duty: Duty) -> bool:
    """Whether the roster gives ``duty`` other devices than its machine ``state`` holds."""
    return (
        state.device_ids != duty.device_ids or state.wands != duty.wands or state.worn != duty.worn
    )


def _ahead(duty: Duty) -> datetime:
    """The earliest a report can be made and still cover a departure in ``duty``."""
    return duty.starts_at - timedelta(seconds=duty.policy.report_validity_s)
