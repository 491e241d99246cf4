"""A patrol route as the rules see it, and the rounds its schedule gives within one shift.

A round is one walk of the route. Each checkpoint has a window ``[window_start_s,
window_end_s]`` in seconds from the round's start, within which it must be scanned. Rounds start
either every ``every_s`` seconds from the shift start (plus ``offset_s``), or at local times of
day (``times``, read in ``timezone``). A round is planned only when it fits whole in the shift:
it starts at or after the shift start and its last window ends by the shift end, so every round
belongs to exactly one guard's shift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.clock import utc

__all__ = ["PlannedCheckpoint", "RoutePlan", "round_starts", "time_of_day"]

_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def time_of_day(text: str) -> time:
    """``"21:30"`` (or ``"21:30:15"``) as a time of day; ``ValueError`` naming the text."""
    match = _TIME_OF_DAY.match(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day (HH:MM)")
    return time(int(match[1]), int(match[2]), int(match[3] or 0))


@dataclass(frozen=True, slots=True)
class PlannedCheckpoint:
    """One checkpoint of a route and its window, in seconds from the round's start."""

    checkpoint_id: str
    window_start_s: float
    window_end_s: float

    def __post_init__(self) -> None:
        if not 0 <= self.window_start_s <= self.window_end_s:
            raise ValueError(
                f"checkpoint {self.checkpoint_id}: window [{self.window_start_s}, "
                f"{self.window_end_s}] must satisfy 0 <= start <= end"
            )


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """A route: its post, checkpoints in walking order, whether the order matters, schedule.

    Exactly one of ``every_s`` and ``times`` is given.
    """

    route_id: str
    post_id: str
    checkpoints: tuple[PlannedCheckpoint, ...]
    ordered: bool = True
    every_s: float | None = None
    offset_s: float = 0.0
    times: tuple[time, ...] = ()
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.checkpoints:
            raise ValueError(f"route {self.route_id} has no checkpoints")
        if (self.every_s is None) == (not self.times):
            raise ValueError(f"route {self.route_id}: give exactly one of every_s and times")
        if self.every_s is not None and self.every_s <= 0:
            raise ValueError(f"route {self.route_id}: every_s must be positive")

    @property
    def round_length_s(self) -> float:
        """From the round's start to the end of its last window."""
        return max(cp.window_end_s for cp in self.checkpoints)


def round_starts(
    plan: RoutePlan, shift_start: datetime, shift_end: datetime
) -> tuple[datetime, ...]:
    """The UTC start of every round of ``plan`` that fits whole in ``[shift_start, shift_end]``,
    in time order."""
    start, end = utc(shift_start), utc(shift_end)
    length = timedelta(seconds=plan.round_length_s)
    out: list[datetime] = []
    if plan.every_s is not None:
        every = timedelta(seconds=plan.every_s)
        at = start + timedelta(seconds=plan.offset_s)
        while at + length <= end:
            out.append(at)
            at += every
        return tuple(out)
    tz = ZoneInfo(plan.timezone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date()
    while day <= last_day:
        for at_time in plan.times:
            at = utc(datetime.combine(day, at_time, tzinfo=tz))
            if at >= start and at + length <= end:
                out.append(at)
        day += timedelta(days=1)
    return tuple(sorted(set(out)))
