"""Whose ledger line a shift is: the guard's row's, or, for a shift a site load ended with its
guard moved, the site's and team's it was held under.

A guard's shifts of the day at a site are one line of its ledger, under his row's name and
team. A load that moves him during a shift (to another site or team of the file), or takes
him out of the file, ends that shift and keeps on it the name and team it was held under
(``ShiftRow.kept_config``, ``gateway.db.kept_config``). Such a shift, unless his row is still
of this site and team, is a line of its own (``GuardRecords.kept``): under the name and team it
kept, with what the shift holds (its rule events and alerts, by its id; the punches the rules
gave it; the reports, punches and leaves of its time), its minutes counted in that team's
totals. His row's line keeps the rest: his other shifts and his records outside the kept ones.
A row's line with no shift left, of a guard whose row is now another site's (or gone), is
dropped: its records outside shifts are his new site's.

A leader's ledger (``LedgerScope``) holds the row lines of the guards his token covers by their
rows, as every read does, and the kept lines of the sites and teams it covers: the leader whose
shift it was reads it, the guard's new leader does not. A kept line holds its own guard's
records only, so it widens no view. Unscoped tokens read every line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from gateway.clock import utc
from gateway.db.kept_config import kept_config
from gateway.db.models import GuardRow, ShiftRow

if TYPE_CHECKING:
    from gateway.ledger.collect import GuardRecords

__all__ = ["LedgerScope", "ledger_lines", "may_hold"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LedgerScope:
    """What a leader's ledger holds: ``guards``, those his token covers by their rows; and the
    lines of shifts kept by a load within his ``sites`` and, when it names any, his ``teams``."""

    guards: frozenset[str]
    sites: frozenset[str]
    teams: frozenset[str]

    def covers_kept(self, site_id: str, team: str | None) -> bool:
        """Whether a kept shift of ``site_id`` held under ``team`` is within this scope."""
        return site_id in self.sites and (not self.teams or team in self.teams)


def _kept_team(shift: ShiftRow) -> str | None:
    return None if shift.kept_config is None else kept_config(shift.kept_config)["team"]


def may_hold(scope: LedgerScope, guard_id: str, shifts: Iterable[ShiftRow]) -> bool:
    """Whether a scoped ledger may hold a line of ``guard_id``, who has ``shifts`` of the day:
    he is in the scope by his row, or one of his shifts kept a site and team within it."""
    if guard_id in scope.guards:
        return True
    return any(
        s.kept_config is not None and scope.covers_kept(s.site_id, _kept_team(s)) for s in shifts
    )


def ledger_lines(
    guards: dict[str, GuardRecords], site_id: str, scope: LedgerScope | None
) -> list[GuardRecords]:
    """The lines of ``guards`` (each guard's records of the day at ``site_id``), in guard id
    order, his row's line first; only those ``scope`` holds, when given (see the module)."""
    lines: list[GuardRecords] = []
    for guard_id in sorted(guards):
        records = guards[guard_id]
        here = records.guard.site_id == site_id
        by_team: dict[str | None, list[ShiftRow]] = {}
        for shift in records.shifts:
            if shift.kept_config is None:
                continue
            team = _kept_team(shift)
            if not (here and team == records.guard.team):
                by_team.setdefault(team, []).append(shift)
        kept = [_split_off(records, shifts) for shifts in by_team.values()]
        if (here or records.shifts) and (scope is None or guard_id in scope.guards):
            lines.append(records)
        lines.extend(
            line
            for line in sorted(kept, key=lambda line: line.shifts[0].starts_at)
            if scope is None or scope.covers_kept(site_id, line.guard.team)
        )
    return lines


def _split_off(records: GuardRecords, shifts: list[ShiftRow]) -> GuardRecords:
    """A line of ``shifts`` (kept, of one team) taken out of ``records`` with what they hold."""
    config = kept_config(shifts[0].kept_config or {})
    ids = {s.id for s in shifts}
    spans = [(utc(s.starts_at), utc(s.ends_at)) for s in shifts]

    def during(at: datetime) -> bool:
        return any(a <= utc(at) < b for a, b in spans)

    guard = GuardRow(id=records.guard.id, name=config["guard_name"], team=config["team"])
    line = type(records)(guard, kept=True, returned_later=records.returned_later)
    line.shifts, records.shifts = _part(records.shifts, lambda s: s.id in ids)
    line.events, records.events = _part(records.events, lambda e: e.data.get("shift_id") in ids)
    line.alerts, records.alerts = _part(records.alerts, lambda a: a.shift_id in ids)
    line.reports, records.reports = _part(records.reports, lambda r: during(r.reported_at))
    line.leaves, records.leaves = _part(
        records.leaves,
        lambda leave: any(utc(leave.starts_at) < b and a < utc(leave.ends_at) for a, b in spans),
    )

    def punch_is_kept(punch_id: int, punched_at: datetime) -> bool:
        given = records.punch_shifts.get(punch_id)
        return given in ids if given is not None else during(punched_at)

    line.punches, records.punches = _part(
        records.punches, lambda p: punch_is_kept(p.id, p.punched_at)
    )
    for punch in line.punches:
        if punch.id in records.punch_shifts:
            line.punch_shifts[punch.id] = records.punch_shifts.pop(punch.id)
    return line


def _part(items: list[T], taken: Callable[[T], bool]) -> tuple[list[T], list[T]]:
    """``items`` split into those ``taken`` and the rest, each in order."""
    return [x for x in items if taken(x)], [x for x in items if not taken(x)]
