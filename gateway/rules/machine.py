"""One run of ``step``: the working state, the events so far, and the deadline decisions.

Internal to the package. ``Run`` is short-lived and mutable; what leaves it is a new frozen
state and a list of events, so ``step`` stays a pure function.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from gateway.policy import SitePolicy

from .coverage import covering_leave, covering_report
from .deadlines import Deadline, Kind, pending_deadlines
from .entries import Departure, PendingCancel, departure_id_for, iso
from .events import (
    ALERT_ABSENT_AT_SHIFT_START,
    ALERT_DEVICE_SILENT,
    ALERT_LEAVE_NOT_CANCELLED,
    ALERT_LEAVE_OVERRUN,
    ALERT_OVERTIME_DEPARTURE,
    ALERT_UNREPORTED_DEPARTURE,
    BACKFILL_AFTER_S,
    LATE_AFTER_S,
    PRESENCE_DEPARTED,
    PRESENCE_RETURNED,
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
        """The new state (with its next deadline) and the events, in the order they happened."""
        pending = self.pending()
        due = pending[0].due if pending else None
        return replace(self.state, next_deadline=due, stepped_at=self.now), self.events

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
        device_id: str | None = None,
    ) -> str:
        """Append an event and return its key. ``deadline`` is the one that fired it, if any.

        ``late``: the deadline fired more than ``LATE_AFTER_S`` after it was due, and it came
        due after the previous step (so the gateway should have ticked in between: it was down or
        stalled). A deadline already past when the previous step ran was created in the past by
        backfilled data: not the gateway's delay. ``backfilled``: late, or the fix or deadline
        that revealed the event is older than ``BACKFILL_AFTER_S``.
        """
        state = self.state
        key = event_key(state.shift_id, type_, episode)
        previous = self.started.stepped_at
        late = (
            deadline is not None
            and _secs(self.now - deadline.due) > LATE_AFTER_S
            and (previous is None or deadline.due > previous)
        )
        revealed_at = deadline.due if deadline is not None else self.revealed_by
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
            )
        )
        return key

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

    def attach_leave(self, instant: datetime) -> None:
        """Put the open departure under the leave covering ``instant``, if it has none."""
        dep = self.state.departure
        if dep is None or dep.leave_id is not None:
            return
        leave = covering_leave(self.state.leaves, instant, self.policy)
        if leave is not None:
            self.state = replace(self.state, departure=replace(dep, leave_id=leave.leave_id))

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
            Kind.SILENT: self._silent,
            Kind.DEPART: self._depart,
            Kind.RETURN: self._return,
            Kind.UNREPORTED: self._unreported,
            Kind.OVERTIME: self._overtime,
            Kind.OVERRUN: self._overrun,
            Kind.CANCEL: self._not_cancelled,
            Kind.END: self._end,
        }
        handlers[deadline.kind](deadline)

    def close(self) -> None:
        """End the shift: nothing is tracked or fires any more. An open departure is dropped
        without a return event (the guard is off duty); alerts already open stay open."""
        self.state = replace(
            self.state,
            closed=True,
            outside_first=None,
            outside_last=None,
            departure=None,
            pending_cancels=(),
            sos_since=None,
        )

    def _end(self, deadline: Deadline) -> None:
        self.close()

    def _absent(self, deadline: Deadline) -> None:
        self.state = replace(self.state, absent_checked=True, absent_open=True)
        self.emit(
            ALERT_ABSENT_AT_SHIFT_START,
            deadline.due,
            iso(self.state.shift_start),
            {
                "shift_start": iso(self.state.shift_start),
                "grace_s": self.policy.shift_start_grace_s,
            },
            deadline=deadline,
            alert=True,
        )

    def _silent(self, deadline: Deadline) -> None:
        since = deadline.due - timedelta(seconds=self.policy.device_silent_s)
        self.state = replace(self.state, silent_since=since)
        last = self.state.last_received_at
        self.emit(
            ALERT_DEVICE_SILENT,
            deadline.due,
            iso(since),
            {
                "device_ids": list(self.state.device_ids),
                "last_received_at": None if last is None else iso(last),
                "silent_since": iso(since),
                "silent_s": self.policy.device_silent_s,
            },
            deadline=deadline,
            alert=True,
        )

    def _depart(self, deadline: Deadline) -> None:
        first, last = self.state.outside_first, self.state.outside_last
        assert first is not None and last is not None
        departure = Departure(
            departure_id=departure_id_for(self.state.shift_id, first.fix_time),
            first_fix=first,
            last_fix=last,
        )
        self.state = replace(self.state, departure=departure, outside_first=None, outside_last=None)
        self.attach_report()
        self.attach_leave(first.fix_time)
        dep = self.state.departure
        assert dep is not None
        self.emit(
            PRESENCE_DEPARTED,
            first.fix_time,
            iso(first.fix_time),
            {
                "departure_id": dep.departure_id,
                "started_at": iso(first.fix_time),
                "first_fix": first.to_json(),
                "last_fix": last.to_json(),
                "confirm_s": self.policy.departure_confirm_s,
                "report_id": dep.report_id,
                "leave_id": dep.leave_id,
            },
            deadline=deadline,
            device_id=last.device_id,
        )

    def _return(self, deadline: Deadline) -> None:
        dep = self.state.departure
        assert dep is not None and dep.inside_first is not None
        back = dep.inside_first
        self.emit(
            PRESENCE_RETURNED,
            back.fix_time,
            iso(dep.started_at),
            {
                "departure_id": dep.departure_id,
                "started_at": iso(dep.started_at),
                "returned_at": iso(back.fix_time),
                "duration_s": _secs(back.fix_time - dep.started_at),
                "return_fix": back.to_json(),
                "last_fix_outside": dep.last_fix.to_json(),
                "report_id": dep.report_id,
                "leave_id": dep.leave_id,
            },
            deadline=deadline,
            resolves=dep.open_alerts,
            device_id=back.device_id,
        )
        pending = self.state.pending_cancels
        leave = self.state.leave(dep.leave_id)
        if leave is not None and leave.cancelled_at is None:
            earlier = next((p for p in pending if p.leave_id == leave.leave_id), None)
            if earlier is None or earlier.alert_key is None:
                # A second outing under the same leave restarts the hour from the later return.
                others = tuple(p for p in pending if p.leave_id != leave.leave_id)
                pending = (
                    *others,
                    PendingCancel(leave.leave_id, dep.departure_id, back.fix_time),
                )
        self.state = replace(self.state, departure=None, pending_cancels=pending)

    def _unreported(self, deadline: Deadline) -> None:
        dep = self.state.departure
        assert dep is not None
        self.attach_report()
        self.attach_leave(dep.started_at)
        dep = self.state.departure
        assert dep is not None
        if dep.report_id is not None or dep.leave_id is not None:
            self.state = replace(self.state, departure=replace(dep, unreported_done=True))
            return
        key = self.emit(
            ALERT_UNREPORTED_DEPARTURE,
            dep.started_at,
            iso(dep.started_at),
            {
                "departure_id": dep.departure_id,
                "started_at": iso(dep.started_at),
                "first_fix": dep.first_fix.to_json(),
                "report_grace_s": self.policy.report_grace_s,
            },
            deadline=deadline,
            alert=True,
            device_id=dep.first_fix.device_id,
        )
        self.state = replace(
            self.state,
            departure=replace(dep, unreported_done=True, open_alerts=(*dep.open_alerts, key)),
        )

    def _overtime(self, deadline: Deadline) -> None:
        # A leave approved for this very moment turns the limit into the leave's end.
        self.attach_leave(deadline.due)
        dep = self.state.departure
        assert dep is not None
        if dep.leave_id is not None:
            return
        key = self.emit(
            ALERT_OVERTIME_DEPARTURE,
            deadline.due,
            iso(dep.started_at),
            {
                "departure_id": dep.departure_id,
                "started_at": iso(dep.started_at),
                "off_post_s": _secs(deadline.due - dep.started_at),
                "limit_s": self.policy.verbal_report_limit_s,
                "report_id": dep.report_id,
                "last_fix": dep.last_fix.to_json(),
            },
            deadline=deadline,
            alert=True,
            device_id=dep.last_fix.device_id,
        )
        self.state = replace(
            self.state,
            departure=replace(dep, overtime_done=True, open_alerts=(*dep.open_alerts, key)),
        )

    def _overrun(self, deadline: Deadline) -> None:
        dep = self.state.departure
        assert dep is not None and dep.leave_id is not None
        key = self.emit(
            ALERT_LEAVE_OVERRUN,
            deadline.due,
            iso(dep.started_at),
            {
                "departure_id": dep.departure_id,
                "started_at": iso(dep.started_at),
                "leave_id": dep.leave_id,
                "leave_ends_at": iso(deadline.due),
                "off_post_s": _secs(deadline.due - dep.started_at),
                "last_fix": dep.last_fix.to_json(),
            },
            deadline=deadline,
            alert=True,
            device_id=dep.last_fix.device_id,
        )
        self.state = replace(
            self.state,
            departure=replace(dep, overrun_done=True, open_alerts=(*dep.open_alerts, key)),
        )

    def _not_cancelled(self, deadline: Deadline) -> None:
        pending = next(p for p in self.state.pending_cancels if p.leave_id == deadline.ref)
        key = self.emit(
            ALERT_LEAVE_NOT_CANCELLED,
            deadline.due,
            pending.leave_id,
            {
                "leave_id": pending.leave_id,
                "departure_id": pending.departure_id,
                "returned_at": iso(pending.returned_at),
                "limit_s": self.policy.leave_cancel_limit_s,
            },
            deadline=deadline,
            alert=True,
        )
        fired = replace(pending, alert_key=key)
        self.state = replace(
            self.state,
            pending_cancels=tuple(
                fired if p.leave_id == pending.leave_id else p for p in self.state.pending_cancels
            ),
        )
