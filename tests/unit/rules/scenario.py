"""A small driver for presence scenarios: a script of (offset_s, input) on a ManualClock.

Offsets are seconds from the shift start ``T0``. Fix builders take their device time from the
clock (minus an optional lag, to model a terminal uploading stored positions); reports, leaves
and cancellations are dated at the moment they are fed unless told otherwise. Like the runtime,
the driver ticks at every deadline that falls before the next input (``auto_tick``), and it can
be stopped from ticking to model a gateway that is down.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.clock import ManualClock
from gateway.policy import SitePolicy
from gateway.records import Alarm
from gateway.rules import (
    FixObserved,
    LeaveApproved,
    LeaveCancelled,
    PresenceState,
    ReportFiled,
    RuleEvent,
    RuleInput,
    Tick,
    step,
)
from geofence.membership import Membership

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
"""Shift start."""
SHIFT_S = 12 * 3600
DEVICE = "gps-7"

Build = Callable[[datetime], RuleInput]
Script = Sequence[tuple[float, Build]]

_DISTANCE_M = {Membership.INSIDE: -20.0, Membership.OUTSIDE: 180.0, Membership.UNCERTAIN: 8.0}


def at(offset_s: float) -> datetime:
    return T0 + timedelta(seconds=offset_s)


def secs(when: datetime) -> float:
    return (when - T0).total_seconds()


LAT, LON = 30.5928, 114.3055
"""Where every fix is, unless a builder moves it: a device that reports here all along is still."""
_DEG_PER_M = 1 / 111_195


def fix(
    membership: Membership,
    *,
    lag_s: float = 0,
    sos: bool = False,
    device: str = DEVICE,
    walk_mps: float = 0.0,
    worn: bool = True,
) -> Build:
    """A fix from ``device`` at the clock's time (less ``lag_s``). ``walk_mps`` moves the device
    north at that speed from ``T0`` (a device carried around); 0 keeps it where it is (still)."""

    def build(now: datetime) -> FixObserved:
        fix_time = now - timedelta(seconds=lag_s)
        north_m = walk_mps * secs(fix_time)
        return FixObserved(
            device_id=device,
            fix_time=fix_time,
            received_at=now,
            membership=membership,
            distance_m=_DISTANCE_M[membership],
            accuracy_m=8.0,
            lat=LAT + north_m * _DEG_PER_M,
            lon=LON,
            alarms=frozenset({Alarm.SOS}) if sos else frozenset(),
            raw=f"{device},{fix_time.isoformat()},{membership}",
            worn=worn,
        )

    return build


inside = fix(Membership.INSIDE)
outside = fix(Membership.OUTSIDE)
uncertain = fix(Membership.UNCERTAIN)


def track(
    start_s: float, end_s: float, build: Build, every_s: float = 30
) -> list[tuple[float, Build]]:
    """A fix every ``every_s`` seconds from ``start_s`` to ``end_s`` inclusive."""
    count = int((end_s - start_s) // every_s)
    return [(start_s + i * every_s, build) for i in range(count + 1)]


def report(report_id: str, *, filed_s: float | None = None) -> Build:
    """A verbal report made at ``filed_s`` (default: when fed), entered when it is fed."""

    def build(now: datetime) -> ReportFiled:
        filed = now if filed_s is None else at(filed_s)
        return ReportFiled(
            report_id,
            filed,
            expected_return_at=filed + timedelta(minutes=10),
            destination="canteen",
            reason="lunch",
            entered_at=now,
        )

    return build


def leave(
    leave_id: str, starts_s: float, ends_s: float, *, approved_s: float | None = None
) -> Build:
    """A leave for [starts_s, ends_s), approved at ``approved_s`` (default: when fed)."""

    def build(now: datetime) -> LeaveApproved:
        approved = now if approved_s is None else at(approved_s)
        return LeaveApproved(leave_id, at(starts_s), at(ends_s), "leader-1", approved)

    return build


def cancel(leave_id: str, *, cancelled_s: float | None = None) -> Build:
    """A cancellation made at ``cancelled_s`` (default: when fed), typed in when it is fed."""

    def build(now: datetime) -> LeaveCancelled:
        return LeaveCancelled(leave_id, now if cancelled_s is None else at(cancelled_s))

    return build


def tick(now: datetime) -> Tick:
    return Tick()


def shift(
    end_s: float = SHIFT_S,
    *,
    next_post_s: float | None = None,
    next_shift_s: float | None = None,
) -> PresenceState:
    """The test shift ("shift-1" of guard-1 at post-1, wearing ``DEVICE``) from ``T0`` to
    ``end_s``; the guard's next shift at another post, or at any, starting at the offsets
    given."""
    return PresenceState.start(
        "shift-1",
        "guard-1",
        "post-1",
        "site-1",
        [DEVICE],
        T0,
        at(end_s),
        next_post_at=None if next_post_s is None else at(next_post_s),
        next_shift_at=None if next_shift_s is None else at(next_shift_s),
    )


def restore(state: PresenceState) -> PresenceState:
    """What a restart loads: the state through its JSON text."""
    return PresenceState.from_json(json.loads(json.dumps(state.to_json())))


@dataclass
class Scenario:
    """Feeds a script to one shift's machine and keeps every event it emitted."""

    policy: SitePolicy = field(default_factory=SitePolicy)
    auto_tick: bool = True
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0 - timedelta(hours=1)))
    state: PresenceState = field(default_factory=lambda: shift())
    events: list[RuleEvent] = field(default_factory=list)

    def feed(self, item: RuleInput) -> list[RuleEvent]:
        self.state, out = step(self.state, item, self.clock.now(), self.policy)
        self.events.extend(out)
        return out

    def advance(self, offset_s: float) -> None:
        """Move the clock to ``offset_s``, ticking at each deadline on the way if auto-ticking."""
        target = at(offset_s)
        while self.auto_tick:
            deadline = self.state.next_deadline
            if deadline is None or deadline > target:
                break
            self.clock.set(max(deadline, self.clock.now()))
            self.feed(Tick())
            if self.state.next_deadline == deadline:
                break
        self.clock.set(max(target, self.clock.now()))

    def run(self, script: Iterable[tuple[float, Build]]) -> Scenario:
        for offset_s, build in sorted(script, key=lambda entry: entry[0]):
            self.advance(offset_s)
            self.feed(build(self.clock.now()))
        return self

    def pairs(self, *, skip: Sequence[str] = ("presence.arrived",)) -> list[tuple[str, float]]:
        """(type, device time as offset seconds) of every event, in emission order."""
        return [(e.type, secs(e.time)) for e in self.events if e.type not in skip]

    def timed(self, type_: str, *fields: str) -> list[tuple[object, ...]]:
        """(device time as offset seconds, then each of ``fields`` of its data) of every event
        of ``type_``, in emission order."""
        return [(secs(e.time), *(e.data[f] for f in fields)) for e in self.only(type_)]

    def only(self, type_: str) -> list[RuleEvent]:
        return [e for e in self.events if e.type == type_]
