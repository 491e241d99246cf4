"""Turning shift entries (concrete or weekly/daily roster lines) into concrete UTC shift instances.

Local times are read in the site's time zone; a roster line whose end is not after its start ends
on the next day (a night shift 20:00-08:00). Instances are half-open ``[starts_at, ends_at)``, so
a day shift ending at 20:00 and a night shift starting at 20:00 do not overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.site.schema import WEEKDAYS, ShiftEntry

__all__ = [
    "DAYS_AFTER",
    "DAYS_BEFORE",
    "ShiftInstance",
    "expand_entry",
    "expansion_days",
    "shift_id",
]

DAYS_BEFORE = 1
"""Roster lines are expanded from the day before the load (a night shift still running)..."""
DAYS_AFTER = 7
"""...to this many days after it."""

_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    """One concrete shift; ``entry_index`` is the position of its entry in the site's ``shifts``."""

    site_id: str
    guard_id: str
    post_id: str
    starts_at: datetime
    ends_at: datetime
    entry_index: int

    @property
    def id(self) -> str:
        return shift_id(self.guard_id, self.post_id, self.starts_at)


def shift_id(guard_id: str, post_id: str, starts_at: datetime) -> str:
    """The stable id of a shift: the same roster loaded again gives the same ids."""
    return f"{guard_id}/{post_id}/{starts_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def expansion_days(now: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First and last local start day for which roster lines are expanded, around ``now``."""
    today = now.astimezone(tz).date()
    return today - timedelta(days=DAYS_BEFORE), today + timedelta(days=DAYS_AFTER)


def expand_entry(
    entry: ShiftEntry, tz: ZoneInfo, first_day: date, last_day: date
) -> list[tuple[datetime, datetime]]:
    """The UTC ``(starts_at, ends_at)`` of ``entry``'s occurrences.

    A concrete entry gives itself wherever it falls; a roster line gives one occurrence per
    matching start day in ``[first_day, last_day]``. Raises ``ValueError`` with a message fit for
    the user when a time cannot be read or the shift has no length.
    """
    if entry.days is None:
        start = _local_datetime(entry.start, tz, "start")
        end = _local_datetime(entry.end, tz, "end")
        if end == start:
            raise ValueError(f"end {entry.end} equals start {entry.start}: the shift has no length")
        if end < start:
            raise ValueError(f"end {entry.end} is before start {entry.start}")
        return [(start, end)]

    start_t = _time_of_day(entry.start, "start")
    end_t = _time_of_day(entry.end, "end")
    if start_t == end_t:
        raise ValueError(
            f"end {entry.end} equals start {entry.start}: the shift has no length "
            "(write two shifts for a 24-hour duty)"
        )
    days = set(WEEKDAYS) if entry.days == "daily" else set(entry.days)
    overnight = end_t < start_t
    out: list[tuple[datetime, datetime]] = []
    day = first_day
    while day <= last_day:
        if WEEKDAYS[day.weekday()] in days:
            end_day = day + timedelta(days=1) if overnight else day
            out.append((_to_utc(day, start_t, tz), _to_utc(end_day, end_t, tz)))
        day += timedelta(days=1)
    return out


def _time_of_day(text: str, field: str) -> time:
    match = _TIME_OF_DAY.match(text.strip())
    if match is None:
        raise ValueError(f"{field} {text!r} is not a time of day (HH:MM) as a roster line needs")
    return time(int(match[1]), int(match[2]), int(match[3] or 0))


def _local_datetime(text: str, tz: ZoneInfo, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{field} {text!r} is not a local date-time (YYYY-MM-DDTHH:MM); "
            "give 'days' to make it a roster line"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def _to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
