"""The stage runner: owns the transaction, runs the chain of stages, hands events to listeners.

``Processor`` is owned by one thread (see ``runtime``). Each call works in one database
transaction over one ``BatchContext``: positions, rule states, alerts and outbox rows of a whole
batch are committed together, so an event exists exactly when the state change that produced it
does. Memory goes with the transaction: every change the stages make to it (presence machines,
filter memory, last fixes, presence-since, reader alerts, SOS episodes, patrol and attendance
machines) is journaled and undone if the transaction fails, and the batch's counters are added
only once it commits, so a batch retried from scratch is judged exactly as if it came for the
first time. Listeners see a batch's events only once it has committed.

The stages and their order are listed, with the reasons for the order, in
``gateway.pipeline.stages``: identity → filters → geofence → history → presence rules →
patrol and attendance → deadlines → save states. What the stages share between batches (roster,
presence states, last fixes) is a ``PipelineMemory``; no stage holds the processor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db import patrol_repository as prepo
from gateway.db import repository as repo
from gateway.errors import GuardHeldElsewhere
from gateway.outbox.routing import ExtraDestinations
from gateway.pipeline import roster_refresh
from gateway.pipeline.context import BatchContext, EmittedEvent, Stage
from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.duty import Duty, DutyIndex
from gateway.pipeline.memory import LastFix, PipelineMemory
from gateway.pipeline.reasons import describe_error, reason_key
from gateway.pipeline.reject_log import RejectLog
from gateway.pipeline.stages import build_chain
from gateway.records import AlarmSignal, CheckpointScan, DecodeOutcome, PositionFix, Punch
from gateway.rules import LeaveApproved, LeaveCancelled, PresenceState, RuleEvent, RuleInput

__all__ = ["EmittedEvent", "LastFix", "Listener", "Processor"]

log = logging.getLogger(__name__)

_REFUSALS = (repo.NotFound, repo.Conflict, repo.InvalidRequest)

Listener = Callable[[Sequence[EmittedEvent]], None]

TICK_SLICES = 5
"""Transactions one tick may run while deadlines wait (each fires at most
``DEADLINES_PER_TRANSACTION``). The runtime takes the inbound queue between ticks and waits up
to a tick interval when it is empty: one slice a tick would spread 100,000 deadlines falling
together over 50 tick intervals (5 s of waiting alone); five take 10,000 a tick, while a fix
that arrives meanwhile waits for five slices at most."""


class Processor:
    """Runs decoded records and rule inputs through the stages and persists the outcome."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        counters: PipelineCounters | None = None,
        event_source: str = "urn:guard-gateway:default",
        destinations: tuple[str, ...] = ("core",),
        on_committed: Listener | None = None,
        route: ExtraDestinations | None = None,
        fence: Callable[[Session], None] | None = None,
    ) -> None:
        self._engine = engine
        self._fence = fence
        """Called in every writing transaction before its commit (``gateway.cluster.node``):
        raises when this process no longer holds the partitions it writes for."""
        self._scope: Callable[[str], bool] | None = None
        self._next_scope: list[Callable[[str], bool] | None] = []
        self._rescoped = False
        self._clock = clock
        self.counters = counters or PipelineCounters()
        self._log_reject = RejectLog(clock, log)
        self._listeners: list[Listener] = [on_committed] if on_committed else []
        self.memory = PipelineMemory()
        self._chain = build_chain(
            self.memory, clock, source=event_source, destinations=destinations, route=route
        )
        self._ctx: BatchContext | None = None
        self._stale = False
        """A commit failed, maybe only its answer: states are re-read before the next one."""
        self._extension = roster_refresh.ExtensionMemo()
        self._reload(at_start=True)

    # --- set-up and views -------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every batch of events after it is committed."""
        self._listeners.append(listener)

    def set_scope(self, scope: Callable[[str], bool] | None) -> None:
        """Keep only the guards ``scope`` accepts (``None``: all), from the next transaction on.

        Safe from any thread: the owner thread applies it before its next transaction with a
        reload as after a restart, so the states of shifts taken over from another process are
        told that nobody watched them meanwhile (a deadline that fell due fires ``late``). The
        guards it held already keep their deadlines as they were: this process watched them.
        """
        self._next_scope.append(scope)

    def reload(self) -> None:
        """Re-read the roster and the saved rule states (after a site load, a failure, a day).

        Roster lines are first expanded around now, so a gateway running for weeks never runs
        out of shifts.
        """
        self._reload(at_start=False)

    def read_roster(self, quick: bool = False) -> roster_refresh.RosterRead | None:
        """Read the roster again around now, to be adopted by ``adopt_roster``
        (``gateway.pipeline.roster_refresh``; ``quick``: only if a site was loaded since).
        Safe from any thread. ``None`` while a full reload is due anyway (a pending rescope, a
        memory in doubt), or when a quick check found no site load."""
        if self._rescoped or self._stale or self._next_scope:
            return None
        return roster_refresh.read_roster(
            self._engine, self._clock, self.memory, self._scope, self._extension, quick=quick
        )

    def adopt_roster(self, read: roster_refresh.RosterRead) -> bool:
        """On the owner thread, between transactions: take ``read``, keeping the machines in
        memory (new shifts, sites loaded by another process, the window moving on; a city's
        states are not parsed again). ``False`` when a reload came between the read and now.
        A failure puts the memory in doubt: the next transaction reloads it in full."""
        if self._rescoped or self._stale or self._next_scope:
            return False
        try:
            return roster_refresh.adopt_roster(self._engine, self.memory, self._chain.patrol, read)
        except BaseException:
            self._stale = True
            raise

    def _reload(self, *, at_start: bool) -> None:
        now = roster_refresh.extend_roster(self._engine, self._clock, self._extension)
        with Session(self._engine) as session:
            self.memory.reload(session, now, at_start=at_start, scope=self._scope)
            # After the memory: the patrol stage keeps only the states of shifts in its roster.
            self._chain.patrol.reload(session)

    @property
    def engine(self) -> Engine:
        """The database the processor writes to (the runtime's quarantine writes there too)."""
        return self._engine

    @property
    def duties(self) -> DutyIndex:
        """The roster around now (replaced by ``reload``)."""
        return self.memory.duties

    @property
    def last_fix(self) -> dict[str, LastFix]:
        """Guard id → his newest accepted fix (owner thread only)."""
        return self.memory.last_fix

    @property
    def presence_since(self) -> dict[str, datetime]:
        """Shift id → time of its last arrival, departure or return (owner thread only)."""
        return self.memory.presence_since

    @property
    def reader_alerts(self) -> dict[str, str]:
        """Device id → key of the open ``alert.device_silent`` of a reader that lost its
        device (kept by ``ReportReaderState``)."""
        return self.memory.reader_alerts

    def state(self, shift_id: str) -> PresenceState | None:
        """The current rule state of a shift (owner thread only)."""
        return self.memory.presence.get(shift_id)

    # --- inputs -----------------------------------------------------------------------------

    def process_outcomes(self, outcomes: Iterable[DecodeOutcome]) -> None:
        """Count the rejects and run every decoded record through the stages, in one
        transaction. Every reject is counted; the log gets the first of a (device, problem)
        and then at most one line a minute with how many were left out
        (``gateway.pipeline.reject_log``)."""
        fixes: list[PositionFix] = []
        alarms: list[AlarmSignal] = []
        scans: list[CheckpointScan] = []
        punches: list[Punch] = []
        counts = PipelineCounters()  # counted with the batch: once, when it commits
        for outcome in outcomes:
            for reject in outcome.rejects:
                problem = reason_key(reject.reason)
                counts.add(f"rejected.{problem}")
                self._log_reject(reject, problem)
            fixes.extend(outcome.fixes)
            alarms.extend(outcome.alarms)
            scans.extend(outcome.scans)
            punches.extend(outcome.punches)
        self._records(fixes, alarms, scans, punches, counts)

    def process_fixes(
        self,
        fixes: Sequence[PositionFix],
        *,
        alarms: Sequence[AlarmSignal] = (),
        scans: Sequence[CheckpointScan] = (),
        punches: Sequence[Punch] = (),
    ) -> None:
        """Run records through the whole chain (``gateway.pipeline.stages``), deadlines
        included, in one transaction."""
        self._records(fixes, alarms, scans, punches, PipelineCounters())

    def _records(
        self,
        fixes: Sequence[PositionFix],
        alarms: Sequence[AlarmSignal],
        scans: Sequence[CheckpointScan],
        punches: Sequence[Punch],
        counts: PipelineCounters,
    ) -> None:
        if fixes:
            counts.add("fixes.received", len(fixes))
        self._transaction(
            self._chain.batch,
            fixes=fixes,
            alarms=alarms,
            scans=scans,
            punches=punches,
            counts=counts,
        )

    def tick(self) -> None:
        """Fire due deadlines and start the machines of shifts that began: the chain over an
        empty batch, in one transaction, then more (at most ``TICK_SLICES`` in all) while the
        clock's work waits (a shift change: see ``gateway.pipeline.stages.Deadlines``)."""
        for _slice in range(TICK_SLICES):
            self._transaction(self._chain.batch)
            if not self._chain.deadlines.pending():
                return

    def run_command(self, command: Callable[[Session, Processor], Any]) -> Any:
        """Run ``command(session, self)`` in one transaction, then save the machines it changed.

        The command may call ``apply``, ``emit``, ``store_punches`` and ``store_scans`` with
        that session; their effects commit with it.
        """
        return self._transaction(self._chain.after_command, command=command)

    def apply(self, guard_id: str, at: datetime, rule_input: RuleInput, session: Session) -> None:
        """Feed a report, leave or cancellation to the guard's shifts it concerns
        (``PresenceMachines.apply``), and a leave then to his patrol and clock-in machines
        (``PatrolStage.leave_entered``: the alerts it excused are withdrawn), and a
        cancellation too (the checkpoints it shows missed are raised, the clock-in excusal
        ends), inside the caller's ``session`` (see ``run_command``), so the record and the
        events it causes commit together.

        Raises ``GuardHeldElsewhere`` when the guard's rules run in another process (his
        partition moved between the API's check and this command): recorded here, the fact
        would reach no machine, his new owner's included."""
        if not self.memory.duties.holds(guard_id):
            raise GuardHeldElsewhere(guard_id)
        ctx = self._context(session)
        self._chain.presence.apply(ctx, guard_id, at, rule_input)
        if isinstance(rule_input, LeaveApproved | LeaveCancelled):
            self._chain.patrol.leave_entered(ctx, guard_id, rule_input, self._clock.now())

    def emit(
        self, session: Session, event: RuleEvent, *, subject: str, duty: Duty | None = None
    ) -> EmittedEvent:
        """Write ``event`` to the outbox (and the alerts table, opening, updating or resolving
        the alerts it names) in ``session``'s transaction (see ``run_command``); returns it as
        written (its outbox id)."""
        return self._chain.emitter.emit(self._context(session), event, subject=subject, duty=duty)

    def store_punches(self, session: Session, punches: Sequence[Punch]) -> list[bool]:
        """Store and apply punches inside a command's transaction (``run_command``); returns
        per punch whether it was new. For receivers that must confirm only what is stored."""
        return self._chain.patrol.attendance.punches(
            self._context(session), punches, self._clock.now()
        )

    def store_scans(
        self,
        session: Session,
        scans: Sequence[CheckpointScan],
        now: datetime,
        keys: Sequence[str] | None = None,
    ) -> int:
        """Store and apply checkpoint scans inside a command's transaction, judged at ``now``;
        ``keys`` are their dedupe keys when the source has its own (a wand download). Returns
        how many were new."""
        return self._chain.patrol.scans(self._context(session), scans, now, keys)

    def wand_downloaded(self, session: Session, wand_id: str, downloaded_at: datetime) -> None:
        """Inside a command's transaction, after its scans were stored and applied: record
        the download (for the processes holding the other guards, ``gateway.pipeline.relay``)
        and let the patrol machines held here that wait for ``wand_id`` judge what it
        covers."""
        prepo.record_wand_download(session, wand_id, downloaded_at)
        self._chain.patrol.wands_downloaded(
            self._context(session), {wand_id: downloaded_at}, self._clock.now()
        )

    # --- the transaction --------------------------------------------------------------------

    def _context(self, session: Session) -> BatchContext:
        ctx = self._ctx
        if ctx is None or ctx.session is not session:
            raise RuntimeError("only inside run_command, with the session it was given")
        return ctx

    def _transaction(
        self,
        stages: tuple[Stage, ...],
        *,
        fixes: Sequence[PositionFix] = (),
        alarms: Sequence[AlarmSignal] = (),
        scans: Sequence[CheckpointScan] = (),
        punches: Sequence[Punch] = (),
        command: Callable[[Session, Processor], Any] | None = None,
        counts: PipelineCounters | None = None,
    ) -> Any:
        """Run ``command`` (if any), then ``stages``, over a new context in one transaction;
        after the commit, add the batch's counts (``counts`` and the stages') to ``counters``
        and hand the events to the listeners.

        On failure, memory is taken back to where it was before (the journal), the counts are
        dropped and the exception propagates: the caller may retry the same records from
        scratch. A failure at the commit itself is ambiguous (a connection cut at that moment
        loses the answer, not necessarily the commit): then the saved states are re-read from
        the database, the truth either way, before the next transaction.
        """
        result = None
        journal = self.memory.journal
        committing = False
        try:
            if self._next_scope:  # list.pop is atomic: a scope set meanwhile waits its turn
                while self._next_scope:
                    self._scope = self._next_scope.pop(0)
                self._rescoped = True
            if self._rescoped:  # kept until a reload succeeds (the database may be down)
                self._reload(at_start=True)
                self._rescoped = self._stale = False
            if self._stale:
                self._reload(at_start=False)
                self._stale = False
            with Session(self._engine) as session, session.begin():
                ctx = BatchContext.open(
                    session,
                    self._clock.now(),
                    counts or PipelineCounters(),
                    fixes=fixes,
                    alarms=alarms,
                    scans=scans,
                    punches=punches,
                )
                self._ctx = ctx
                journal.begin()
                if command is not None:
                    result = command(session, self)
                for stage in stages:
                    stage.run(ctx)
                # The batch's events, held by the emitter, written together before the commit.
                self._chain.emitter.flush(ctx)
                if self._fence is not None:
                    self._fence(session)
                committing = True
            journal.commit()
        except _REFUSALS as exc:
            # A command refused for its content (unknown guard, leave already cancelled...):
            # rolled back and answered to its sender; nothing is wrong with the pipeline.
            log.info("command refused: %s", exc)
            journal.rollback()
            raise
        except Exception as exc:
            undone = journal.rollback()
            log.warning(
                "pipeline transaction failed (%s); %d changes to memory undone",
                describe_error(exc),
                undone,
            )
            self.counters.add("errors.transaction")
            self._stale = self._stale or committing
            raise
        finally:
            self._ctx = None
        self.counters.merge(ctx.counters)
        if ctx.events:
            for listener in self._listeners:
                try:
                    listener(ctx.events)
                except Exception:  # a listener must not break the pipeline
                    log.exception("event listener failed")
        return result
