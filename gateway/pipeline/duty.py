"""Identity: which guard wears a terminal, which shift he is on, and his post's fence.

The roster is read from the database once and kept in memory, so the hot path (thousands of
fixes a second) never queries it; ``DutyIndex.load`` is called again when a site file is loaded
and periodically, to pick up new shift instances (then with the index it replaces, whose fences
it reuses where the site is unchanged).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from gateway.db.models import DeviceRow, GuardRow, ShiftRow, SiteRow
from gateway.db.repository import site_policy
from gateway.pipeline.duty_parts import DutyDevices, DutyPart, kept_part
from gateway.pipeline.roster_window import (
    RosterFingerprint,
    in_window,
    roster_fingerprint,
    site_fences,
)
from gateway.policy import SitePolicy
from gateway.rules import PatrolPolicy, patrol_policy
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
    ) -> None:
        self._by_shift = {d.shift_id: d for d in duties}
        self._by_guard: dict[str, list[Duty]] = defaultdict(list)
        for duty in sorted(duties, key=lambda d: d.starts_at):
            self._by_guard[duty.guard_id].append(duty)
        self._starts = {g: [d.starts_at for d in ds] for g, ds in self._by_guard.items()}
        self._by_post: dict[str, list[Duty]] = defaultdict(list)
        for duty in duties:
            self._by_post[duty.post_id].append(duty)
        self._elsewhere: dict[str, list[tuple[datetime, datetime, str]]] = {}
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

    @classmethod
    def load(
        cls,
        session: Session,
        now: datetime,
        *,
        scope: Callable[[str], bool] | None = None,
        previous: DutyIndex | None = None,
    ) -> DutyIndex:
        """Read devices, guards, posts and the shifts within two days of ``now``; with
        ``scope``, only the shifts of the guards it accepts (a partitioned process's own).

        Guards, devices and shifts (as many as guards on duty) are read as plain rows of the
        columns needed, not as ORM objects: building 100,000 objects costs several times
        reading them. ``previous`` (the index this one replaces) lends what a site load alone
        changes: the fences of the posts of sites not loaded again since (``site_versions``;
        building 100,000 fences was half of a reload), and, when no site was loaded again at
        all, its device maps and every ``Duty`` whose shift row is the same (only shifts new
        to the window are built then; devices and guards are not even read if there are
        none). A city's roster read anew every time the window moved held a second copy of
        it until the first was freed: 142 MB at 100,000 guards."""
        # First: a shift added while the rest is read then changes the next fingerprint.
        fingerprint = roster_fingerprint(session, now)
        sites = {s.id: s for s in session.scalars(select(SiteRow))}
        site_versions = {sid: s.loaded_at for sid, s in sites.items()}
        policies = {sid: site_policy(s.policy) for sid, s in sites.items()}
        shifts = session.execute(
            select(
                ShiftRow.id,
                ShiftRow.guard_id,
                ShiftRow.post_id,
                ShiftRow.site_id,
                ShiftRow.starts_at,
                ShiftRow.ends_at,
                ShiftRow.known_from,
                ShiftRow.cut_short,
                ShiftRow.kept_config,
            ).where(in_window(now))
        )
        # The guards held elsewhere at each post, by their hours alone: a fixed reader's scan
        # is attributed among everyone on duty at its post, wherever his rules run.
        elsewhere: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        same_sites = previous is not None and previous.site_versions == site_versions
        kept = previous._by_shift if previous is not None and same_sites else {}
        duties: list[Duty] = []
        fresh = []
        for shift in shifts:
            if scope is not None and not scope(shift.guard_id):
                elsewhere[shift.post_id].append((shift.starts_at, shift.ends_at, shift.guard_id))
                continue
            duty = kept.get(shift.id)
            if duty is not None and _same_shift(duty, shift):
                duties.append(duty)
            else:
                fresh.append(shift)
        if previous is not None and same_sites:
            # Devices change only with a site load: the maps are shared, not read again.
            duties += _build(session, fresh, sites, policies, previous)
            index = cls(
                duties,
                previous._device_guard,
                previous._device_site,
                policies,
                previous._device_post,
            )
            index.clock_in_sites = previous.clock_in_sites
            index.device_zones = previous.device_zones
        else:
            devices = _devices(session)
            duties += _build(session, fresh, sites, policies, previous, devices)
            zones = {sid: s.timezone for sid, s in sites.items()}
            index = cls(
                duties,
                {d.id: d.guard_id for d in devices if d.guard_id is not None},
                {d.id: d.site_id for d in devices},
                policies,
                {d.id: d.post_id for d in devices if d.post_id is not None},
            )
            index.clock_in_sites = frozenset(
                d.site_id for d in devices if d.kind == "clock_in" or d.punch_kind
            )
            index.device_zones = {d.id: d.timezone or zones[d.site_id] for d in devices}
        index.loaded_at = now
        index.site_versions = site_versions
        index.fingerprint = fingerprint
        index.scope = scope
        index._elsewhere = dict(elsewhere)
        return index

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


def _same_shift(duty: Duty, shift: Row[Any]) -> bool:
    return bool(
        duty.guard_id == shift.guard_id
        and duty.post_id == shift.post_id
        and duty.site_id == shift.site_id
        and duty.starts_at == shift.starts_at
        and duty.ends_at == shift.ends_at
        and duty.cut_short == shift.cut_short
    )


def _devices(session: Session) -> list[Row[Any]]:
    return list(
        session.execute(
            select(
                DeviceRow.id,
                DeviceRow.site_id,
                DeviceRow.kind,
                DeviceRow.guard_id,
                DeviceRow.post_id,
                DeviceRow.timezone,
                DeviceRow.punch_kind,
            )
        ).all()
    )


def _build(
    session: Session,
    shifts: list[Row[Any]],
    sites: dict[str, SiteRow],
    policies: dict[str, SitePolicy],
    previous: DutyIndex | None,
    devices: list[Row[Any]] | None = None,
) -> list[Duty]:
    """A ``Duty`` for each of ``shifts``, its fence lent by ``previous`` where the post's site
    was not loaded again since (``devices``: read here when not given)."""
    if not shifts:
        return []
    if devices is None:
        devices = _devices(session)
    guards = {g.id: g for g in session.execute(select(GuardRow.id, GuardRow.name, GuardRow.team))}
    patrol = {sid: patrol_policy(s.policy) for sid, s in sites.items()}
    on_duty = DutyDevices.of(devices)
    known: dict[str, tuple[str, str, PostFence]] = {}
    if previous is not None:
        unchanged = {
            sid
            for sid, at in previous.site_versions.items()
            if sid in sites and sites[sid].loaded_at == at
        }
        known = {
            d.post_id: (d.site_id, d.post_name, d.fence)
            for d in previous._by_shift.values()
            if d.site_id in unchanged
        }
    fences = site_fences(session, {s.post_id for s in shifts}, known)
    duties = []
    for shift in shifts:
        guard = guards.get(shift.guard_id)
        if shift.kept_config is not None:
            # A load ended the shift taking its guard or post out of the file, or moving him
            # to another site, team or leaders: what its part that happened still owes (the
            # hour to cancel a leave, a departure begun before the load) is decided as he was
            # then, from what the load kept on the row (not the index this one replaces: a
            # gateway started after the load has none).
            held = kept_part(shift.kept_config)
        elif guard is not None and shift.post_id in fences:
            post_name, fence = fences[shift.post_id]
            device_ids, wands, worn = on_duty.of_duty(guard.id, shift.post_id)
            held = DutyPart(guard.name, guard.team, post_name, fence, device_ids, wands, worn)
        else:
            # Its guard or post left the file before the gateway kept what a shift needs of
            # them (migration 0018): it is only the ledger's record.
            continue
        duties.append(
            Duty(
                shift_id=shift.id,
                guard_id=shift.guard_id,
                guard_name=held.guard_name,
                team=held.team,
                post_id=shift.post_id,
                post_name=held.post_name,
                site_id=shift.site_id,
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                device_ids=held.device_ids,
                fence=held.fence,
                policy=policies.get(shift.site_id, SitePolicy()),
                patrol_policy=patrol.get(shift.site_id, PatrolPolicy()),
                known_from=shift.known_from,
                cut_short=shift.cut_short,
                wands=held.wands,
                worn=held.worn,
            )
        )
    return duties


def evidence_device(duty: Duty, device_id: str) -> str:
    """The device a scan or punch is credited to in the presence rules: the reader or terminal
    itself when it counts for this shift (at the post, or carried by the guard), else the
    guard's own terminal, so the evidence is never ignored as coming from a stranger."""
    if device_id in duty.device_ids or not duty.device_ids:
        return device_id
    return duty.device_ids[0]
