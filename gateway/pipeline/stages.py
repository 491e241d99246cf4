"""The data path, in one place: the ordered stages a batch goes through.

Every batch (a drain of the inbound queue, or a tick of the clock with no records) runs the whole
chain, in one transaction, over a ``BatchContext``::

    identity        device → guard on duty → shift and post        (fixes off duty dropped)
    filters         invalid, stale, future, inaccurate, duplicates, jumps dropped
    alarms          SOS from every message of a known terminal, kept or dropped, on or off duty
    geofence        inside / outside / uncertain, distance to the post
    history         accepted fixes stored as the track, once per (device, fix time): one
                    already stored is dropped here; each guard's newest remembered
    presence rules  each fix fed to its shift's presence machine (departures, returns...)
    patrol          checkpoint scans, then clock-in punches: patrol and attendance machines,
                    and their evidence of presence fed to the presence machines; a punch or
                    scan of a guard another process holds is relayed to it
    relay           punches and scans other processes relayed to the guards held here,
                    applied as the patrol stage applies its own (at most once a second)
    deadlines       machines of shifts whose start came started, and deadlines due on the
                    clock fired: only those, from a cursor and a priority queue, at most
                    ``DEADLINES_PER_TRANSACTION`` of them, earliest first (the rest in the
                    next transactions)
    escalation      alerts left unacknowledged past the site's limit escalated, once each
    save states     the machines changed in the batch written (two statements per kind)

Why this order:

* identity comes first because every later stage needs the duty (the post's fence, the site's
  limits);
* the alarm stage comes right after the filters: it reads every fix of the batch (``ctx.fixes``,
  whatever identity or the filters dropped) and the alarms that came without a position, and
  the filters' verdicts tell it how good each alarm's position is;
* the filters see only fixes of guards on duty, in device-time order, as their per-device
  memory (duplicates, jumps) assumes; the geofence only what they kept;
* positions are fed to the presence machines before scans and punches, as the batch arrived
  from the terminals; a scan or punch is evidence on top of the track, not instead of it;
* deadlines come after every input of the batch: a fix or scan that shows the guard back
  before a limit is applied before the clock could fire that limit's alert;
* escalation follows the deadlines, so an alert the clock raised is in the table it reads
  (and waits its full time, as every other);
* states are saved last, once, for everything the batch changed.

Events are written by the ``Emitter`` as each stage produces them, so the outbox keeps the order
in which they happened. A command from the API (a report, a leave, a wand download) runs in its
own transaction and is followed only by ``save states``: it feeds the machines itself (see
``Processor.run_command``), and deadlines wait for the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.clock import Clock
from gateway.outbox.routing import ExtraDestinations
from gateway.pipeline.alarm_stage import Alarms
from gateway.pipeline.context import BatchContext, Stage
from gateway.pipeline.deadline_queue import ATTENDANCE, DEADLINES_PER_TRANSACTION, PRESENCE
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.escalation import Escalation
from gateway.pipeline.fix_stages import Filters, Geofence, History, Identity
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.patrol_stage import PatrolStage
from gateway.pipeline.presence_stage import PresenceMachines, PresenceRules
from gateway.pipeline.relay import RecordRelay

__all__ = ["Chain", "Deadlines", "SaveStates", "build_chain"]


class Deadlines:
    """The clock: starts the machines of the shifts whose start has come and fires the due
    deadlines, earliest first, at most ``DEADLINES_PER_TRANSACTION`` in one transaction.

    Its cost is what is due, not what is on duty: the shifts to start come from a cursor over
    the roster in start order (``memory.starts``), the deadlines from a priority queue
    (``memory.deadlines``); a quiet tick looks at neither's entries. A deadline fires on the
    first transaction at or after it, as before; when more are due than one transaction takes
    (a shift change), the rest follow in the next ones (``pending`` says some wait), earliest
    first, so none is lost, doubled or overtaken by a later one.
    """

    def __init__(
        self, memory: PipelineMemory, presence: PresenceMachines, patrol: PatrolStage, clock: Clock
    ) -> None:
        self._memory = memory
        self._presence = presence
        self._patrol = patrol
        self._clock = clock
        self._followed: DutyIndex | None = None
        """The roster whose changed shift ends the machines took."""
        self._relieved: DutyIndex | None = None
        """The roster whose cut shifts were all relieved (a tick then looks at none)."""

    def run(self, ctx: BatchContext) -> None:
        # The clock is read again rather than taken from ctx.now: a large batch takes a while,
        # and a deadline is due by the clock, not by when the batch began.
        now = self._clock.now()
        memory = self._memory
        budget = DEADLINES_PER_TRANSACTION
        starting = memory.starts.take(memory.duties, now, budget)
        if starting:
            self._presence.start(ctx, starting)
            self._patrol.start(ctx, starting, now)
            budget -= len(starting)
        # What a site load changed comes before any deadline fires: a route's new plan, and
        # the end of the machines of a shift it cut short.
        self._patrol.replan(ctx, now)
        self._follow_roster(ctx, now)
        # Popped before any fires: a deadline a machine sets for itself while firing waits for
        # the next transaction (one step per machine per tick, as the rules expect).
        for kind, machine_id in memory.deadlines.pop_due(now, budget):
            if kind == PRESENCE:
                self._presence.fire(ctx, machine_id, now)
            elif kind == ATTENDANCE:
                self._patrol.attendance.fire(ctx, machine_id, now)
            else:
                self._patrol.fire_patrol(ctx, machine_id, now)

    def _follow_roster(self, ctx: BatchContext, now: datetime) -> None:
        """What a site load did to the shifts under way, once per roster read: the machines
        of a shift whose end moved take the new end, those of a shift whose site's limits
        changed the deadlines the new limits set, and those of a shift cut short end. A tick
        that looked at every machine would pay for it every 100 ms."""
        duties = self._memory.duties
        journal = self._memory.journal
        if duties is not self._followed:
            self._presence.follow_load(ctx)
            self._patrol.follow_load(ctx, now)
            self._followed = duties
            # A failed transaction takes the changes back: they are made again on the next.
            journal.record(lambda: setattr(self, "_followed", None))
        if duties is self._relieved:
            return
        waiting = False
        for duty in duties.cut:
            if duty.ends_at > now:  # cut by a process whose clock runs ahead of this one's
                waiting = True
                continue
            self._presence.relieve(ctx, duty)
            self._patrol.relieve(ctx, duty, now)
        if not waiting:
            self._relieved = duties
            journal.record(lambda: setattr(self, "_relieved", None))

    def pending(self) -> bool:
        """Whether work due on the clock waits (more than the last transaction could take)."""
        now = self._clock.now()
        memory = self._memory
        if memory.starts.pending(memory.duties, now):
            return True
        first = memory.deadlines.next_due()
        return first is not None and first <= now


class SaveStates:
    """Writes every machine the batch changed: presence, then patrol and attendance."""

    def __init__(self, presence: PresenceMachines, patrol: PatrolStage, clock: Clock) -> None:
        self._presence = presence
        self._patrol = patrol
        self._clock = clock

    def run(self, ctx: BatchContext) -> None:
        now = self._clock.now()
        self._presence.save(ctx, now)
        self._patrol.save(ctx, now)


@dataclass(frozen=True, slots=True)
class Chain:
    """The stages and the collaborators the runner needs besides them.

    ``batch`` runs for every batch of records and every tick; ``after_command`` after an API
    command. ``presence``, ``patrol`` and ``emitter`` are the entry points commands use (a
    report fed to the presence rules, punches and wand scans stored, a reader's own events).
    """

    batch: tuple[Stage, ...]
    after_command: tuple[Stage, ...]
    deadlines: Deadlines
    presence: PresenceMachines
    patrol: PatrolStage
    emitter: Emitter


def build_chain(
    memory: PipelineMemory,
    clock: Clock,
    *,
    source: str,
    destinations: tuple[str, ...] = ("core",),
    route: ExtraDestinations | None = None,
) -> Chain:
    """Wire the stages over ``memory``, in the order the module docstring gives and explains."""
    emitter = Emitter(clock, source=source, destinations=destinations, route=route)
    presence = PresenceMachines(memory, emitter, clock)
    patrol = PatrolStage(memory, emitter, presence)
    save = SaveStates(presence, patrol, clock)
    deadlines = Deadlines(memory, presence, patrol, clock)
    batch: tuple[Stage, ...] = (
        Identity(memory),
        Filters(memory),
        Alarms(memory, emitter, clock),
        Geofence(),
        History(memory),
        PresenceRules(presence),
        patrol,
        RecordRelay(
            memory, patrol.attendance.apply_punch, patrol.apply_scan, patrol.wands_downloaded
        ),
        deadlines,
        Escalation(emitter, clock, memory),
        save,
    )
    return Chain(
        batch=batch,
        after_command=(save,),
        deadlines=deadlines,
        presence=presence,
        patrol=patrol,
        emitter=emitter,
    )
