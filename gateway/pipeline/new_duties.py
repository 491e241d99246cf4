"""When a running gateway first held guards to a clock-in terminal or a patrol route.

A site load during the day can add a clock-in terminal to a site or a route to a post. The
attendance and patrol machines of the shifts already under way then start at once (the clock's
cursor offers every shift under way again after a new roster), and they would count from the
shift start: every guard of the 08:00 shift raised not clocked in at 08:15, and every round of
the morning missed, for a terminal installed at 10:30. As for a site first loaded during a
shift (``ShiftRow.known_from``), nothing could have held them to it before, so those machines
count from the instant the roster that brought it was read.

The first roster a process reads brings nothing new: at start-up the gateway cannot tell a
terminal installed a minute ago from one that was always there, and a shift that began while
it was down is held to its start as always (its machines fire late).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from gateway.pipeline.duty import Duty

__all__ = ["NewDuties"]

RouteKey = tuple[str, str]
"""``(post id, route id)``."""


class NewDuties:
    """The instants the clock-in sites and the routes of the roster were first seen."""

    def __init__(self) -> None:
        self._sites: frozenset[str] | None = None
        self._routes: frozenset[RouteKey] | None = None
        self._site_since: dict[str, datetime] = {}
        self._route_since: dict[RouteKey, datetime] = {}

    def observe(
        self, clock_in_sites: Iterable[str], routes: Iterable[RouteKey], at: datetime | None
    ) -> None:
        """A roster read around ``at`` (``None``: not read from a database) holds these
        clock-in sites and routes; those not held by the one before are new from ``at``."""
        sites, plans = frozenset(clock_in_sites), frozenset(routes)
        if at is not None and self._sites is not None and self._routes is not None:
            self._site_since.update(dict.fromkeys(sites - self._sites, at))
            self._route_since.update(dict.fromkeys(plans - self._routes, at))
        self._sites, self._routes = sites, plans

    def clock_in_known_from(self, duty: Duty) -> datetime | None:
        """What the attendance machine of ``duty`` counts its grace from, if not the start."""
        return _later(duty, self._site_since.get(duty.site_id))

    def route_known_from(self, duty: Duty, route_id: str) -> datetime | None:
        """What a patrol machine of ``duty`` on ``route_id`` plans its rounds from, if not
        the shift start."""
        return _later(duty, self._route_since.get((duty.post_id, route_id)))


def _later(duty: Duty, added: datetime | None) -> datetime | None:
    after_start = [t for t in (duty.known_from, added) if t is not None and t > duty.starts_at]
    return max(after_start, default=None)
