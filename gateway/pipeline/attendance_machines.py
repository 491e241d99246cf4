"""The attendance machine of each shift at a clock-in site, fed by punches and the clock.

Part of the checkpoint and clock-in stage (``gateway.pipeline.patrol_stage``), in the same
transaction. A punch is first stored as history (its unique key drops a re-sent record), then
resolved to a guard and fed to the attendance machine of his shift (``punch_duty``: a check-in
up to an hour early belongs to the shift it precedes, a check-out up to an hour late to the
shift it ends); the evidence it gives of his presence goes on to the
presence rules (a break-out punch is also his verbal report). A punch dated more than
``AHEAD_AT_MOST`` after it arrived (a terminal whose clock runs ahead) is dated by its arrival
for the rules, counted ``punches.clock_ahead``; its ``raw`` line keeps the terminal's reading.
One the driver dated by the gateway's clock, the terminal's found behind by more than two
minutes (binary: ``drivers.zkteco.clock_offset``; PUSH: ``drivers.zkteco.push_clock``), is
counted ``punches.clock_corrected``.
An unknown person is stored and reported (``attendance.unknown_person``), never dropped
silently; a punch of a guard whose rules run in another process is relayed to it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.db import repository as repo
from gateway.db.models import AttendanceStateRow
from gateway.pipeline.adjacent_shifts import duty_after, duty_before
from gateway.pipeline.alarm_stage import AHEAD_AT_MOST
from gateway.pipeline.context import BatchContext
from gateway.pipeline.deadline_queue import ATTENDANCE, ScheduledDict
from gateway.pipeline.duty import Duty, evidence_device
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.pipeline.new_duties import NewDuties
from gateway.pipeline.presence_stage import PresenceFeed
from gateway.pipeline.punch_duty import duty_of_punch
from gateway.pipeline.relay import relay_punch
from gateway.pipeline.unnamed_reads import UnnamedReads
from gateway.pipeline.window_states import open_states, refresh_machines, saved_states_of
from gateway.policy import SitePolicy
from gateway.records import Punch
from gateway.rules import LeaveApproved, LeaveCancelled, ShiftEnded, Tick
from gateway.rules import attendance as attendance_rules
from gateway.rules.attendance import AttendanceState, LeaveExcuses
from gateway.rules.copying import replace
from gateway.rules.deadlines import leave_excuses_until
from gateway.rules.patrol_presence import punch_presence_inputs
from gateway.rules.state import PresenceState
from gateway.site.tag_forms import read_form

__all__ = ["AttendanceMachines"]


class AttendanceMachines:
    """The attendance machines of the shifts in the roster window, by shift id.

    Reads the roster from ``memory.duties``, writes events through ``emitter`` and hands the
    evidence a punch gives of the guard's presence to ``presence``. The machines changed in a
    batch are named in the context's ``dirty_attendance`` and written by ``save``.
    """

    def __init__(
        self,
        memory: PipelineMemory,
        emitter: Emitter,
        presence: PresenceFeed,
        new: NewDuties,
        unnamed: UnnamedReads,
    ) -> None:
        self._memory = memory
        self._emitter = emitter
        self._presence = presence
        self._new = new
        self._unnamed = unnamed
        # Journaled: a failed transaction takes the machines back with it. Scheduled: each
        # machine's next deadline is kept in the memory's deadline queue.
        self.states = self._scheduled({})

    def _scheduled(self, items: dict[str, AttendanceState]) -> ScheduledDict[str, AttendanceState]:
        memory = self._memory
        return ScheduledDict(
            memory.journal,
            memory.deadlines,
            ATTENDANCE,
            lambda _shift_id, state: state.next_deadline,
            items.items(),
        )

    def reload(self, session: Session) -> None:
        """Re-read the saved machines of the shifts still in the roster window (after the
        memory's roster)."""
        attendance = open_states(
            session,
            self._memory.duties,
            key=AttendanceStateRow.shift_id,
            shift_id=AttendanceStateRow.shift_id,
            state=AttendanceStateRow.state,
        )
        self.states = self._scheduled(
            {shift: AttendanceState.from_json(state) for shift, state in attendance.items()}
        )

    def refresh(self, session: Session, new_shifts: Collection[str]) -> None:
        """Keep the machines in memory but those whose shift left the window; read the saved
        states of ``new_shifts`` only (after the memory's ``refresh``)."""
        refresh_machines(
            session,
            self.states,
            self._memory.duties,
            new_shifts,
            key=AttendanceStateRow.shift_id,
            shift_id=AttendanceStateRow.shift_id,
            state=AttendanceStateRow.state,
            shift_of=lambda shift, _state: shift,
            parse=AttendanceState.from_json,
        )

    def punches(self, ctx: BatchContext, punches: Sequence[Punch], now: datetime) -> list[bool]:
        """Store and apply punches; return, per punch, whether it was new."""
        fresh = prepo.insert_punches(ctx.session, punches)
        for punch, is_new in zip(punches, fresh, strict=True):
            if not is_new:
                ctx.counters.add("punches.duplicate")
                continue
            ctx.counters.add("punches.stored")
            if punch.clock_corrected_s:
                ctx.counters.add("punches.clock_corrected")
            self._punch(ctx, punch, now)
        return fresh

    def apply_punch(self, ctx: BatchContext, punch: Punch, now: datetime) -> None:
        """Apply a punch already stored (one relayed by another process: ``relay``)."""
        self._punch(ctx, punch, now)

    def _punch(self, ctx: BatchContext, punch: Punch, now: datetime) -> None:
        duties = self._memory.duties
        stored = punch  # as its row has it: what a relay names it by
        if punch.punched_at > punch.received_at + AHEAD_AT_MOST:
            # A terminal whose clock runs ahead: a punch cannot be made after it arrives. Dated
            # by its arrival for the rules (the row keeps the terminal's time, which a re-sent
            # record is recognised by), as an SOS is; else a break-out dated after the walk
            # out it reports covered nothing, and a check-in read as hours late.
            ctx.counters.add("punches.clock_ahead")
            punch = replace(punch, punched_at=punch.received_at)
        guard_id = prepo.guard_for_person(
            ctx.session, punch.terminal_id, punch.person_id, form=read_form(punch.source_format)
        )
        if guard_id is None:
            self._unnamed.punch(ctx, punch, now)
            return
        duty = duty_of_punch(duties, guard_id, punch, self._checked_in_at)
        if duty is None:
            if not duties.holds(guard_id):  # his rules run in another process: hand it over
                relay_punch(ctx.session, stored, guard_id, ctx.now)
                ctx.counters.add("punches.relayed")
                return
            ctx.counters.add("punches.off_duty")
            return
        state = self._state(duty, ctx.session)
        new_state, events = attendance_rules.step(state, punch, now, duty.patrol_policy)
        self._set(ctx, duty, state, new_state)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)
        if new_state is not state:
            self._carry_over(ctx, duty, new_state, now)
        terminal_post = duties.post_of_device(punch.terminal_id)
        centre = duty.fence.wgs84.centroid
        for rule_input in punch_presence_inputs(
            punch,
            terminal_at_post=terminal_post == duty.post_id,
            lat=centre.y,
            lon=centre.x,
            device_id=evidence_device(duty, punch.terminal_id),
        ):
            self._presence.feed(ctx, duty, rule_input)

    def _carry_over(
        self, ctx: BatchContext, duty: Duty, state: AttendanceState, now: datetime
    ) -> None:
        """The machine of the shift his duty goes on in after ``duty`` (``duty_after``),
        started already, follows what a punch of ``duty`` pushed late changed
        (``attendance.carried_over``)."""
        after = duty_after(duty, self._memory.duties)
        held = None if after is None else self.states.get(after.shift_id)
        if after is None or held is None:
            return
        new, events = attendance_rules.carried_over(held, state, now, after.patrol_policy)
        self._set(ctx, after, held, new)
        for event in events:
            self._emitter.emit(ctx, event, subject=after.guard_id, duty=after)

    def _checked_in_at(self, shift_id: str) -> datetime | None:
        held = self.states.get(shift_id)
        return None if held is None else held.checked_in_at

    def _state(self, duty: Duty, session: Session | None = None) -> AttendanceState:
        """The machine of ``duty``, its saved one (with ``session``: a punch for a shift whose
        machine closed, at a relief, and was let go), or a new one: clocked in already when it
        continues his duty without a break (a double shift, or a move to another post by a site
        load: ``adjacent_shifts.duty_before``, ``AttendanceState.continuing``)."""
        held = self.states.get(duty.shift_id)
        if held is not None:
            return held
        saved = None if session is None else prepo.load_attendance_state(session, duty.shift_id)
        if saved is not None:
            # Before, a punch pushed late for a relieved shift started a new machine, which
            # raised the late clock-in the closed one had settled.
            return AttendanceState.from_json(saved)
        fresh = AttendanceState.start(
            duty.shift_id,
            duty.guard_id,
            duty.post_id,
            duty.site_id,
            duty.starts_at,
            duty.ends_at,
            self._new.clock_in_known_from(duty),
        )
        before = duty_before(duty, self._memory.duties)
        held = None if before is None else self.states.get(before.shift_id)
        return fresh if held is None else fresh.continuing(held)

    def _set(
        self, ctx: BatchContext, duty: Duty, old: AttendanceState, new: AttendanceState
    ) -> None:
        # A closed machine read back for a late input and left unchanged is not written again.
        if new != old or (duty.shift_id not in self.states and not new.closed):
            self.states[duty.shift_id] = new
            ctx.dirty_attendance.add(duty.shift_id)

    def start(self, ctx: BatchContext, duty: Duty, now: datetime) -> None:
        """Start the machine of ``duty`` (its start has come) if it has none, waiting for its
        clock-in deadline (not for a first tick to learn it: see ``PresenceMachines._start``),
        counted from the end of a leave covering the start (the shift's presence machine,
        started first, knows his leaves)."""
        if duty.shift_id not in self.states:
            fresh = self._excused(duty, self._state(duty))
            fresh = attendance_rules.scheduled(fresh, now, duty.patrol_policy)
            self._set(ctx, duty, fresh, fresh)

    def fire(self, ctx: BatchContext, shift_id: str, now: datetime) -> None:
        """Tick the machine of ``shift_id``, due at ``now`` by the clock: the clock-in grace
        counted from the end of a leave over the start known by then (one approved after the
        machine started moves the deadline when it comes; excusing only delays it)."""
        state = self.states.get(shift_id)
        duty = self._memory.duties.duty(shift_id)
        if state is None or duty is None:
            return
        if state.next_deadline is not None and state.next_deadline <= now:
            self._step(ctx, duty, self._excused(duty, state), Tick(), now, old=state)
        self.states.reschedule(shift_id)  # popped: scheduled again from its state now

    def _excused(self, duty: Duty, state: AttendanceState) -> AttendanceState:
        """``state`` with ``excused_until`` from the leaves the shift's presence machine holds
        (unchanged when it has none in memory)."""
        presence = self._memory.presence.get(duty.shift_id)
        if presence is None:
            return state
        until = leave_excuses_until(presence, duty.policy)
        return state if until == state.excused_until else replace(state, excused_until=until)

    def follow_load(self, ctx: BatchContext, now: datetime) -> None:
        """Give the machines of the shifts a site load changed the new end, or the clock-in
        deadline the new limits bring sooner (see ``PresenceMachines.follow_load``)."""
        duties = self._memory.duties
        ends_moved, changed = duties.ends_moved, duties.limits_changed
        for shift_id in list(self.states if ends_moved is None else ends_moved | changed):
            state, duty = self.states.get(shift_id), duties.duty(shift_id)
            if state is None or duty is None or duty.cut_short or state.closed:
                continue
            if state.shift_end != duty.ends_at:
                moved = replace(state, shift_end=duty.ends_at)
                self._step(ctx, duty, moved, Tick(), now, old=state)
            elif (ends_moved is None or shift_id in changed) and attendance_rules.due_sooner(
                state, duty.patrol_policy
            ):
                self._step(ctx, duty, state, Tick(), now)

    def leave_entered(
        self,
        ctx: BatchContext,
        guard_id: str,
        leave: LeaveApproved | LeaveCancelled,
        now: datetime,
        reached: Collection[str] = (),
    ) -> None:
        """A leave of ``guard_id`` was entered, or cancelled (the presence machines have it):
        each of his shifts' clock-in machines takes the excusal the shift's presence machine
        now gives, which withdraws a late clock-in raised before, if the leave was approved by
        then (``attendance_rules.LeaveExcuses``); a cancellation (销假) ends the excusal at
        once. The machines in memory, and the saved closed ones of ``reached`` (his shifts
        the leave overlaps): a shift cut short by a site load before the leader typed the leave
        in the next morning is reached as much as one still running, and stays closed."""
        duties = self._memory.duties
        for duty in duties.duties_of_guard(guard_id):
            state = self.states.get(duty.shift_id)
            if state is not None and not state.closed:
                self._excuse(ctx, duty, state, leave, now)
        for state in self._closed(ctx.session, reached):
            closed_shift = duties.duty(state.shift_id)
            if closed_shift is not None:
                self._excuse(ctx, closed_shift, state, leave, now)

    def _excuse(
        self,
        ctx: BatchContext,
        duty: Duty,
        state: AttendanceState,
        leave: LeaveApproved | LeaveCancelled,
        now: datetime,
    ) -> None:
        presence = self._memory.presence.get(duty.shift_id)
        if presence is None and state.closed:
            saved = repo.load_presence_state(ctx.session, duty.shift_id)
            presence = None if saved is None else PresenceState.from_json(saved)
        on_record = None if presence is None else presence.leave(leave.leave_id)
        if on_record is None or presence is None:
            return
        until = leave_excuses_until(presence, duty.policy)
        approved_by = _approved_by(presence, duty.policy)
        excuses = LeaveExcuses(leave.leave_id, on_record.approved_at, until, approved_by)
        self._step(ctx, duty, state, excuses, now)

    def _closed(self, session: Session, shift_ids: Collection[str]) -> list[AttendanceState]:
        """The saved machines of ``shift_ids`` not held because they closed, by shift id; read
        in slices of ids, one statement each."""
        saved = saved_states_of(
            session,
            shift_ids,
            key=AttendanceStateRow.shift_id,
            shift_id=AttendanceStateRow.shift_id,
            state=AttendanceStateRow.state,
        )
        return [
            AttendanceState.from_json(state)
            for shift_id, _shift, state in sorted(saved, key=lambda row: row[0])
            if shift_id not in self.states and state.get("closed")
        ]

    def relieve(self, ctx: BatchContext, duty: Duty, now: datetime) -> None:
        """Close the machine of ``duty``, a shift a site load cut short (``ShiftEnded``)."""
        state = self.states.get(duty.shift_id)
        if state is not None and not state.closed:
            self._step(ctx, duty, state, ShiftEnded(ended_at=duty.ends_at), now)

    def _step(
        self,
        ctx: BatchContext,
        duty: Duty,
        state: AttendanceState,
        rule_input: Tick | ShiftEnded | LeaveExcuses,
        now: datetime,
        *,
        old: AttendanceState | None = None,
    ) -> None:
        """Apply ``rule_input`` to ``state`` (``old``: the machine held, when ``state`` is a
        changed copy of it not yet kept) and keep the result and its events."""
        new_state, events = attendance_rules.step(state, rule_input, now, duty.patrol_policy)
        self._set(ctx, duty, state if old is None else old, new_state)
        for event in events:
            self._emitter.emit(ctx, event, subject=duty.guard_id, duty=duty)

    def save(self, ctx: BatchContext, now: datetime) -> None:
        """Persist the machines changed in this transaction; forget closed ones."""
        for shift_id in sorted(ctx.dirty_attendance):
            state = self.states[shift_id]
            prepo.save_attendance_state(
                ctx.session,
                shift_id=shift_id,
                guard_id=state.guard_id,
                state=state.to_json(),
                next_deadline=state.next_deadline,
                now=now,
            )
            if state.closed:
                del self.states[shift_id]


def _approved_by(
    presence: PresenceState, policy: SitePolicy
) -> Callable[[datetime], datetime | None]:
    """Until when the leaves of ``presence`` approved by a time excuse the guard."""

    def excused(when: datetime) -> datetime | None:
        approved = tuple(lv for lv in presence.leaves if lv.approved_at <= when)
        return leave_excuses_until(replace(presence, leaves=approved), policy)

    return excused
