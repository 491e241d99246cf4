"""Double shifts (连班) in the pipeline: the machine of the first shift hands on what stands at
its end to the machine of the second (``gateway.rules.handover``).

The second shift's machine starts when its start comes, before the clock fires the first's end
(both fall at the same instant): starting, it has the first brought to its end, which hands
on, and takes what it hands on (``take``). When the first's end fires later (after a restart it
waits for the backlog), what it hands on is given to the second then (``hand_on``). A report
typed in late for the outing the first handed on goes on to the second, which decides it
(``forward_report``).
"""

from __future__ import annotations

from typing import Protocol

from gateway.pipeline.adjacent_shifts import continued_from, duty_after, shift_after, shift_before
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import Duty
from gateway.pipeline.memory import PipelineMemory
from gateway.rules import PresenceState, ReportFiled, RuleInput, Tick, handover

__all__ = ["Handovers", "MachineStepper"]


class MachineStepper(Protocol):
    """What the handovers need of the presence machines."""

    def step(
        self, ctx: BatchContext, duty: Duty, state: PresenceState, rule_input: RuleInput
    ) -> PresenceState: ...

    def machine(self, ctx: BatchContext, duty: Duty) -> PresenceState | None: ...


class Handovers:
    """Hands on between the machines of a guard's two shifts of a double shift."""

    def __init__(self, memory: PipelineMemory, machines: MachineStepper) -> None:
        self._memory = memory
        self._machines = machines

    def take(self, ctx: BatchContext, duty: Duty) -> bool:
        """At the start of ``duty``'s machine (already in memory): have the machine of the
        guard's shift before it at the post (``adjacent_shifts.shift_before``) hand on what
        stands at its end, bringing it to its end first (that falls now); one closed since is
        read from its saved state. Whether there was such a machine (the caller's state may
        have changed)."""
        before = shift_before(duty, self._memory.duties)
        if before is None:
            return False
        state = self._machines.machine(ctx, before)
        if state is None:
            return False
        if not state.ended:
            self._machines.step(ctx, before, state, Tick())
        elif state.handover is not None:
            self.hand_on(ctx, before, state)
        return True

    def hand_on(self, ctx: BatchContext, duty: Duty, state: PresenceState) -> PresenceState:
        """Give what ``duty``'s machine (``state``) handed on at its end to the machine of the
        guard's next shift at the post, once that has started (its start takes it otherwise).
        One that cannot take it (he was seen on post there first: a restart held this end
        back) leaves the outing to this machine (``handover.settled``). Returns this machine's
        state."""
        after = shift_after(duty, self._memory.duties)
        handed = continued_from(state)
        taker = None if after is None else self._memory.presence.get(after.shift_id)
        if after is None or taker is None or handed is None:
            return state
        waiting = taker.arrived_at is None
        taker = self._machines.step(ctx, after, taker, handed)
        taken = waiting and taker.arrived_at is not None
        settled = handover.settled(state, taken=taken)
        self._memory.presence[duty.shift_id] = settled
        ctx.dirty_presence.add(duty.shift_id)
        return settled if taken else self._machines.step(ctx, duty, settled, Tick())

    def forward_report(self, ctx: BatchContext, duty: Duty, report: ReportFiled) -> None:
        """A report fed to ``duty``'s machine also goes to the machine of the shift his duty
        goes on in (``duty_after``: the second of a double shift, or his shift at the post a
        load moved him to) when that holds an outing begun before its start (handed on by
        ``duty``), or when ``duty``'s left the report unused and that shift has outings: typed
        in late, it may withdraw the unreported alert of the outing it was made for, which was
        decided there (phoned at 07:55 for 08:05, typed in at 08:20)."""
        after = duty_after(duty, self._memory.duties)
        state = None if after is None else self._machines.machine(ctx, after)
        if after is None or state is None:
            return
        handed = any(d.started_at < state.shift_start for d in state.departures)
        if handed or (state.departures and not self._used(ctx, duty, report.report_id)):
            self._machines.step(ctx, after, state, report)

    def _used(self, ctx: BatchContext, duty: Duty, report_id: str) -> bool:
        state = self._machines.machine(ctx, duty)
        found = (
            None
            if state is None
            else next((r for r in state.reports if r.report_id == report_id), None)
        )
        return found is not None and found.used_by is not None
