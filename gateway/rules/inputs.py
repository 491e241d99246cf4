"""What the presence machine is fed: fixes with their fence verdict, clock ticks, reports, leaves.

All are frozen dataclasses; every time is an aware UTC datetime. Device times (``fix_time``) are
evidence and measure durations; ``received_at`` is the gateway's time and measures silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from gateway.records import Alarm, PositionFix
from geofence.membership import Membership

if TYPE_CHECKING:
    from .entries import Leave, Report
    from .handover import Handover

__all__ = [
    "DevicesAssigned",
    "DutyContinued",
    "FixObserved",
    "LeaveApproved",
    "LeaveCancelled",
    "ReportFiled",
    "RuleInput",
    "ShiftEnded",
    "Tick",
]


@dataclass(frozen=True, slots=True)
class FixObserved:
    """One fix of one of the shift's terminals, annotated by the geofence stage.

    ``distance_m`` is the signed distance to the post's fence (negative inside). ``raw`` is the
    evidence text kept with every event the fix reveals. ``worn``: the fix comes from a device
    the guard carries (a GPS terminal, a phone); ``False`` for evidence from fixed equipment at
    the post (a checkpoint scan or a punch with his own tag, card or PIN), which places the
    guard there at that instant and is never "left behind". ``checks_out``: such evidence is
    a check-out punch (签退): he was there and says he is leaving; punched before the shift's
    end it opens a departure (:mod:`gateway.rules.check_out`).
    """

    device_id: str
    fix_time: datetime
    received_at: datetime
    membership: Membership
    distance_m: float
    accuracy_m: float | None
    lat: float
    lon: float
    alarms: frozenset[Alarm] = field(default_factory=frozenset)
    raw: str = ""
    worn: bool = True
    checks_out: bool = False

    @classmethod
    def from_fix(cls, fix: PositionFix, membership: Membership, distance_m: float) -> FixObserved:
        """Build the input from a pipeline ``PositionFix`` and the geofence verdict."""
        return cls(
            device_id=fix.device_id,
            fix_time=fix.fix_time,
            received_at=fix.received_at,
            membership=membership,
            distance_m=distance_m,
            accuracy_m=fix.accuracy_m,
            lat=fix.lat,
            lon=fix.lon,
            alarms=fix.alarms,
            raw=fix.raw,
        )


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock moved: fire every deadline due by ``now``.

    A tick asserts "nothing else has arrived up to now", so the runtime feeds every input it
    already holds (a whole batch upload) before ticking.
    """


@dataclass(frozen=True, slots=True)
class ReportFiled:
    """A verbal report (报备) of a short departure.

    ``reported_at`` is when the guard made it (phoned his leader): it decides which departure the
    report covers. ``entered_at`` is when it reached the gateway (the leader typed it in), kept as
    evidence; ``None`` means at ``reported_at``. A report entered after an unreported alert whose
    own time covers the departure withdraws that alert.
    """

    report_id: str
    reported_at: datetime
    expected_return_at: datetime | None = None
    destination: str | None = None
    reason: str | None = None
    entered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LeaveApproved:
    """An approved leave application (请假): off post is allowed in [starts_at, ends_at)."""

    leave_id: str
    starts_at: datetime
    ends_at: datetime
    approved_by: str
    approved_at: datetime


@dataclass(frozen=True, slots=True)
class LeaveCancelled:
    """The leave was cancelled (销假) at ``cancelled_at``."""

    leave_id: str
    cancelled_at: datetime


@dataclass(frozen=True, slots=True)
class ShiftEnded:
    """The shift ended before its scheduled end (relieved early) at ``ended_at`` (``None``:
    now); the machine closes at ``now``. Nothing after ``ended_at`` is watched."""

    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DutyContinued:
    """The guard's shift before this one, ``previous_shift_id`` at this post and ending at its
    start (a double shift, 连班), handed on what stood at its end (``PresenceState.handover``),
    with the reports and leaves the outing under way was under: this shift takes it over
    (``gateway.rules.handover``)."""

    previous_shift_id: str
    handover: Handover
    reports: tuple[Report, ...] = ()
    leaves: tuple[Leave, ...] = ()


@dataclass(frozen=True, slots=True)
class DevicesAssigned:
    """The guard's devices on the shift as the roster gives them now (a site load, or the
    roster read at a start): ``device_ids``, the offline patrol wands among them ``wands``, the
    terminals he wears ``worn`` (``PresenceState``'s fields of those names)."""

    device_ids: tuple[str, ...]
    wands: tuple[str, ...]
    worn: tuple[str, ...]


RuleInput = (
    FixObserved
    | Tick
    | ReportFiled
    | LeaveApproved
    | LeaveCancelled
    | ShiftEnded
    | DutyContinued
    | DevicesAssigned
)
"""Anything ``step`` accepts."""
