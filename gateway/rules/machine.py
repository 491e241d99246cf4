"""One run of ``step``: the working state, the events so far, and the deadline decisions.

Internal to the package. ``Run`` is short-lived and mutable; what leaves it is a new frozen
state and a list of events, so ``step`` stays a pure function.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.clock import utc
from gateway.policy import SitePolicy

from . import arrival, cancellations, handover, holds, offpost, silence
from .copying import replace
from .coverage import covering_leave, covering_report
from .deadlines import Deadline, Kind, pending_deadlines
from .entries import Departure, iso
from .events import (
    ALERT_ABSENT_AT_SHIFT_START,
    ALERT_LEFT_EARLY,
    ALERT_WITHDRAWN,
    BACKFILL_AFTER_S,
    LATE_AFTER_S,
    Json,
    RuleEvent,
    event_key,
)
from .state import PresenceState

__all__ = ["Run"]

_MAX_FIRINGS = 1000
"""Each firing settles its deadline, so a loop longer than this is a bug, not a busy shift."""


def _secs(delta: timedelta) -> float:
    return delta.total_seconds()


class Run:
    """The context of one step: state, clock reading, policy, and the events emitted."""

    def __init__(self, state: PresenceState, now: datetime, policy: SitePolicy) -> None:
        self.state = state
        self.started = state
        self.now = now
        self.policy = policy
        self.events: list[RuleEvent] = []
        self.revealed_by: datetime | None = None
        """Device time of the fix being processed: events it reveals are backfilled if old."""
        self._pending_of: PresenceState | None = None
        self._pending: list[Deadline] = []
        self._awaited_at_start: frozenset[Deadline] | None = None

    def pending(self) -> list[Deadline]:
        """The deadlines of the working state, earliest first (do not modify the list).

        Derived once per distinct state object: states are immutable and the policy is fixed for
        the run, so the same object always has the same deadlines.
        """
        if self._pending_of is not self.state:
            self._pending = pending_deadlines(self.state, self.policy)
            self._pending_of = self.state
        return self._pending

    def finish(self) -> tuple[PresenceState, list[RuleEvent]]:
        """The new state (with its next deadline) and the events, in the order they happened.
        An ended machine left with nothing owed closes (``close``), whichever input settled its
        last decision: a cancellation or report typed in after the end, as much as a deadline."""
        pending = self.pending()
        if self.state.ended and not self.state.closed and not pending:
            self.close()
        due = holds.next_tick(
            self.state, self.now, pending[0].due if pending else None, self.policy
        )
        return replace(self.state, next_deadline=due, stepped_at=self.now), self.events

    def tick_horizon(self) -> datetime:
        """How far a tick (or a report or leave typed in) fires deadlines: up to now, except
        while data that may settle them may still arrive (after a restart, during a terminal's
        backfill, at the end while a terminal is quiet: ``gateway.rules.holds``). Those wait
        for it (``RESTART_GRACE_S``; ``end_upload_wait_s``), then fire."""
        hold = holds.held(self.state, self.now, self.policy)
        return self.now if hold is None else min(self.now, hold[0])

    # -- emitting -------------------------------------------------------------------------

    def emit(
        self,
        type_: str,
        time: datetime,
        episode: str,
        data: dict[str, Json],
        *,
        deadline: Deadline | None = None,
        alert: bool = False,
        resolves: tuple[str, ...] = (),
        withdraws: tuple[str, ...] = (),
        device_id: str | None = None,
        live: bool = False,
        ended_at: datetime | None = None,
    ) -> str:
        """Append an event and return its key. ``deadline`` is the one that fired it, if any.

        ``late``: the deadline fired more than ``LATE_AFTER_S`` after it was due, and either it
        came due while the gateway was not running (``unwatched_*``, set at start-up, so the
        flag holds whether a queued fix or the first tick fires it), or the state was already
        waiting for it when this step began and it came due after the previous step (the
        gateway should have ticked in between: it stalled). A deadline already past when the
        previous step ran, in a running gateway, was created in the past by backfilled data; one
        this very step created already past (the fix confirming a departure comes three
        minutes after the first one outside, when the terminal saves power) was revealed by
        that input: neither is the gateway's delay. ``backfilled``: late, or the fix or
        deadline that revealed the event is older than ``BACKFILL_AFTER_S`` (for a deadline this
        step created, the input that created it); never for a ``live`` event (one about
        hearing from a terminal now). Neither for a deadline a tick fires after the state put it
        off for data that did not come (``_waited_in_vain``: the end's wait for a quiet
        terminal): the wait was the rule's, and no old data decided it.
        """
        state = self.state
        key = event_key(state.shift_id, type_, episode)
        waited = deadline is not None and self._waited_in_vain(deadline)
        late = deadline is not None and not waited and self._late(deadline)
        revealed_at = self.revealed_by
        if deadline is not None and (revealed_at is None or self._awaited(deadline)):
            revealed_at = deadline.due
        if live or waited:
            revealed_at = None
        old = revealed_at is not None and _secs(self.now - revealed_at) > BACKFILL_AFTER_S
        payload: dict[str, Json] = {
            "guard_id": state.guard_id,
            "post_id": state.post_id,
            "site_id": state.site_id,
            "shift_id": state.shift_id,
            "device_id": device_id if device_id is not None else state.last_device_id,
            "detected_at": iso(self.now),
            "backfilled": late or old,
            "late": late,
        }
        payload.update(data)
        self.events.append(
            RuleEvent(
                type=type_,
                time=time,
                key=key,
                data=payload,
                alert_key=key if alert else None,
                resolves=resolves,
                withdraws=withdraws,
                ended_at=ended_at,
            )
        )
        return key

    def _late(self, deadline: Deadline) -> bool:
        due = deadline.due
        if _secs(self.now - due) <= LATE_AFTER_S:
            return False
        start, until = self.state.unwatched_from, self.state.unwatched_until
        if start is not None and until is not None and start <= due <= until:
            return True
        if not self._awaited(deadline):
            return False
        previous = self.started.stepped_at
        return previous is None or due > previous

    def _waited_in_vain(self, deadline: Deadline) -> bool:
        """Whether a tick fires ``deadline`` later than it fell because the state asked for no
        tick before then: it waited for data that did not come (``holds``: no upload, backlog
        or held fix on its way), or a site load's new limits moved it before that tick. Either
        way the gateway did not stall, and no old data decided it."""
        started = self.started
        asked = started.next_deadline
        return (
            self.revealed_by is None
            and asked is not None
            and asked > deadline.due
            and started.backfill_at is None
            and started.unwatched_until is None
            and not started.held
        )

    def _awaited(self, deadline: Deadline) -> bool:
        """Whether the state this step began from was already waiting for ``deadline``."""
        if self._awaited_at_start is None:
            self._awaited_at_start = frozenset(pending_deadlines(self.started, self.policy))
        return deadline in self._awaited_at_start

    # -- coverage -------------------------------------------------------------------------

    def attach_report(self) -> None:
        """Give the open departure the report covering it, if one is on record and it has none."""
        dep = self.state.departure
        if dep is None or dep.report_id is not None:
            return
        report = covering_report(self.state.reports, dep.started_at, self.policy)
        if report is None:
            return
        used = replace(report, used_by=dep.departure_id)
        reports = tuple(used if r.report_id == report.report_id else r for r in self.state.reports)
        self.state = replace(
            self.state, reports=reports, departure=replace(dep, report_id=report.report_id)
        )

    def attach_leave(
        self,
        instant: datetime,
        *,
        approved_by: datetime | None = None,
        entered_by: datetime | None = None,
    ) -> None:
        """Put the open departure under the leave covering ``instant``, if it has none;
        with ``approved_by``, only a leave approved by then: a decision taken late (an upload
        after a blind area) weighs what was on record when it fell, as it would have live;
        with ``entered_by``, only a leave typed in by then (``Leave.entered``)."""
        dep = self.state.departure
        if dep is None or dep.leave_id is not None:
            return
        leaves = self.state.leaves
        if approved_by is not None:
            leaves = tuple(lv for lv in leaves if lv.approved_at <= approved_by)
        if entered_by is not None:
            leaves = tuple(lv for lv in leaves if lv.entered <= entered_by)
        leave = covering_leave(leaves, instant, self.policy)
        if leave is not None:
            self.state = replace(self.state, departure=replace(dep, leave_id=leave.leave_id))

    def withdraw(
        self,
        key: str,
        alert_type: str,
        reason: str,
        data: dict[str, Json],
        *,
        device_id: str | None = None,
    ) -> None:
        """Emit ``alert.withdrawn`` for the alert ``key`` of ``alert_type``, found wrong by a
        fact the gateway learned now (dated now): ``reason`` and ``data`` say which."""
        self.emit(
            ALERT_WITHDRAWN,
            self.now,
            key,
            {"withdrawn_key": key, "withdrawn_type": alert_type, "reason": reason, **data},
            withdraws=(key,),
            device_id=device_id,
        )

    # -- deadlines ------------------------------------------------------------------------

    def fire_due(self, until: datetime) -> None:
        """Fire, in time order, every deadline due at or before ``until``."""
        for _ in range(_MAX_FIRINGS):
            pending = self.pending()
            if not pending or pending[0].due > until:
                return
            self._fire(pending[0])
        raise RuntimeError(f"shift {self.state.shift_id}: deadlines do not settle")

    def _fire(self, deadline: Deadline) -> None:
        handlers = {
            Kind.ABSENT: self._absent,
            Kind.SILENT: lambda d: silence.decide_silent(self, d),
            Kind.RESUME: lambda d: silence.resume(self),
            Kind.RETURN: lambda d: cancellations.confirm_return(self, d),
            Kind.UNREPORTED: lambda d: offpost.decide_unreported(self, d),
            Kind.OVERTIME: lambda d: offpost.decide_overtime(self, d),
            Kind.OVERRUN: lambda d: offpost.decide_overrun(self, d),
            Kind.CANCEL: lambda d: offpost.decide_not_cancelled(self, d),
            Kind.ARRIVE: lambda d: arrival.confirm_arrival(self, d),
            Kind.END: self._end,
        }
        handlers[deadline.kind](deadline)

    def close(self) -> None:
        """Close the machine: nothing is tracked or fires any more. A departure still open is
        kept among the past ones (a report entered late may still withdraw its alert); alerts
        already open stay open."""
        state = self.state
        if state.departure is not None:
            state = replace(state.with_past(state.departure), departure=None)
        # A leave whose not-cancelled alert fired stays listed: its late cancellation still
        # resolves the alert.
        fired = tuple(p for p in state.pending_cancels if p.alert_key is not None)
        self.state = replace(
            state,
            closed=True,
            ended=True,
            tracks=(),
            pending_cancels=fired,
            resume_pending=None,
            held=(),
        )

    def _end(self, deadline: Deadline) -> None:
        """The shift ends: position is no longer tracked (the guard is off duty). A departure
        still open at the end, begun before it by more than the tolerance and not under a leave
        reaching the end, is leaving early (早退). Decisions owed for the shift stay pending.
        When his next shift at this post starts now (``PresenceState.continued``, a double
        shift) his duty goes on: what stands is handed to that shift (``handover``). A relief
        that waited for a quiet terminal's upload (``relieved``) ends here as a relief."""
        self._finish_shift(None if self.state.relieved_at is not None else deadline)

    def relieved(self, at: datetime | None = None, *, wait_for_upload: bool = False) -> None:
        """A person ended the shift early at ``at`` (default: now; the guard was relieved): as
        at the scheduled end, except that an outing under way is not leaving early. His duty
        ends then (``PresenceState.relieved_at``, the earliest relief when told twice): a
        leave he is out on that runs past it is owed its cancellation from its end, as at the
        scheduled end.

        ``wait_for_upload``: when a worn terminal is quiet at the relief, the machine ends as
        at the scheduled end, once the positions it stored before the relief are in or the
        end's wait is over (``holds.end_wait``: its ``Kind.END`` deadline, now at the relief),
        so that an outing they show before the relief is judged; at once otherwise."""
        if not self.state.ended:
            when = self.now if at is None else utc(at)
            earliest = self.state.shift_end
            if self.state.relieved_at is not None:
                earliest = min(earliest, self.state.relieved_at)
            self.state = replace(self.state, relieved_at=min(when, earliest))
            waiting = holds.end_wait(self.state, self.policy) if wait_for_upload else None
            if waiting is not None and self.now < waiting[1]:
                return
        self._finish_shift(None)

    def _finish_shift(self, deadline: Deadline | None) -> None:
        if self.state.resume_pending is not None:
            # Heard again by an upload that came after the end, while it waited for it
            # (holds.end_wait): the silence is over, after what the upload revealed.
            silence.resume(self)
        state = self.state
        dep = state.departure
        if deadline is not None and state.continued:
            # 连班: his duty goes on in the next shift at this post, which judges the outing.
            self.state = state = handover.handed_at_end(state)
            dep = None
        if dep is not None:
            if deadline is not None:
                dep = replace(dep, left_early_alert=self._left_early(dep, deadline))
            owed = cancellations.owed_past_the_end(state, dep)
            if owed is not None:
                # A leave taken at the end of the duty is still to be cancelled (销假).
                self.state = replace(
                    self.state, pending_cancels=(*self.state.pending_cancels, owed)
                )
            if dep.unreported_done:
                state = replace(self.state.with_past(dep), departure=None)
            else:
                state = replace(self.state, departure=replace(dep, inside_first=None))
        self.state = replace(state, ended=True, tracks=(), resume_pending=None, held=())
        if not pending_deadlines(self.state, self.policy):
            self.close()

    def _left_early(self, dep: Departure, deadline: Deadline) -> str | None:
        """Raise ``alert.left_early`` for ``dep``, open at the end, unless excused; its key."""
        end = self.state.shift_end
        if _secs(end - dep.started_at) < self.policy.early_leave_tolerance_s:
            return None
        leave = self.state.leave(dep.leave_id)
        if leave is not None and leave.ends_at >= end and leave.active_at(end):
            return None
        return self.emit(
            ALERT_LEFT_EARLY,
            end,
            iso(dep.started_at),
            {
                "departure_id": dep.departure_id,
                "left_at": iso(dep.started_at),
                "shift_end": iso(end),
                "left_before_end_s": _secs(end - dep.started_at),
                "report_id": dep.report_id,
                "leave_id": dep.leave_id,
                "checked_out": dep.checked_out,
                "last_fix": dep.last_fix.to_json(),
            },
            deadline=deadline,
            alert=True,
            device_id=dep.last_fix.device_id,
        )

    def _absent(self, deadline: Deadline) -> None:
        self.state = replace(
            self.state, absent_checked=True, absent_open=True, absent_raised_at=deadline.due
        )
        payload: dict[str, Json] = {
            "shift_start": iso(self.state.shift_start),
            "grace_s": self.policy.shift_start_grace_s,
        }
        if self.state.known_from is not None:
            # The grace ran from the load that made the shift known, not from its start.
            payload["known_from"] = iso(self.state.known_from)
        self.emit(
            ALERT_ABSENT_AT_SHIFT_START,
            deadline.due,
            self.state.absence_episode,
            payload,
            deadline=deadline,
            alert=True,
        )
