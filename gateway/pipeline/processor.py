"""The stage runner: fixes → identity → filters → geofence → rules → history, states, outbox.

``Processor`` is owned by one thread (see ``runtime``). Each call works in one database
transaction: positions, rule states, alerts and outbox rows of a whole batch are committed
together, so an event exists exactly when the state change that produced it does. If the
transaction fails, the in-memory states are thrown away and re-read, so memory never runs ahead
of the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.db.models import PresenceStateRow
from gateway.filters import FixFilter
from gateway.outbox.routing import ExtraDestinations
from gateway.outbox.writer import enqueue
from gateway.pipeline.counters import PipelineCounters
from gateway.pipeline.duty import Duty, DutyIndex
from gateway.pipeline.patrol_stage import PatrolStage
from gateway.records import CheckpointScan, DecodeOutcome, PositionFix, Punch
from gateway.rules import FixObserved, PresenceState, RuleEvent, RuleInput, Tick, step
from gateway.site.extend import extend_shifts
from geofence import classify

__all__ = ["EmittedEvent", "LastFix", "Processor"]

log = logging.getLogger(__name__)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")

_REFUSALS = (repo.NotFound, repo.Conflict, repo.InvalidRequest)

_PRESENCE_CHANGES = frozenset({"presence.arrived", "presence.departed", "presence.returned"})


@dataclass(frozen=True, slots=True)
class LastFix:
    """The newest accepted fix of a guard on duty, with the geofence verdict."""

    fix: PositionFix
    shift_id: str
    membership: str
    distance_m: float


@dataclass(frozen=True, slots=True)
class EmittedEvent:
    """An event committed to the outbox, as handed to in-process listeners (live view, demo)."""

    event_id: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]


Listener = Callable[[Sequence[EmittedEvent]], None]


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
        route: ExtraDestinations | None = None,
        on_committed: Listener | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.counters = counters or PipelineCounters()
        self._source = event_source
        self._destinations = destinations
        self._route = route
        self._listeners: list[Listener] = [on_committed] if on_committed else []
        self._states: dict[str, PresenceState] = {}
        self.last_fix: dict[str, LastFix] = {}
        self.presence_since: dict[str, datetime] = {}
        self.reader_alerts: dict[str, str] = {}
        """Device id → key of the open ``alert.device_silent`` of a reader that lost its device."""
        self._dirty: set[str] = set()
        self._stored: set[str] = set()
        self._pending_events: list[EmittedEvent] = []
        self.duties = DutyIndex([], {}, {}, {})
        self._filter = FixFilter(self._policy_for_device)
        self.patrol = PatrolStage(self)
        self.reload()

    # --- set-up -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every batch of events after it is committed."""
        self._listeners.append(listener)

    def reload(self) -> None:
        """Re-read the roster and the saved rule states (after a site load, a failure, a day).

        Roster lines are first expanded around now, so a gateway running for weeks never runs
        out of shifts.
        """
        now = self._clock.now()
        with Session(self._engine) as session, session.begin():
            added = extend_shifts(session, now)
        if added:
            log.info("roster extended by %d shifts", added)
        with Session(self._engine) as session:
            self.duties = DutyIndex.load(session, now)
            rows = session.query(PresenceStateRow).all()
            self._stored = {row.shift_id for row in rows}
            self.patrol.reload(session)
            self._states = {}
            for row in rows:
                if self.duties.duty(row.shift_id) is not None and not row.state.get("closed"):
                    self._states[row.shift_id] = PresenceState.from_json(row.state)

    def _policy_for_device(self, device_id: str) -> Any:
        return self.duties.policy_for_device(device_id)

    def state(self, shift_id: str) -> PresenceState | None:
        """The current rule state of a shift (owner thread only)."""
        return self._states.get(shift_id)

    # --- inputs -----------------------------------------------------------------------------

    def process_outcomes(self, outcomes: Iterable[DecodeOutcome]) -> None:
        """Count the rejects and run every decoded record through the stages, in one
        transaction."""
        fixes: list[PositionFix] = []
        scans: list[CheckpointScan] = []
        punches: list[Punch] = []
        for outcome in outcomes:
            for reject in outcome.rejects:
                self.counters.add(f"rejected.{_reason_key(reject.reason)}")
                log.warning(
                    "rejected input from %s: %s: %s",
                    reject.device_id or "?",
                    reject.reason,
                    reject.raw[:64].hex(),
                )
            fixes.extend(outcome.fixes)
            scans.extend(outcome.scans)
            punches.extend(outcome.punches)
        self.process_fixes(fixes, scans=scans, punches=punches)

    def process_fixes(
        self,
        fixes: Sequence[PositionFix],
        *,
        scans: Sequence[CheckpointScan] = (),
        punches: Sequence[Punch] = (),
    ) -> None:
        """Run records through identity, filters, geofence and rules; then tick the clock."""
        if fixes:
            self.counters.add("fixes.received", len(fixes))

        def body(session: Session) -> None:
            now = self._clock.now()
            self._fixes(session, fixes)
            if scans:
                self.patrol.scans(session, scans, now)
            if punches:
                self.patrol.punches(session, punches, now)
            self._due(session)

        self._transaction(body)

    def store_punches(self, session: Session, punches: Sequence[Punch]) -> list[bool]:
        """Store and apply punches inside a command's transaction (``run_command``); returns
        per punch whether it was new. For receivers that must confirm only what is stored."""
        return self.patrol.punches(session, punches, self._clock.now())

    def tick(self) -> None:
        """Fire due deadlines and start the machines of shifts that began."""
        self._transaction(self._due)

    def apply(self, guard_id: str, at: datetime, rule_input: RuleInput, session: Session) -> None:
        """Feed a report/leave/cancellation to the guard's shift covering ``at`` (if on duty).

        Runs inside the caller's ``session`` (see ``run_command``), so the record and the
        events it causes commit together.
        """
        duty = self.duties.duty_for_guard(guard_id, at) or self.duties.duty_for_guard(
            guard_id, self._clock.now()
        )
        if duty is None:
            return
        events = self._step(session, duty, rule_input)
        self._pending_events.extend(events)

    def run_command(self, command: Callable[[Session, Processor], Any]) -> Any:
        """Run ``command(session, self)`` in one transaction with the processor's bookkeeping."""
        result: list[Any] = []

        def body(session: Session) -> None:
            result.append(command(session, self))

        self._transaction(body)
        return result[0] if result else None

    # --- stages -----------------------------------------------------------------------------

    def _fixes(self, session: Session, fixes: Sequence[PositionFix]) -> None:
        now = self._clock.now()
        positions: list[dict[str, Any]] = []
        # Per guard, records are processed in device-time order; sorting the batch is the
        # reorder window that absorbs jitter between terminals and MQTT deliveries.
        for fix in sorted(fixes, key=lambda f: f.fix_time):
            duty = self.duties.duty_for_device(fix.device_id, fix.fix_time)
            if duty is None:
                known = self.duties.knows_device(fix.device_id)
                self.counters.add("dropped.off_duty" if known else "dropped.unknown_device")
                continue
            reason = self._filter.check(fix, now)
            if reason is not None:
                self.counters.add(f"dropped.{reason.value}")
                continue
            verdict = classify(
                duty.fence, fix.lon, fix.lat, fix.accuracy_m, duty.policy.boundary_margin_m
            )
            positions.append(
                repo.position_values(
                    fix,
                    guard_id=duty.guard_id,
                    shift_id=duty.shift_id,
                    membership=verdict.membership.value,
                    distance_m=round(verdict.distance_m, 2),
                )
            )
            previous = self.last_fix.get(duty.guard_id)
            if previous is None or previous.fix.fix_time <= fix.fix_time:
                self.last_fix[duty.guard_id] = LastFix(
                    fix, duty.shift_id, verdict.membership.value, verdict.distance_m
                )
            observed = FixObserved.from_fix(fix, verdict.membership, verdict.distance_m)
            self._pending_events.extend(self._step(session, duty, observed))
        if positions:
            repo.insert_positions(session, positions)
            self.counters.add("fixes.stored", len(positions))

    def _due(self, session: Session) -> None:
        now = self._clock.now()
        active = self.duties.active(now)
        for duty in active:
            if duty.shift_id not in self._states:
                self._states[duty.shift_id] = PresenceState.start(
                    duty.shift_id,
                    duty.guard_id,
                    duty.post_id,
                    duty.site_id,
                    duty.device_ids,
                    duty.starts_at,
                    duty.ends_at,
                )
                self._dirty.add(duty.shift_id)
        for shift_id, state in list(self._states.items()):
            if state.next_deadline is not None and state.next_deadline <= now:
                due = self.duties.duty(shift_id)
                if due is not None:
                    self._pending_events.extend(self._step(session, due, Tick()))
        self.patrol.due(session, active, now)

    def step_presence(self, session: Session, duty: Duty, rule_input: RuleInput) -> None:
        """Feed one input to the presence machine of ``duty`` (evidence from other stages)."""
        self._pending_events.extend(self._step(session, duty, rule_input))

    def _step(self, session: Session, duty: Duty, rule_input: RuleInput) -> list[EmittedEvent]:
        state = self._states.get(duty.shift_id)
        if state is None:
            state = PresenceState.start(
                duty.shift_id,
                duty.guard_id,
                duty.post_id,
                duty.site_id,
                duty.device_ids,
                duty.starts_at,
                duty.ends_at,
            )
        new_state, events = step(state, rule_input, self._clock.now(), duty.policy)
        if new_state != state:
            self._states[duty.shift_id] = new_state
            self._dirty.add(duty.shift_id)
        return [self._emit(session, event, subject=duty.guard_id, duty=duty) for event in events]

    def emit(
        self, session: Session, event: RuleEvent, *, subject: str, duty: Duty | None = None
    ) -> None:
        """Write ``event`` to the outbox (and the alerts table) in ``session``'s transaction."""
        self._pending_events.append(self._emit(session, event, subject=subject, duty=duty))

    def _emit(
        self, session: Session, event: RuleEvent, *, subject: str, duty: Duty | None
    ) -> EmittedEvent:
        now = self._clock.now()
        data: dict[str, Any] = dict(event.data)
        if duty is not None:
            data.update(guard_name=duty.guard_name, team=duty.team, post_name=duty.post_name)
        destinations = self._destinations
        if self._route is not None:  # group robots, for alerts and what resolves them
            resolves = bool(event.resolves)
            extra = self._route(
                session, type=event.type, subject=subject, data=data, resolves=resolves
            )
            destinations = (*destinations, *extra)
        event_id = enqueue(
            session,
            key=event.key,
            type=event.type,
            subject=subject,
            time=event.time,
            data=data,
            now=now,
            destinations=destinations,
            source=self._source,
        )
        if event.alert_key is not None:
            repo.open_or_update_alert(
                session,
                alert_key=event.alert_key,
                alert_type=event.type,
                guard_id=subject,
                at=event.time,
                event_id=event_id,
                shift_id=duty.shift_id if duty else None,
                site_id=duty.site_id if duty else _str(data.get("site_id")),
                post_id=duty.post_id if duty else None,
                data=data,
            )
        for key in event.resolves:
            try:
                repo.resolve_alert(session, key, at=event.time, event_id=event_id)
            except repo.NotFound:
                log.debug("event %s resolves unknown alert %s", event.key, key)
        if duty is not None and event.type in _PRESENCE_CHANGES:
            self.presence_since[duty.shift_id] = event.time
        self.counters.add(f"events.{event.type}")
        return EmittedEvent(event_id, event.type, subject, event.time, data)

    # --- transactions -----------------------------------------------------------------------

    def _transaction(self, body: Callable[[Session], None]) -> None:
        self._dirty = set()
        self._pending_events = []
        try:
            with Session(self._engine) as session, session.begin():
                body(session)
                self._save_states(session)
        except _REFUSALS as exc:
            # A command refused for its content (unknown guard, leave already cancelled...):
            # rolled back and answered to its sender; nothing is wrong with the pipeline.
            log.info("command refused: %s", exc)
            self.reload()
            raise
        except Exception:
            log.exception("pipeline transaction failed; re-reading states from the database")
            self.counters.add("errors.transaction")
            self.reload()
            raise
        events, self._pending_events = self._pending_events, []
        if events:
            for listener in self._listeners:
                try:
                    listener(events)
                except Exception:  # a listener must not break the pipeline
                    log.exception("event listener failed")

    def _save_states(self, session: Session) -> None:
        now = self._clock.now()
        rows: list[dict[str, Any]] = []
        for shift_id in sorted(self._dirty):
            state = self._states.get(shift_id)
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
                del self._states[shift_id]
        repo.save_presence_states(session, rows, stored=self._stored)
        self.patrol.save(session, now)
        self._stored.update(str(row["shift_id"]) for row in rows)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _reason_key(reason: str) -> str:
    """A counter name from a reject reason: its first words, lower-case, underscores.

    Details after ``:``, ``(`` or ``,`` (values, checksums) are left out so one kind of problem
    makes one counter: ``checksum mismatch (frame says 7d, computed 03)`` → ``checksum_mismatch``.
    """
    head = re.split(r"[:(,]", reason, maxsplit=1)[0]
    # Quoted parts are the offending input: left out, or a sender could mint counters at will.
    head = _QUOTED.sub(" ", head).lower()
    words = ["".join(c for c in w if c.isalnum() or c in "_-") for w in head.split()]
    # Numbers are values too (lengths, ids); the words around them name the problem.
    named = [w for w in words if w and not any(c.isdigit() for c in w)]
    return "_".join(named[:4]) or "unknown"
