"""What a shift keeps of a guard or post that a site load takes out of the file, or of a guard
it moves to another site, team or leaders.

A shift's rules may owe something after its guard or his post has left the file: a load at
10:30 cuts the shift of a guard transferred elsewhere, and the leave he used that morning must
still be cancelled within the hour of his return, a departure begun before the load is still
judged (docs/site-file.md). The roster index builds a shift's ``Duty`` from the guard, post and
device rows, and the load deletes those. So before it clears them, every shift of the file's
sites that has begun and is still in the roster window (the shifts whose rules can still run),
whose guard or post the file no longer has, keeps on its row what its duty needs of them
(``ShiftRow.kept_config``, ``gateway.db.kept_config``), and the leaders the guard named, whom
his shift's alerts still go to and are escalated above. The duty is then built from what is
stored, the same whether a gateway ran at the load or started after it; retention and a
guard's erasure take it away with the shift row.

A guard the file keeps but moves to another site or team, or gives other leaders, is rewritten
rather than deleted; what his shifts the load ends (the one it cuts short, those that ended
before it) still owe goes to the site, team and leaders they were held under, not to his new
ones: those shifts keep the same config. The shift that goes on (same site and post, to the
file's end) is his new row's from the load, as his shifts to come are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select, update
from sqlalchemy.orm import Session

from gateway.db.kept_config import KeptConfig
from gateway.db.models import DeviceRow, GuardRow, PostRow, ShiftRow
from gateway.db.slices import slices
from gateway.pipeline.duty_parts import DutyDevices
from gateway.pipeline.roster_window import WINDOW_BEFORE
from gateway.site.checks import CheckedSite
from gateway.site.schema import GuardEntry

__all__ = ["KeptDuties", "keep_leaving_duties"]


@dataclass(frozen=True, slots=True)
class KeptDuties:
    """The configs read before a load clears the rows, by shift id; ``write`` puts them on the
    shifts that the load has ended, once the shifts are written."""

    configs: dict[str, KeptConfig]

    def write(self, session: Session, now: datetime) -> int:
        """Write each config on its shift if that shift ends at or before ``now`` (the load's
        instant) now that the file's shifts are written: the shift the load let go on is left
        to the rows. Returns how many shifts kept a config."""
        if not self.configs:
            return 0
        ended: list[str] = []
        for part in slices(sorted(self.configs)):
            query = select(ShiftRow.id).where(ShiftRow.id.in_(part), ShiftRow.ends_at <= now)
            ended += session.scalars(query)
        if ended:
            rows = [{"id": shift_id, "kept_config": self.configs[shift_id]} for shift_id in ended]
            session.execute(update(ShiftRow), rows)
        return len(ended)


def keep_leaving_duties(
    session: Session, checked: Sequence[CheckedSite], now: datetime
) -> KeptDuties:
    """Read the configs to keep on the shifts whose guard or post the load of ``checked`` (the
    file's sites, loaded at ``now``) takes out of the file, or whose guard it moves to another
    site or team or gives other leaders, as the module says; in the load's transaction, before
    ``clear_site``. ``KeptDuties.write`` writes them after ``replace_site``.

    A post moved to another site of the same file is not taken out: its rows are written
    again. A shift already keeping a config (a guard taken out or moved by an earlier load)
    keeps the first, and one whose guard or post row was already gone (taken out before the
    gateway kept configs) has nothing to keep."""
    site_ids = [c.entry.id for c in checked]
    in_file = {g.id: (c.entry.id, g) for c in checked for g in c.entry.guards}
    stored = session.execute(
        select(GuardRow.id, GuardRow.site_id, GuardRow.team, GuardRow.leader_ids).where(
            GuardRow.site_id.in_(site_ids)
        )
    )
    going_guards = []
    for guard in stored:
        entry = in_file.get(guard.id)
        if entry is None or _moved(guard, *entry):
            going_guards.append(guard.id)
    going_guards.sort()
    going_posts = _going(session, PostRow, site_ids, {p.id for c in checked for p in c.entry.posts})
    if not going_guards and not going_posts:
        return KeptDuties({})  # the usual load: nothing read beyond the guards and a post list
    held = (
        ShiftRow.site_id.in_(site_ids),
        ShiftRow.starts_at < now,
        ShiftRow.ends_at > now - WINDOW_BEFORE,
        ShiftRow.kept_config.is_(None),
    )
    query = select(ShiftRow.id, ShiftRow.guard_id, ShiftRow.post_id).where(*held)
    shifts = _by_id(session, query, going_guards, ShiftRow.guard_id)
    shifts.update(_by_id(session, query, going_posts, ShiftRow.post_id))
    if not shifts:
        return KeptDuties({})
    configs = _configs(session, shifts.values())
    return KeptDuties(
        {
            shift.id: configs[(shift.guard_id, shift.post_id)]
            for shift in shifts.values()
            if (shift.guard_id, shift.post_id) in configs
        }
    )


def _moved(stored: Row[Any], site_id: str, entry: GuardEntry) -> bool:
    """Whether the file gives the stored guard another site, team or named leaders."""
    return (
        stored.site_id != site_id
        or stored.team != entry.team
        or list(stored.leader_ids) != list(entry.leaders)
    )


def _going(session: Session, model: Any, site_ids: list[str], in_file: set[str]) -> list[str]:
    """The ids of ``model`` rows of the file's sites that the file no longer has, sorted."""
    stored = session.scalars(select(model.id).where(model.site_id.in_(site_ids)))
    return sorted(set(stored) - in_file)


def _configs(session: Session, shifts: Iterable[Row[Any]]) -> dict[tuple[str, str], KeptConfig]:
    """The config of each (guard, post) pair of ``shifts`` whose guard and post rows exist."""
    pairs = {(s.guard_id, s.post_id) for s in shifts}
    guard_ids = sorted({g for g, _ in pairs})
    post_ids = sorted({p for _, p in pairs})
    guard_query = select(GuardRow.id, GuardRow.name, GuardRow.team, GuardRow.leader_ids)
    guards = _by_id(session, guard_query, guard_ids)
    post_query = select(PostRow.id, PostRow.name, PostRow.fence, PostRow.datum)
    posts = _by_id(session, post_query, post_ids)
    device_query = select(DeviceRow.id, DeviceRow.kind, DeviceRow.guard_id, DeviceRow.post_id)
    devices = _by_id(session, device_query, guard_ids, DeviceRow.guard_id)
    unbound = device_query.where(DeviceRow.guard_id.is_(None))
    devices.update(_by_id(session, unbound, post_ids, DeviceRow.post_id))
    on_duty = DutyDevices.of(devices.values())
    out: dict[tuple[str, str], KeptConfig] = {}
    for guard_id, post_id in pairs:
        guard, post = guards.get(guard_id), posts.get(post_id)
        if guard is None or post is None:
            continue
        device_ids, wands, worn = on_duty.of_duty(guard_id, post_id)
        out[(guard_id, post_id)] = KeptConfig(
            guard_name=guard.name,
            team=guard.team,
            post_name=post.name,
            fence=dict(post.fence),
            datum=post.datum,
            device_ids=list(device_ids),
            wands=list(wands),
            leaders=list(guard.leader_ids),
            worn=list(worn),
        )
    return out


def _by_id(
    session: Session, query: Select[Any], ids: list[str], column: Any = None
) -> dict[str, Row[Any]]:
    """The rows of ``query`` whose ``column`` (default: the queried table's ``id``) is among
    ``ids``, by their ``id``; the ids sent in slices (a city site's removal lists many)."""
    out: dict[str, Row[Any]] = {}
    for part in slices(ids):
        where = (query.selected_columns.id if column is None else column).in_(part)
        out.update((row.id, row) for row in session.execute(query.where(where)))
    return out
