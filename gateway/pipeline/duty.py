"""Identity: which guard wears a terminal, which shift he is on, and his post's fence.

The roster is read from the database once and kept in memory, so the hot path (thousands of
fixes a second) never queries it: ``DutyIndex`` answers from memory alone and is never changed
once built. It is read by ``gateway.pipeline.duty_load.load_duties``, again when a site file is
loaded and periodically, to pick up new shift instances (then with the index it replaces, whose
fences it reuses where the site is unchanged).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway.pipeline.roster_window import RosterFingerprint
from gateway.policy import SitePolicy
from gateway.rules import PatrolPolicy
from geofence import PostFence

__all__ = ["Duty", "DutyIndex", "evidence_device"]


@dataclass(frozen=True, slots=True)
class Duty:
    """One shift instance with everything the rules and the events need about it."""

    shift_id: str
    guard_id: str
    guard_name: str
    team: str | None
    post_id: str
    post_name: str
    site_id: str
    starts_at: datetime
    ends_at: datetime
    device_ids: tuple[str, ...]
    """The guard's own devices (GPS terminal first), then the readers/terminals at his post."""
    fence: PostFence
    policy: SitePolicy
    patrol_policy: PatrolPolicy = field(default_factory=PatrolPolicy)
    known_from: datetime | None = None
    """When the gateway learned of the shift, if after ``starts_at`` (``ShiftRow.known_from``):
    the rules count their graces and rounds from here."""
    cut_short: bool = False
    """Ended at ``ends_at`` by a site load (``ShiftRow.cut_short``): its machines, started for
    the planned end, are ended there as if the guard had been relieved (``relieve``)."""
    wands: tuple[str, ...] = ()
    """The offline patrol wands among ``device_ids`` (his own, those kept at his post): his
    rounds are judged when they are downloaded (``gateway.rules.patrol_wands``)."""
    worn: tuple[str, ...] = ()
    """The guard's own GPS terminals among ``device_ids``: only they can go silent
    (``PresenceState.worn``); the rest is heard only when he punches or scans."""

    def covers(self, at: datetime) -> bool:
        """True when ``at`` falls in the shift (start inclusive, end exclusive)."""
        return self.starts_at <= at < self.ends_at


class DutyIndex:
    """In-memory lookups over the shifts around ``now``; immutable once built."""

    def __init__(
        self,
        duties: list[Duty],
        device_guard: dict[str, str],
        device_site: dict[str, str],
        policies: dict[str, SitePolicy],
        device_post: dict[str, str] | None = None,
        elsewhere: dict[str, list[tuple[datetime, datetime, str]]] | None = None,
    ) -> None:
        """``elsewhere``: by post, the hours (start, end, guard) of the shifts another process
        holds there (``elsewhere_at_post``)."""
        self._by_shift = {d.shift_id: d for d in duties}
        self._by_guard: dict[str, list[Duty]] = defaultdict(list)
        for duty in sorted(duties, key=lambda d: d.starts_at):
            self._by_guard[duty.guard_id].append(duty)
        self._starts = {g: [d.starts_at for d in ds] for g, ds in self._by_guard.items()}
        self._by_post: dict[str, list[Duty]] = defaultdict(list)
        for duty in duties:
            self._by_post[duty.post_id].append(duty)
        self._elsewhere = elsewhere or {}
        self.by_start: tuple[Duty, ...] = tuple(
            sorted(duties, key=lambda d: (d.starts_at, d.shift_id))
        )
        """Every shift of the window in start order: the clock's cursor walks it
        (``gateway.pipeline.deadline_queue.ShiftStarts``) instead of scanning every shift."""
        self.cut: tuple[Duty, ...] = tuple(d for d in self.by_start if d.cut_short)
        """The window's shifts cut short by a site load."""
        self.ends_moved: frozenset[str] | None = None
        """The shifts whose end differs from the index this one replaced (a site load moved
        it); ``None``: not compared (a full reload), so every machine is looked at."""
        self.limits_changed: frozenset[str] = frozenset()
        """The shifts held by the index this one replaced whose site's limits (``policy``,
        ``patrol_policy``) a site load changed: their machines' deadlines are set again.
        Empty when not compared (``ends_moved`` is ``None`` then)."""
        self.devices_changed: frozenset[str] = frozenset()
        """The shifts whose guard's devices (``device_ids``, ``wands``, ``worn``) differ from the
        index this one replaced: their machines take them at once. Empty when not compared."""
        self.guards_changed: frozenset[str] = frozenset()
        """The guards with a shift new to, gone from or changed in the window since the index
        this one replaced (a load gave him a double shift, moved or removed one): their
        machines learn their next shifts again. Empty when not compared."""
        self._device_guard = device_guard
        self._device_site = device_site
        self._device_post = device_post or {}
        self.device_zones: dict[str, str] = {}
        self.clock_in_sites: frozenset[str] = frozenset()
        """Sites with a clock-in terminal (or a card reader acting as one): only their shifts
        are held to clocking in."""
        self._policies = policies
        self._default_policy = SitePolicy()
        self.loaded_at: datetime | None = None
        """The ``now`` the window was read around (None: not read from a database)."""
        self.site_versions: dict[str, datetime] = {}
        """Each site's ``loaded_at`` when this index was read: what ``load(previous=...)``
        compares to reuse what a site not loaded again since still holds."""
        self.fingerprint: RosterFingerprint | None = None
        """``roster_fingerprint`` when this index was read (None: not read from a database)."""
        self.scope: Callable[[str], bool] | None = None
        """The guards whose shifts were read (a partitioned process's own); ``None``: all."""

    def guard_ids(self) -> frozenset[str]:
        """The guards with a shift in the window."""
        return frozenset(guard for guard, duties in self._by_guard.items() if duties)

    def holds(self, guard_id: str) -> bool:
        """Whether this process runs ``guard_id``'s rules (in a partitioned gateway, whether
        it holds his partition); a guard off duty is held as much as one on duty."""
        return self.scope is None or self.scope(guard_id)

    def sharing_devices(
        self,
        duties: list[Duty],
        policies: dict[str, SitePolicy],
        elsewhere: dict[str, list[tuple[datetime, datetime, str]]] | None = None,
    ) -> DutyIndex:
        """An index of ``duties`` that shares this one's devices (whose they are, where they
        stand, their zones, the sites with a clock-in terminal): devices change only with a
        site load, so a roster read again with no site loaded since lends them, not reads them."""
        index = DutyIndex(
            duties,
            self._device_guard,
            self._device_site,
            policies,
            self._device_post,
            elsewhere,
        )
        index.clock_in_sites = self.clock_in_sites
        index.device_zones = self.device_zones
        return index

    def fences_of_sites(self, site_ids: Collection[str]) -> dict[str, tuple[str, str, PostFence]]:
        """By post, the site, name and fence of every post of ``site_ids`` with a shift here:
        what a roster read again lends the posts of sites not loaded since."""
        return {
            d.post_id: (d.site_id, d.post_name, d.fence)
            for d in self._by_shift.values()
            if d.site_id in site_ids
        }

    def at_post(self, post_id: str, at: datetime) -> list[Duty]:
        """Every shift held here at ``post_id`` covering ``at``."""
        return [d for d in self._by_post.get(post_id, ()) if d.covers(at)]

    def ended_at_post(self, post_id: str, at: datetime, within: timedelta) -> list[Duty]:
        """Every shift held here at ``post_id`` that ended at or before ``at``, less than
        ``within`` before it."""
        return [d for d in self._by_post.get(post_id, ()) if d.ends_at <= at < d.ends_at + within]

    def elsewhere_at_post(self, post_id: str, at: datetime) -> list[str]:
        """The guards another process holds (``holds`` is false) on duty at ``post_id`` at
        ``at``: with ``at_post``, everyone on duty there."""
        return [
            guard for starts, ends, guard in self._elsewhere.get(post_id, ()) if starts <= at < ends
        ]

    def timezone_of_device(self, device_id: str) -> str | None:
        """The zone of a configured device's clock (its own, else its site's); None if unknown."""
        return self.device_zones.get(device_id)

    def site_of_device(self, device_id: str) -> str | None:
        """The site a configured device belongs to."""
        return self._device_site.get(device_id)

    def post_of_device(self, device_id: str) -> str | None:
        """The post a fixed reader or clock-in terminal stands at, if configured."""
        return self._device_post.get(device_id)

    def guard_of_device(self, device_id: str) -> str | None:
        """The guard a device is bound to (a GPS terminal, a patrol wand), if any."""
        return self._device_guard.get(device_id)

    def duty_for_device(self, device_id: str, at: datetime) -> Duty | None:
        """The shift of the guard wearing ``device_id`` at ``at``; None when off duty/unknown."""
        guard_id = self._device_guard.get(device_id)
        if guard_id is None:
            return None
        return self.duty_for_guard(guard_id, at)

    def duty_for_guard(self, guard_id: str, at: datetime) -> Duty | None:
        """The guard's shift covering ``at``, if any."""
        duties = self._by_guard.get(guard_id)
        if not duties:
            return None
        index = bisect.bisect_right(self._starts[guard_id], at) - 1
        if index >= 0 and duties[index].covers(at):
            return duties[index]
        return None

    def duties_of_guard(self, guard_id: str) -> list[Duty]:
        """The guard's shifts in the loaded window, in start order."""
        return list(self._by_guard.get(guard_id, ()))

    def duty(self, shift_id: str) -> Duty | None:
        """The shift with this id, if within the loaded window."""
        return self._by_shift.get(shift_id)

    def active(self, at: datetime) -> list[Duty]:
        """Every shift under way at ``at`` (a scan of the window: for views, not the clock)."""
        return [d for d in self._by_shift.values() if d.covers(at)]

    def knows_device(self, device_id: str) -> bool:
        """True when the device is configured (bound to a guard or not)."""
        return device_id in self._device_site

    def policy_for_device(self, device_id: str) -> SitePolicy:
        """The policy of the device's site (defaults for unknown devices)."""
        site_id = self._device_site.get(device_id)
        if site_id is None:
            return self._default_policy
        return self._policies.get(site_id, self._default_policy)


def evidence_device(duty: Duty, device_id: str) -> str:
    """The device a scan or punch is credited to in the presence rules: the reader or terminal
    itself when it counts for this shift (at the post, or carried by the guard), else the
    guard's own terminal, so the evidence is never ignored as coming from a stranger."""
    if device_id in duty.device_ids or not duty.device_ids:
        return device_id
    return duty.device_ids[0]
