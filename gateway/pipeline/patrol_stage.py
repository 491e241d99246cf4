"""The checkpoint and clock-in stage: scans and punches → identity → patrol/attendance rules.

Runs after the presence rules have seen the batch's fixes (see ``gateway.pipeline.stages``), in
the same transaction. A scan or punch is first stored as history (its unique key drops a re-sent
record), then resolved to a checkpoint or guard and fed to the rule machines of the shifts it
concerns:

* a scan goes to the guard it names (``gateway.pipeline.scan_attribution``): a checkpoint
  scan steps his patrol machines and places him at the post for the presence rules; his own
  card shown to a reader fixed at his post places him;
* a punch goes to the attendance machine of the guard's shift (a check-in up to an hour early
  belongs to the shift it precedes); a break-out punch is also his verbal report.

Unknown tags and persons are stored and reported (``patrol.unknown_tag``,
``attendance.unknown_person``), never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.db.models import (
    AttendanceStateRow,
    CheckpointRow,
    CheckpointTagRow,
    PatrolStateRow,
)
from gateway.pipeline.context import BatchContext
from gateway.pipeline.deadline_queue import ATTENDANCE, PATROL, ScheduledDict
from gateway.pipeline.duty import Duty
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.presence_stage import PresenceFeed
from gateway.pipeline.relay import relay_punch, relay_scan
from gateway.pipeline.scan_attribution import name_scan
from gateway.pipeline.window_states import open_states
from gateway.records import CheckpointScan, Punch
from gateway.rules import Tick
from gateway.rules import attendance as attendance_rules
from gateway.rules import patrol as patrol_rules
from gateway.rules.attendance import AttendanceState, punch_presence_inputs
from gateway.rules.patrol_events import ScanObserved, unknown_person_event, unknown_tag_event
from gateway.rules.patrol_plan import RoutePlan
from gateway.rules.patrol_presence import scan_as_fix
from gateway.rules.patrol_state import PatrolState
from gateway.site.schema import normalise_tag_id

__all__ = ["PatrolStage"]

log = logging.getLogger(__name__)

EARLY_CHECK_IN = timedelta(hours=1)


class PatrolStage:
    """Patrol and attendance machines of the shifts in the roster window, with their indexes.

    Reads the roster from ``memory.duties``, writes events through ``emitter`` and hands the
    evidence a scan or punch gives of the guard's presence to ``presence``. The machines changed
    in a batch are named in the context's ``dirty_patrols``/``dirty_attendance`` and written by
    ``save``.
    """

    def __init__(self, memory: PipelineMemory, emitter: Emitter, presence: PresenceFeed) -> None:
        self._memory = memory
        self._emitter = emitter
        self._presence = presence
        self._tags: dict[str, tuple[str, str]] = {}
        self._routes: dict[str, list[RoutePlan]] = {}
        # Journaled: a failed transaction takes the machines back with it. Scheduled: each
        # machine's next deadline is kept in the memory's deadline queue.
        self._patrols = self._patrol_map({})
        self._attendance = self._attendance_map({})

    def _patrol_map(self, items: dict[str, PatrolState]) -> ScheduledDict[str, PatrolState]:
        memory = self._memory

        def deadline(_machine_id: str, state: PatrolState) -> datetime | None:
            duty = memory.duties.duty(state.shift_id)
            if duty is None:
                return None
            return patrol_rules.next_patrol_deadline(state, duty.patrol_policy)

        return ScheduledDict(memory.journal, memory.deadlines, PATROL, deadline, items.items())

    def _attendance_map(
        self, items: dict[str, AttendanceState]
    ) -> ScheduledDict[str, AttendanceState]:
        memory = self._memory
        return ScheduledDict(
            memory.journal,
            memory.deadlines,
            ATTENDANCE,
            lambda _shift_id, state: state.next_deadline,
            items.items(),
        )

    def run(self, ctx: BatchContext) -> None:
        """The stage: the batch's scans, then its punches, judged at the batch's ``now``."""
        if ctx.scans:
            self.scans(ctx, ctx.scans, ctx.now)
        if ctx.punches:
            self.punches(ctx, ctx.punches, ctx.now)

    def reload(self, session: Session) -> None:
        """Re-read checkpoints, tags, routes and the saved machine states (after the memory's
        roster, which decides which states are still in the window)."""
        checkpoints = {c.id: c.post_id for c in session.scalars(select(CheckpointRow))}
        self._tags = {
            t.tag_id: (t.checkpoint_id, checkpoints[t.checkpoint_id])
            for t in session.scalars(select(CheckpointTagRow))
        }
        posts = set(checkpoints.values())
        self._routes = {post: prepo.route_plans_for_post(session, post) for post in posts}
        duties = self._memory.duties
        patrols = open_states(
            session,
            duties,
            key=PatrolStateRow.machine_id,
            shift_id=PatrolStateRow.shift_id,
            state=PatrolStateRow.state,
        )
        self._patrols = self._patrol_map(
            {machine: PatrolState.from_json(state) for machine, state in patrols.items()}
        )
        attendance = open_states(
            session,
            duties,
            key=AttendanceStateRow.shift_id,
            shift_id=AttendanceStateRow.shift_id,
            state=AttendanceStateRow.state,
        )
        self._attendance = self._attendance_map(
            {shift: AttendanceState.from_json(state) for shift, state in attendance.items()}
        )

    # --- scans ------------------------------------------------------------------------------

    def scans(
        self,
        ctx: BatchContext,
        scans: Sequence[CheckpointScan],
        now: datetime,
        keys: Sequence[str] | None = None,
    ) -> int:
        """Store and apply checkpoint scans in device-time order; returns how many were new.

        ``keys`` are the scans' dedupe keys when the source has its own (a wand download);
        by default a live reader's (reader, tag, time).
        """
        pairs = sorted(
            zip(scans, keys or [prepo.scan_key(s) for s in scans], strict=True),
            key=lambda pair: pair[0].scanned_at,
        )
        ordered = [scan for scan, _key in pairs]
        fresh = prepo.insert_scans(ctx.session, ordered, keys=[key for _scan, key in pairs])
        for (scan, key), is_new in zip(pairs, fresh, strict=True):
            if not is_new:
                ctx.counters.add("scans.duplicate")
                continue
            ctx.counters.add("scans.stored")
            self._scan(ctx, scan, key, now)
        return sum(fresh)

    def _scan(self, ctx: BatchContext, scan: CheckpointScan, key: str, now: datetime) -> None:
        """Apply a new scan to the guard it names (``name_scan``), here or, for a guard
        another process holds, relayed to it (``gateway.pipeline.relay``)."""
        place = self._checkpoint(scan.tag_id)
        duties = self._memory.duties
        holder = self._card_holder(ctx, scan) if place is None else None
        named = name_scan(duties, scan, None if place is None else place[1], holder)
        if named.guard_id is None:
            ctx.counters.add(f"scans.{named.miss}")
            if named.miss == "unknown_tag":
                site = duties.site_of_device(scan.reader_id)
                event = unknown_tag_event(scan, now, site_id=site)
                self._emitter.emit(ctx, event, subject=scan.reader_id)
        elif duties.holds(named.guard_id):
            self.apply_scan(ctx, scan, named.guard_id, now)
        else:
            self._relay(ctx, scan, key, named.guard_id)

    def _relay(self, ctx: BatchContext, scan: CheckpointScan, key: str, guard_id: str) -> None:
        relay_scan(ctx.session, key, guard_id, ctx.now)
        ctx.counters.add("scans.relayed")

    def _card_holder(self, ctx: BatchContext, scan: CheckpointScan) -> str | None:
        """The guard whose own card a reader read (``None``: the tag is no guard's card)."""
        site_id = self._memory.duties.site_of_device(scan.reader_id)
        if site_id is None:
            return None
        return prepo.guard_for_card(ctx.session, site_id, scan.tag_id)

    def apply_scan(
        self, ctx: BatchContext, scan: CheckpointScan, guard_id: str, now: datetime
    ) -> None:
        """Apply a stored scan to the rules of ``guard_id``, the guard it names (held here;
        also a scan relayed by another process): a checkpoint scan steps his patrol and places
        him at the post if he is on duty there (else ``scans.nobody_on_duty``); his own card
        shown to a reader fixed at his post places him (else ``scans.card_elsewhere``)."""
        duties = self._memory.duties
        duty = duties.duty_for_guard(guard_id, scan.scanned_at)
        place = self._checkpoint(scan.tag_id)
        if place is None:
            if duty is None or duties.post_of_device(scan.reader_id) != duty.post_id:
                ctx.counters.add("scans.card_elsewhere")
                return
            ctx.counters.add("scans.guard_card")
            observed = ScanObserved.from_scan(scan, f"card:{scan.tag_id}")
            self._place(ctx, duty, observed, scan.reader_id)
            return
        checkpoint_id, post_id = place
        if duty is None or duty.post_id != post_id:
            ctx.counters.add("scans.nobody_on_duty")
            return
        observed = ScanObserved.from_scan(scan, checkpoint_id)
        for plan in self._routes.get(post_id, ()):
            self._step_patrol(ctx, duty, plan, observed, now)
        self._place(ctx, duty, observed, scan.reader_id)

    def _place(self, ctx: BatchContext, duty: Duty, observed: ScanObserved, reader: str) -> None:
        centre = duty.fence.wgs84.centroid
        evidence = scan_as_fix(
            observed, lat=centre.y, lon=centre.x, device_id=_evidence_device(duty, reader)
        )
        self._presence.feed(ctx, duty, evidence)

    def _checkpoint(self, tag_id: str) -> tuple[str, str] | None:
        try:
            return self._tags.get(normalise_tag_id(tag_id))
        except ValueError:
            return None

    def _step_patrol(
        self,
        ctx: BatchContext,
        duty: Duty,
        plan: RoutePlan,
        rule_input: ScanObserved | Tick,
        now: datetime,
    ) -> None:
        machine_id = f"{duty.shift_id}/{plan.route_id}"
        state = self._patrols.get(machine_id) or PatrolState.start(
            plan,
            shift_id=duty.shift_id,
            guard_id=duty.guard_id,
            site_id=duty.site_id,
            shift_start=duty.starts_at,
            shift_end=duty.ends_at,
        )
        new_state, events = patrol_rules.step(state, rule_input, now, duty.patrol_policy)
        if new_state != state or machine_id not in self._patrols:
            self._patrols[machine_id] = new_state
            ctx.dirty_patrols.add(machine_id)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)

    # --- punches ----------------------------------------------------------------------------

    def punches(self, ctx: BatchContext, punches: Sequence[Punch], now: datetime) -> list[bool]:
        """Store and apply punches; return, per punch, whether it was new."""
        fresh = prepo.insert_punches(ctx.session, punches)
        for punch, is_new in zip(punches, fresh, strict=True):
            if not is_new:
                ctx.counters.add("punches.duplicate")
                continue
            ctx.counters.add("punches.stored")
            self._punch(ctx, punch, now)
        return fresh

    def apply_punch(self, ctx: BatchContext, punch: Punch, now: datetime) -> None:
        """Apply a punch already stored (one relayed by another process: ``relay``)."""
        self._punch(ctx, punch, now)

    def _punch(self, ctx: BatchContext, punch: Punch, now: datetime) -> None:
        duties = self._memory.duties
        guard_id = prepo.guard_for_person(ctx.session, punch.terminal_id, punch.person_id)
        if guard_id is None:
            ctx.counters.add("punches.unknown_person")
            site = duties.site_of_device(punch.terminal_id)
            event = unknown_person_event(punch, now, site_id=site)
            self._emitter.emit(ctx, event, subject=punch.terminal_id)
            return
        duty = duties.duty_near(guard_id, punch.punched_at, EARLY_CHECK_IN)
        if duty is None:
            if not duties.holds(guard_id):  # his rules run in another process: hand it over
                relay_punch(ctx.session, punch, guard_id, ctx.now)
                ctx.counters.add("punches.relayed")
                return
            ctx.counters.add("punches.off_duty")
            return
        state = self._attendance_state(duty)
        new_state, events = attendance_rules.step(state, punch, now, duty.patrol_policy)
        self._set_attendance(ctx, duty, state, new_state)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)
        terminal_post = duties.post_of_device(punch.terminal_id)
        centre = duty.fence.wgs84.centroid
        for rule_input in punch_presence_inputs(
            punch,
            terminal_at_post=terminal_post == duty.post_id,
            lat=centre.y,
            lon=centre.x,
            device_id=_evidence_device(duty, punch.terminal_id),
        ):
            self._presence.feed(ctx, duty, rule_input)

    def _attendance_state(self, duty: Duty) -> AttendanceState:
        return self._attendance.get(duty.shift_id) or AttendanceState.start(
            duty.shift_id,
            duty.guard_id,
            duty.post_id,
            duty.site_id,
            duty.starts_at,
            duty.ends_at,
        )

    def _set_attendance(
        self, ctx: BatchContext, duty: Duty, old: AttendanceState, new: AttendanceState
    ) -> None:
        if new != old or duty.shift_id not in self._attendance:
            self._attendance[duty.shift_id] = new
            ctx.dirty_attendance.add(duty.shift_id)

    # --- the clock --------------------------------------------------------------------------

    def start(self, ctx: BatchContext, duties: Sequence[Duty], now: datetime) -> None:
        """Start the attendance and patrol machines of ``duties`` (shifts whose start has
        come) that have none."""
        clock_in_sites = self._memory.duties.clock_in_sites
        for duty in duties:
            if duty.site_id in clock_in_sites and duty.shift_id not in self._attendance:
                fresh = self._attendance_state(duty)
                self._set_attendance(ctx, duty, fresh, fresh)
            for plan in self._routes.get(duty.post_id, ()):
                if f"{duty.shift_id}/{plan.route_id}" not in self._patrols:
                    self._step_patrol(ctx, duty, plan, Tick(), now)

    def fire_attendance(self, ctx: BatchContext, shift_id: str, now: datetime) -> None:
        """Tick the attendance machine of ``shift_id``, due at ``now`` by the clock."""
        state = self._attendance.get(shift_id)
        duty = self._memory.duties.duty(shift_id)
        if state is None or duty is None:
            return
        if state.next_deadline is not None and state.next_deadline <= now:
            new_state, events = attendance_rules.step(state, Tick(), now, duty.patrol_policy)
            self._set_attendance(ctx, duty, state, new_state)
            for event in events:
                self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)
        self._attendance.reschedule(shift_id)  # popped: scheduled again from its state now

    def fire_patrol(self, ctx: BatchContext, machine_id: str, now: datetime) -> None:
        """Tick the patrol machine ``machine_id``, due at ``now`` by the clock."""
        patrol = self._patrols.get(machine_id)
        if patrol is None:
            return
        duty = self._memory.duties.duty(patrol.shift_id)
        if duty is None:
            return
        due_at = patrol_rules.next_patrol_deadline(patrol, duty.patrol_policy)
        route = self._plan(duty.post_id, patrol.route_id)
        if due_at is not None and due_at <= now and route is not None:
            self._step_patrol(ctx, duty, route, Tick(), now)
        self._patrols.reschedule(machine_id)  # popped: scheduled again from its state now

    def _plan(self, post_id: str, route_id: str) -> RoutePlan | None:
        return next((p for p in self._routes.get(post_id, ()) if p.route_id == route_id), None)

    def save(self, ctx: BatchContext, now: datetime) -> None:
        """Persist the machines changed in this transaction; forget closed ones."""
        session = ctx.session
        for machine_id in sorted(ctx.dirty_patrols):
            patrol = self._patrols[machine_id]
            duty = self._memory.duties.duty(patrol.shift_id)
            due_at = None
            if duty is not None:
                due_at = patrol_rules.next_patrol_deadline(patrol, duty.patrol_policy)
            prepo.save_patrol_state(
                session,
                machine_id=machine_id,
                shift_id=patrol.shift_id,
                route_id=patrol.route_id,
                state=patrol.to_json(),
                next_deadline=due_at,
                now=now,
            )
            if patrol.closed:
                del self._patrols[machine_id]
        for shift_id in sorted(ctx.dirty_attendance):
            state = self._attendance[shift_id]
            prepo.save_attendance_state(
                session,
                shift_id=shift_id,
                guard_id=state.guard_id,
                state=state.to_json(),
                next_deadline=state.next_deadline,
                now=now,
            )
            if state.closed:
                del self._attendance[shift_id]


def _evidence_device(duty: Duty, device_id: str) -> str:
    """The device a scan or punch is credited to in the presence rules: the reader or terminal
    itself when it counts for this shift (at the post, or carried by the guard), else the
    guard's own terminal, so the evidence is never ignored as coming from a stranger."""
    if device_id in duty.device_ids or not duty.device_ids:
        return device_id
    return duty.device_ids[0]
