"""The notice for a patrol round at a set time that fits in no shift at its post.

Only rounds that fit whole in a shift are planned (``gateway.rules.patrol_plan``): each belongs
to one guard's shift. A route's round at a time of day (``schedule.times``) that a shift change
cuts (13:55 to 14:05, the day shift ending at 14:00 and the night shift starting then) fits in
neither, so it is never planned: nobody is sent on it, and nobody is raised *checkpoint missed*
when it is not walked. A leader who wrote it expects a round there; the notice names it.

Shifts are taken by their time of day and length (a roster line's ``start``/``end``, an ``end``
not after ``start`` being the next day; a concrete shift's local date-times), whatever their
days: the notice names a round that fits in none of them on any day.
"""

from __future__ import annotations

from datetime import datetime

from gateway.rules.patrol_plan import time_of_day
from gateway.site.schema import ShiftEntry, SiteEntry

__all__ = ["unplanned_round_notices"]

_DAY_MIN = 24 * 60


def unplanned_round_notices(i: int, site: SiteEntry) -> list[str]:
    """A notice, placed on the route (``sites[i].routes[k] (id '...')``), for each time of day
    of a route's schedule whose round fits in no shift at the route's post (module docstring).
    A post with no shift at all is not named here (nobody patrols it)."""
    notices: list[str] = []
    for k, route in enumerate(site.routes):
        times = route.schedule.times
        spans = [s for s in map(_span, (s for s in site.shifts if s.post == route.post)) if s]
        if not times or not spans:
            continue
        length = max(cp.window_min[1] for cp in route.checkpoints)
        for text in times:
            try:
                at = time_of_day(text)
            except ValueError:
                continue  # the loader says so
            start = at.hour * 60 + at.minute + at.second / 60
            if any(_fits(start, length, span) for span in spans):
                continue
            notices.append(
                f"sites[{i}].routes[{k}] (id '{route.id}'): its round at {text} (lasting "
                f"{length:g} minutes) fits in no shift at post '{route.post}': only rounds that "
                "fit whole in a shift are planned, so it is never walked nor raised missed; "
                "move it, or the shift change, so that it ends by a shift's end"
            )
    return notices


def _span(shift: ShiftEntry) -> tuple[float, float] | None:
    """The shift's start as minutes of the day and its length in minutes (``None``: unreadable,
    which the loader reports)."""
    try:
        if shift.days is not None:
            begin, end = time_of_day(shift.start), time_of_day(shift.end)
            first = begin.hour * 60 + begin.minute + begin.second / 60
            last = end.hour * 60 + end.minute + end.second / 60
            return first, last - first if last > first else last - first + _DAY_MIN
        starts, ends = datetime.fromisoformat(shift.start), datetime.fromisoformat(shift.end)
    except ValueError:
        return None
    first = starts.hour * 60 + starts.minute + starts.second / 60
    return first, (ends - starts).total_seconds() / 60


def _fits(start: float, length: float, span: tuple[float, float]) -> bool:
    """Whether a round at minute ``start`` of a day, ``length`` long, fits whole in a shift
    starting at minute ``span[0]`` of that day or the one before, ``span[1]`` long."""
    first, duration = span
    return any(
        first <= start + day and start + day + length <= first + duration for day in (0, _DAY_MIN)
    )
