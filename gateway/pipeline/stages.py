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
                    and their evidence of presence fed to the presence machines
    deadlines       machines of shifts under way started; every deadline due on the clock fired
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

from gateway.clock import Clock
from gateway.outbox.routing import ExtraDestinations
from gateway.pipeline.alarm_stage import Alarms
from gateway.pipeline.context import BatchContext, Stage
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.escalation import Escalation
from gateway.pipeline.fix_stages import Filters, Geofence, History, Identity
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.patrol_stage import PatrolStage
from gateway.pipeline.presence_stage import PresenceMachines, PresenceRules

__all__ = ["Chain", "Deadlines", "SaveStates", "build_chain"]


class Deadlines:
    """The clock: starts the machines of the shifts under way and fires every due deadline."""

    def __init__(
        self, memory: PipelineMemory, presence: PresenceMachines, patrol: PatrolStage, clock: Clock
    ) -> None:
        self._memory = memory
        self._presence = presence
        self._patrol = patrol
        self._clock = clock

    def run(self, ctx: BatchContext) -> None:
        # The clock is read again rather than taken from ctx.now: a large batch takes a while,
        # and a deadline is due by the clock, not by when the batch began.
        now = self._clock.now()
        active = self._memory.duties.active(now)
        self._presence.due(ctx, active, now)
        self._patrol.due(ctx, active, now)


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
    batch: tuple[Stage, ...] = (
        Identity(memory),
        Filters(memory),
        Alarms(memory, emitter, clock),
        Geofence(),
        History(memory),
        PresenceRules(presence),
        patrol,
        Deadlines(memory, presence, patrol, clock),
        Escalation(emitter, clock, memory),
        save,
    )
    return Chain(
        batch=batch, after_command=(save,), presence=presence, patrol=patrol, emitter=emitter
    )
