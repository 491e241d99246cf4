"""The checkpoint and clock-in stage: scans and punches → identity → patrol/attendance rules.

Runs after the presence rules have seen the batch's fixes (see ``gateway.pipeline.stages``), in
the same transaction. A scan or punch is first stored as history (its unique key drops a re-sent
record), then resolved to a checkpoint or guard and fed to the rule machines of the shifts it
concerns:

* a scan goes to the guard it names (``gateway.pipeline.scan_attribution``): a checkpoint
  scan steps his patrol machines and places him at the post for the presence rules; his own
  card shown to a reader fixed at his post places him;
* a punch goes to the attendance machine of the guard's shift
  (``gateway.pipeline.attendance_machines``); a break-out punch is also his verbal report.

Unknown tags and persons are stored and reported (``patrol.unknown_tag``,
``attendance.unknown_person``), never dropped silently; an ambiguous short-form read is
reported so too, but counted and logged apart (``gateway.pipeline.unnamed_reads``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.pipeline.attendance_machines import AttendanceMachines
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import Duty, evidence_device
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.late_scans import late_scan_duty
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.new_duties import NewDuties
from gateway.pipeline.overlap_scans import overlap_scan_duty
from gateway.pipeline.patrol_loads import follow_ends, replan_machines
from gateway.pipeline.patrol_routes import PatrolRoutes
from gateway.pipeline.patrol_store import (
    closed_patrols,
    patrol_map,
    read_patrols,
    refresh_patrols,
    save_patrols,
)
from gateway.pipeline.presence_stage import PresenceFeed
from gateway.pipeline.relay import relay_scan
from gateway.pipeline.scan_attribution import card_holder, name_scan, read_away
from gateway.pipeline.stored_inputs import leave_of
from gateway.pipeline.unnamed_reads import UnnamedReads
from gateway.records import CheckpointScan
from gateway.rules import LeaveApproved, LeaveCancelled, ShiftEnded, Tick
from gateway.rules import patrol as patrol_rules
from gateway.rules.copying import replace
from gateway.rules.patrol_events import ScanObserved
from gateway.rules.patrol_leave import LeaveEntered
from gateway.rules.patrol_plan import RoutePlan
from gateway.rules.patrol_presence import scan_as_fix
from gateway.rules.patrol_state import PatrolState, leave_spans
from gateway.rules.patrol_wands import told_of

__all__ = ["PatrolStage"]

log = logging.getLogger(__name__)


class PatrolStage:
    """Patrol and attendance machines of the shifts in the roster window, with their indexes.

    Reads the roster from ``memory.duties``, writes events through ``emitter`` and hands the
    evidence a scan or punch gives of the guard's presence to ``presence``. The machines changed
    in a batch are named in the context's ``dirty_patrols``/``dirty_attendance`` and written by
    ``save``."""

    def __init__(self, memory: PipelineMemory, emitter: Emitter, presence: PresenceFeed) -> None:
        self._memory = memory
        self._emitter = emitter
        self._presence = presence
        self._routes = PatrolRoutes()
        # Journaled and scheduled (``patrol_store``).
        self._patrols = patrol_map(memory, {})
        self._new = NewDuties()
        self._unnamed = UnnamedReads(memory, emitter)
        self.attendance = AttendanceMachines(memory, emitter, presence, self._new, self._unnamed)
        """The attendance machines: punches and their deadlines."""

    def run(self, ctx: BatchContext) -> None:
        """The stage: the batch's scans, then its punches, judged at the batch's ``now``."""
        if ctx.scans:
            self.scans(ctx, ctx.scans, ctx.now)
        if ctx.punches:
            self.attendance.punches(ctx, ctx.punches, ctx.now)

    def reload(self, session: Session) -> None:
        """Re-read checkpoints, tags, routes and the saved machine states (after the memory's
        roster, which decides which states are still in the window)."""
        self._read_checkpoints(session)
        self._patrols = read_patrols(session, self._memory)
        self._routes.held((s.post_id, s.route_id) for s in self._patrols.values())
        self.attendance.reload(session)

    def refresh(self, session: Session, new_shifts: Collection[str]) -> None:
        """After the memory's ``refresh``: re-read checkpoints, tags and routes; keep the
        machines in memory but those whose shift left the window, and read the saved states
        of ``new_shifts`` only. A kept machine is scheduled again, as its shift's patrol
        policy may have changed with a site load."""
        self._read_checkpoints(session)
        refresh_patrols(session, self._patrols, self._memory.duties, new_shifts)
        self.attendance.refresh(session, new_shifts)

    def _read_checkpoints(self, session: Session) -> None:
        self._routes.read(session)
        duties = self._memory.duties
        self._new.observe(duties.clock_in_sites, self._routes.plans.keys(), duties.loaded_at)

    # --- scans ------------------------------------------------------------------------------

    def scans(
        self,
        ctx: BatchContext,
        scans: Sequence[CheckpointScan],
        now: datetime,
        keys: Sequence[str] | None = None,
    ) -> int:
        """Store and apply checkpoint scans in device-time order; returns how many were new.
        ``keys``: the scans' dedupe keys when the source has its own (a wand download); by
        default a live reader's (reader, tag, time)."""
        pairs = sorted(
            zip(scans, keys or [prepo.scan_key(s) for s in scans], strict=True),
            key=lambda pair: pair[0].scanned_at,
        )
        ordered = [scan for scan, _key in pairs]
        places = [self._routes.place(ctx.session, self._memory.duties, s) for s in ordered]
        fresh = prepo.insert_scans(
            ctx.session,
            ordered,
            keys=[key for _scan, key in pairs],
            checkpoint_ids=[None if place is None else place[0] for place in places],
        )
        for (scan, key), place, is_new in zip(pairs, places, fresh, strict=True):
            if not is_new:
                ctx.counters.add("scans.duplicate")
                continue
            ctx.counters.add("scans.stored")
            self._scan(ctx, scan, key, place, now)
        return sum(fresh)

    def _scan(
        self,
        ctx: BatchContext,
        scan: CheckpointScan,
        key: str,
        place: tuple[str, str] | None,
        now: datetime,
    ) -> None:
        """Apply a new scan of the checkpoint at ``place`` (or none) to the guard it names
        (``name_scan``), here or, for a guard another process holds, relayed to it
        (``gateway.pipeline.relay``)."""
        duties = self._memory.duties
        holder = card_holder(ctx.session, duties, scan) if place is None else None
        if place is not None and not read_away(duties, scan, place[1]):
            routes = [plan.route_id for plan in self._routes.of_post(place[1])]
            late = late_scan_duty(duties, self._patrols, routes, *place, scan.scanned_at)
            if late is not None:  # his, though his shift just ended (``late_scans``)
                self._round_scan(ctx, late, scan, place[0], now)
                return
            if duties.guard_of_device(scan.reader_id) is None:
                # A fixed reader at a handover: the round's walker (``overlap_scans``).
                walker = overlap_scan_duty(duties, self._patrols, routes, *place, scan.scanned_at)
                if walker is not None:
                    self._round_scan(ctx, walker, scan, place[0], now)
                    return
        named = name_scan(duties, scan, None if place is None else place[1], holder)
        if named.miss == "unknown_tag":
            read = self._routes.short_read(ctx.session, duties, scan)
            self._unnamed.scan(ctx, scan, now, read)
        elif named.guard_id is None:
            ctx.counters.add(f"scans.{named.miss}")
        elif duties.holds(named.guard_id):
            self.apply_scan(ctx, scan, named.guard_id, now)
        else:
            relay_scan(ctx.session, key, named.guard_id, ctx.now)
            ctx.counters.add("scans.relayed")

    def apply_scan(
        self, ctx: BatchContext, scan: CheckpointScan, guard_id: str, now: datetime
    ) -> None:
        """Apply a stored scan to the rules of ``guard_id``, the guard it names (held here;
        also a scan relayed by another process): a checkpoint scan steps his patrol and places
        him at the post if he is on duty there (else ``scans.nobody_on_duty``); his own card
        shown to a reader fixed at his post places him (else ``scans.card_elsewhere``)."""
        duties = self._memory.duties
        duty = duties.duty_for_guard(guard_id, scan.scanned_at)
        place = self._routes.place(ctx.session, duties, scan)
        if place is None:
            if duty is None or duties.post_of_device(scan.reader_id) != duty.post_id:
                ctx.counters.add("scans.card_elsewhere")
                return
            ctx.counters.add("scans.guard_card")
            observed = ScanObserved.from_scan(scan, f"card:{scan.tag_id}")
            self._place(ctx, duty, observed, scan.reader_id)
            return
        checkpoint_id, post_id = place
        if read_away(duties, scan, post_id):
            ctx.counters.add("scans.tag_elsewhere")
            return
        if duty is None or duty.post_id != post_id:
            ctx.counters.add("scans.nobody_on_duty")
            return
        self._round_scan(ctx, duty, scan, checkpoint_id, now)

    def _round_scan(
        self, ctx: BatchContext, duty: Duty, scan: CheckpointScan, checkpoint_id: str, now: datetime
    ) -> None:
        """Step ``duty``'s patrol with the scan of ``checkpoint_id`` and place him there."""
        post_id = duty.post_id
        observed = ScanObserved.from_scan(scan, checkpoint_id)
        for plan in self._routes.of_post(post_id):
            self._step_patrol(ctx, duty, plan, observed, now)
        for post, route in self._routes.gone:
            orphan = self._patrols.get(f"{duty.shift_id}/{route}") if post == post_id else None
            if orphan is not None and not orphan.closed:
                self._step_held(ctx, duty, orphan, observed, now)
        self._place(ctx, duty, observed, scan.reader_id)

    def _place(self, ctx: BatchContext, duty: Duty, observed: ScanObserved, reader: str) -> None:
        centre = duty.fence.wgs84.centroid
        evidence = scan_as_fix(
            observed, lat=centre.y, lon=centre.x, device_id=evidence_device(duty, reader)
        )
        self._presence.feed(ctx, duty, evidence)

    def _step_patrol(
        self,
        ctx: BatchContext,
        duty: Duty,
        plan: RoutePlan,
        rule_input: patrol_rules.PatrolInput,
        now: datetime,
    ) -> None:
        machine_id = f"{duty.shift_id}/{plan.route_id}"
        held = self._patrols.get(machine_id) or PatrolState.start(
            plan,
            shift_id=duty.shift_id,
            guard_id=duty.guard_id,
            site_id=duty.site_id,
            shift_start=duty.starts_at,
            shift_end=duty.ends_at,
            known_from=self._new.route_known_from(duty, plan.route_id),
        )
        self._step_held(ctx, duty, held, rule_input, now)

    def _step_held(
        self,
        ctx: BatchContext,
        duty: Duty,
        held: PatrolState,
        rule_input: patrol_rules.PatrolInput,
        now: datetime,
    ) -> None:
        """Step ``held``, the patrol machine of ``duty`` (new or kept; its route may have been
        taken off the site since, while it waits for a wand), and keep what it becomes."""
        machine_id = held.machine_id
        # His leaves as the shift's presence machine knows them excuse the windows they span.
        presence = self._memory.presence.get(duty.shift_id)
        spans = held.on_leave if presence is None else leave_spans(presence.leaves)
        state = held if spans == held.on_leave else replace(held, on_leave=spans)
        if state.wands != duty.wands:
            state = replace(state, wands=duty.wands)
        new_state, events = patrol_rules.step(state, rule_input, now, duty.patrol_policy)
        if new_state != held or (machine_id not in self._patrols and not new_state.closed):
            self._patrols[machine_id] = new_state
            ctx.dirty_patrols.add(machine_id)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)

    # --- the clock --------------------------------------------------------------------------

    def start(self, ctx: BatchContext, duties: Sequence[Duty], now: datetime) -> None:
        """Start the attendance and patrol machines of ``duties`` (shifts whose start has
        come) that have none."""
        clock_in_sites = self._memory.duties.clock_in_sites
        for duty in duties:
            if duty.site_id in clock_in_sites:
                self.attendance.start(ctx, duty, now)
            for plan in self._routes.of_post(duty.post_id):
                if f"{duty.shift_id}/{plan.route_id}" not in self._patrols:
                    self._step_patrol(ctx, duty, plan, Tick(), now)

    def replan(self, ctx: BatchContext, now: datetime) -> None:
        """Plan again, at ``now``, the patrol machines of the routes a site load changed: the
        rounds begun stay as they were, the later ones follow the new plan
        (``PatrolState.replanned``; a checkpoint taken off a route is not missed in them); a
        route removed ends its machines as at a relief."""
        keys = self._routes.take_replan(self._memory.journal)
        if not keys:
            return
        duties = self._memory.duties
        plans = self._routes.plans
        for duty, event in replan_machines(self._patrols, plans, keys, duties, ctx, now):
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)

    def follow_load(self, ctx: BatchContext, now: datetime) -> None:
        """Give every patrol machine whose shift's end a site load moved that end (the rounds
        begun stay, the later ones are those that fit it), then the attendance machines.
        Changed limits need nothing: machines are scheduled by their limits as they are."""
        duties = self._memory.duties
        if duties.ends_moved is None or duties.ends_moved:
            follow_ends(self._patrols, self._routes.plans, duties, ctx, now)
        self.attendance.follow_load(ctx, now)

    def relieve(self, ctx: BatchContext, duty: Duty, now: datetime) -> None:
        """End the patrol and attendance machines of ``duty``, a shift a site load cut short
        (``Duty.cut_short``), as at a relief (``ShiftEnded``): a round under way is completed
        with what it has (``ended_early``), the later ones are dropped, and a clock-in not yet
        due is no longer owed. Once: a closed machine is let be."""
        for plan in self._routes.of_post(duty.post_id):
            patrol = self._patrols.get(f"{duty.shift_id}/{plan.route_id}")
            if patrol is not None and not patrol.closed:
                self._step_patrol(ctx, duty, plan, ShiftEnded(ended_at=duty.ends_at), now)
        self.attendance.relieve(ctx, duty, now)

    def leave_entered(
        self, ctx: BatchContext, guard_id: str, leave: LeaveApproved | LeaveCancelled, now: datetime
    ) -> None:
        """A leave of ``guard_id`` was entered, or cancelled (the presence machines have it):
        his shifts' patrol machines withdraw the missed alerts of windows it spanned, if
        approved by then (``LeaveEntered``), or raise those of excused windows its
        cancellation shows missed (``gateway.rules.patrol_leave``); his clock-in machines
        withdraw the late clock-in it excused, or end the excusal.

        The machines in memory, and, as the presence machines do, the saved closed ones of his
        shifts in the roster window that the leave overlaps (``closed_patrols``): a shift
        cut short before the papers were typed in is reached as much as one still running."""
        entered = (
            LeaveEntered(leave.leave_id, leave.starts_at, leave.ends_at, leave.approved_at)
            if isinstance(leave, LeaveApproved)
            else leave
        )
        duties = self._memory.duties
        for duty in duties.duties_of_guard(guard_id):
            for plan in self._routes.of_post(duty.post_id):
                if f"{duty.shift_id}/{plan.route_id}" in self._patrols:
                    self._step_patrol(ctx, duty, plan, entered, now)
        reached = self._reached(ctx, guard_id, leave, now)
        for state in closed_patrols(ctx.session, self._patrols, reached):
            closed_shift = duties.duty(state.shift_id)
            if closed_shift is not None:
                self._step_held(ctx, closed_shift, state, entered, now)
        self.attendance.leave_entered(ctx, guard_id, leave, now, reached)

    def _reached(
        self,
        ctx: BatchContext,
        guard_id: str,
        leave: LeaveApproved | LeaveCancelled,
        now: datetime,
    ) -> list[str]:
        """``guard_id``'s shifts in the roster window, begun by ``now``, that ``leave`` (or the
        leave cancelled) overlaps: those whose closed patrol and clock-in machines it may
        concern."""
        span = leave if isinstance(leave, LeaveApproved) else leave_of(ctx.session, leave.leave_id)
        if span is None:
            return []
        return [
            duty.shift_id
            for duty in self._memory.duties.duties_of_guard(guard_id)
            if duty.starts_at <= now
            and duty.starts_at < span.ends_at
            and span.starts_at < duty.ends_at
        ]

    def wands_downloaded(
        self, ctx: BatchContext, downloads: Mapping[str, datetime], now: datetime
    ) -> None:
        """Tell the patrol machines held here when their shift's wands were last downloaded
        (``{wand id: downloaded at}``, after the scans each brought were applied): what they
        waited for is judged now (``gateway.rules.patrol_wands``)."""
        for state, download in told_of(list(self._patrols.values()), downloads):
            duty = self._memory.duties.duty(state.shift_id)
            if duty is not None:
                # The machine as it is now: two of its wands may be in the one download.
                self._step_held(ctx, duty, self._patrols[state.machine_id], download, now)

    def fire_patrol(self, ctx: BatchContext, machine_id: str, now: datetime) -> None:
        """Tick the patrol machine ``machine_id``, due at ``now`` by the clock."""
        patrol = self._patrols.get(machine_id)
        if patrol is None:
            return
        duty = self._memory.duties.duty(patrol.shift_id)
        if duty is None:
            return
        due_at = patrol_rules.next_patrol_deadline(patrol, duty.patrol_policy)
        if due_at is not None and due_at <= now:
            self._step_held(ctx, duty, patrol, Tick(), now)
        self._patrols.reschedule(machine_id)  # popped: scheduled again from its state now

    def save(self, ctx: BatchContext, now: datetime) -> None:
        """Persist the machines changed in this transaction; forget closed ones."""
        save_patrols(ctx, self._patrols, self._memory.duties, now)
        self.attendance.save(ctx, now)
