"""Reading the roster from the database into a ``DutyIndex``: the shifts within two days of
now (``gateway.pipeline.roster_window``), each built into a ``Duty`` with its guard, his post's
fence and their devices (``gateway.pipeline.duty_parts``).

A read is a snapshot: it changes nothing in the database, and the index it gives is never
changed after. Given the index it replaces, it lends what only a site load changes rather
than read and build it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from gateway.db.models import DeviceRow, GuardRow, ShiftRow, SiteRow
from gateway.db.repository import site_policy
from gateway.pipeline.duty import Duty, DutyIndex
from gateway.pipeline.duty_parts import DutyDevices, DutyPart, kept_part
from gateway.pipeline.roster_window import in_window, roster_fingerprint, site_fences
from gateway.policy import SitePolicy
from gateway.rules import PatrolPolicy, patrol_policy
from geofence import PostFence

__all__ = ["load_duties"]


def load_duties(
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
    lender = previous if same_sites else None
    duties: list[Duty] = []
    fresh = []
    for shift in shifts:
        if scope is not None and not scope(shift.guard_id):
            elsewhere[shift.post_id].append((shift.starts_at, shift.ends_at, shift.guard_id))
            continue
        duty = lender.duty(shift.id) if lender is not None else None
        if duty is not None and _same_shift(duty, shift):
            duties.append(duty)
        else:
            fresh.append(shift)
    if lender is not None:
        # Devices change only with a site load: the maps are shared, not read again.
        duties += _build(session, fresh, sites, policies, lender)
        index = lender.sharing_devices(duties, policies, dict(elsewhere))
    else:
        devices = _devices(session)
        duties += _build(session, fresh, sites, policies, previous, devices)
        zones = {sid: s.timezone for sid, s in sites.items()}
        index = DutyIndex(
            duties,
            {d.id: d.guard_id for d in devices if d.guard_id is not None},
            {d.id: d.site_id for d in devices},
            policies,
            {d.id: d.post_id for d in devices if d.post_id is not None},
            dict(elsewhere),
        )
        index.clock_in_sites = frozenset(
            d.site_id for d in devices if d.kind == "clock_in" or d.punch_kind
        )
        index.device_zones = {d.id: d.timezone or zones[d.site_id] for d in devices}
    index.loaded_at = now
    index.site_versions = site_versions
    index.fingerprint = fingerprint
    index.scope = scope
    return index


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
        known = previous.fences_of_sites(unchanged)
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
