"""What the presence machine emits: ``RuleEvent`` and the event types of the catalogue.

``RuleEvent.time`` is when the fact happened on the device clock (the first fix outside for a
departure, the deadline for an alert); ``data["detected_at"]`` is when the gateway noticed.
``key`` is deterministic (shift, type, episode), so the caller derives the event id from it and a
replay after a restart produces the same ids instead of new events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ALERT_ABSENT_AT_SHIFT_START",
    "ALERT_DEVICE_LEFT_BEHIND",
    "ALERT_DEVICE_SILENT",
    "ALERT_LEAVE_NOT_CANCELLED",
    "ALERT_LEAVE_OVERRUN",
    "ALERT_LEFT_EARLY",
    "ALERT_OVERTIME_DEPARTURE",
    "ALERT_SOS",
    "ALERT_UNREPORTED_DEPARTURE",
    "ALERT_WITHDRAWN",
    "BACKFILL_AFTER_S",
    "EVENT_TYPES",
    "LATE_AFTER_S",
    "LEAVE_CANCELLED",
    "PRESENCE_ARRIVED",
    "PRESENCE_DEPARTED",
    "PRESENCE_DEVICE_RESUMED",
    "PRESENCE_RETURNED",
    "RESTART_GRACE_S",
    "Json",
    "RuleEvent",
    "event_key",
    "withdrawal",
]

Json = str | int | float | bool | None | list["Json"] | dict[str, "Json"]
"""A JSON-serialisable value."""

PRESENCE_ARRIVED = "presence.arrived"
"""First fix inside the post in this shift (resolves ``alert.absent_at_shift_start``)."""
PRESENCE_DEPARTED = "presence.departed"
PRESENCE_RETURNED = "presence.returned"
PRESENCE_DEVICE_RESUMED = "presence.device_resumed"
LEAVE_CANCELLED = "leave.cancelled"
"""A leave used in this shift was cancelled (销假); says whether in time, resolves a late alert."""
ALERT_UNREPORTED_DEPARTURE = "alert.unreported_departure"
ALERT_OVERTIME_DEPARTURE = "alert.overtime_departure"
ALERT_LEAVE_OVERRUN = "alert.leave_overrun"
ALERT_LEAVE_NOT_CANCELLED = "alert.leave_not_cancelled"
ALERT_ABSENT_AT_SHIFT_START = "alert.absent_at_shift_start"
ALERT_DEVICE_SILENT = "alert.device_silent"
ALERT_SOS = "alert.sos"
ALERT_DEVICE_LEFT_BEHIND = "alert.device_left_behind"
"""One of the guard's worn devices sits still on the post while another is confirmed away: the
guard is where the moving device is; the one on the post was left behind (resolved by the
return)."""
ALERT_LEFT_EARLY = "alert.left_early"
"""The guard left the post before his shift ended and was not back by the end (早退)."""
ALERT_WITHDRAWN = "alert.withdrawn"
"""An alert found wrong by a later fact (a report or leave entered late whose own time covers
the departure): ``data.withdrawn_key``/``withdrawn_type`` name it, ``reason`` says why; the
alert row is resolved as withdrawn."""

EVENT_TYPES: tuple[str, ...] = (
    PRESENCE_ARRIVED,
    PRESENCE_DEPARTED,
    PRESENCE_RETURNED,
    PRESENCE_DEVICE_RESUMED,
    LEAVE_CANCELLED,
    ALERT_UNREPORTED_DEPARTURE,
    ALERT_OVERTIME_DEPARTURE,
    ALERT_LEAVE_OVERRUN,
    ALERT_LEAVE_NOT_CANCELLED,
    ALERT_ABSENT_AT_SHIFT_START,
    ALERT_DEVICE_SILENT,
    ALERT_SOS,
    ALERT_DEVICE_LEFT_BEHIND,
    ALERT_LEFT_EARLY,
    ALERT_WITHDRAWN,
)
"""Every type the presence machine can emit."""

BACKFILL_AFTER_S = 60.0
"""An event revealed by a fix whose device time is older than ``now`` by more than this is
``backfilled``: the terminal stored it while offline, or the gateway replayed history. A live
terminal's fix reaches the gateway within seconds, so a minute separates the two clearly."""
LATE_AFTER_S = 30.0
"""A deadline fired more than this after it was due is ``late`` (the gateway was down or stalled).
The runtime ticks as soon as a deadline is due, so in normal running the delay is under a second."""
RESTART_GRACE_S = LATE_AFTER_S
"""After a restart, how long the clock leaves the deadlines that came due while the gateway was
down to the messages the broker kept for it meanwhile (received now, dated then): they, not the
first tick, decide whether the guard was back or his terminal silent. No longer than
``LATE_AFTER_S``, so a deadline due just after the restart is not made late by the wait."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleEvent:
    """One fact or alert the rules produced.

    ``alert_key`` is set on ``alert.*`` events that open an alert (not on ``alert.withdrawn``):
    the episode's identity, the same for every update of one alert. ``resolves`` lists alert keys
    this event ends (a return ends the departure's alerts). ``data`` is JSON-serialisable; times
    in it are ISO 8601 UTC strings, durations are seconds.
    """

    type: str
    time: datetime
    key: str
    data: dict[str, Json]
    alert_key: str | None = None
    resolves: tuple[str, ...] = field(default=())
    withdraws: tuple[str, ...] = field(default=())
    """Alert keys this event declares wrong (``alert.withdrawn``): resolved as withdrawn, not as
    ended by the facts."""
    ended_at: datetime | None = None
    """When what ``resolves`` names ended, if not at ``time``: an alert found only after its
    condition was over (a leave typed in after an outing that overran it) opens at its own time
    and ends at the return."""


def event_key(shift_id: str, type_: str, episode: str) -> str:
    """The deterministic key of an event (and, for an alert, of its episode)."""
    return f"{shift_id}:{type_}:{episode}"


def withdrawal(
    machine_id: str,
    alert_key: str,
    alert_type: str,
    reason: str,
    now: datetime,
    data: dict[str, Json],
) -> RuleEvent:
    """The ``alert.withdrawn`` of ``alert_key`` (an ``alert_type`` raised by ``machine_id``),
    found wrong by a fact learned at ``now``: ``data`` with what names the alert and why."""
    return RuleEvent(
        type=ALERT_WITHDRAWN,
        time=now,
        key=event_key(machine_id, ALERT_WITHDRAWN, alert_key),
        data={
            **data,
            "withdrawn_key": alert_key,
            "withdrawn_type": alert_type,
            "reason": reason,
        },
        withdraws=(alert_key,),
    )
