"""Whose a guard's alerts and events are: the site and team of the shift they belong to.

A leader's token covers guards by their stored rows (``scope_query``). But a site load that
moves a guard during his shift (to another site or team of the file), or takes him out of the
file, ends that shift and keeps on it the site, team and leaders it was held under
(``gateway.db.kept_config``). That shift's alerts and events, those raised before the load and
those it still owes after (a leave never cancelled), stay that site's and team's: their
leaders list, acknowledge and resolve them and see them on the live page, as that shift's
groups hear them (``gateway.outbox.routing``); the guard's new leaders do not. His shifts
from the load on (and every shift no load ended this way) go by his row. An alert or event
of no kept shift whose guard has no row is no leader's: unscoped tokens only. The daily
ledger (``gateway.ledger.lines``) and a guard's track (``gateway.web.geometry``) go the same way
(``kept_shifts_of``).

The shift is the alert's ``shift_id`` and the event's ``data.shift_id``; a kept shift counts
only for its own guard, so what an event names never widens a token's view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from gateway.api.tokens import Principal, Role
from gateway.db.kept_config import kept_config
from gateway.db.models import AlertRow, GuardRow, ShiftRow
from gateway.db.slices import slices

__all__ = [
    "NO_SCOPE",
    "EventScopes",
    "KeptShift",
    "Scope",
    "alerts_in_scope",
    "kept_guards_in_scope",
    "kept_shifts_of",
    "read_event_scopes",
    "scope_query",
]

Scope = tuple[str | None, str | None]
"""(site id, team) as ``Principal.covers`` takes them."""

NO_SCOPE: Scope = (None, None)
"""A device's own events, or a guard known neither by a row nor by a kept shift: only unscoped
tokens (admin, integration) cover them."""


def scope_query(principal: Principal) -> Select[tuple[str]] | None:
    """The query of the ids of the guards a leader answers for by their rows, to use as a
    subquery (a site of 100,000 guards is more ids than PostgreSQL takes as parameters of one
    statement); ``None`` (every guard) for other roles."""
    if principal.role is not Role.LEADER:
        return None
    stmt = select(GuardRow.id).where(GuardRow.site_id.in_(sorted(principal.sites)))
    if principal.teams:
        stmt = stmt.where(GuardRow.team.in_(sorted(principal.teams)))
    return stmt


def _kept_team() -> ColumnElement[str]:
    """The team a shift kept (``KeptConfig.team``), as SQL: NULL for none."""
    team: ColumnElement[str] = ShiftRow.kept_config["team"].as_string()
    return team


def _kept_within(principal: Principal) -> ColumnElement[bool]:
    """A shift row that kept its route, within a leader's sites (and teams)."""
    within = and_(ShiftRow.kept_config.is_not(None), ShiftRow.site_id.in_(sorted(principal.sites)))
    if principal.teams:
        within = and_(within, _kept_team().in_(sorted(principal.teams)))
    return within


def kept_guards_in_scope(principal: Principal) -> Select[tuple[str]] | None:
    """The query of the ids of the guards with a kept shift a leader answers for (their rows
    may be elsewhere, or gone); ``None`` for other roles."""
    if principal.role is not Role.LEADER:
        return None
    return select(ShiftRow.guard_id).where(_kept_within(principal))


def alerts_in_scope(principal: Principal) -> ColumnElement[bool] | None:
    """The condition on ``AlertRow`` of the alerts a leader answers for (the module says
    which); ``None`` (every alert) for other roles."""
    guards = scope_query(principal)
    if guards is None:
        return None
    kept = select(ShiftRow.id).where(
        ShiftRow.id == AlertRow.shift_id,
        ShiftRow.guard_id == AlertRow.guard_id,
        ShiftRow.kept_config.is_not(None),
    )
    return or_(
        exists(kept.where(_kept_within(principal))),
        and_(~exists(kept), AlertRow.guard_id.in_(guards)),
    )


@dataclass(frozen=True, slots=True)
class KeptShift:
    """A shift of a guard that kept its route: its id and start, the site and team it was held
    under, and the guard's name then."""

    shift_id: str
    starts_at: datetime
    site_id: str
    team: str | None
    guard_name: str


def kept_shifts_of(session: Session, guard_id: str) -> list[KeptShift]:
    """The shifts of ``guard_id`` that kept their route, oldest first (a load keeps one only
    when it moves him during it, or takes him out of the file: few)."""
    rows = session.execute(
        select(ShiftRow.id, ShiftRow.starts_at, ShiftRow.site_id, ShiftRow.kept_config)
        .where(ShiftRow.guard_id == guard_id, ShiftRow.kept_config.is_not(None))
        .order_by(ShiftRow.starts_at, ShiftRow.id)
    )
    shifts = []
    for shift_id, starts_at, site_id, raw in rows:
        config = kept_config(raw)
        shifts.append(KeptShift(shift_id, starts_at, site_id, config["team"], config["guard_name"]))
    return shifts


@dataclass(frozen=True, slots=True)
class EventScopes:
    """The scopes of a batch of events, read at once (``read_event_scopes``)."""

    kept: dict[tuple[str, str], Scope] = field(default_factory=dict)
    """(guard id, shift id) of the kept shifts among the events: the shift's site and team."""
    rows: dict[str, Scope] = field(default_factory=dict)
    """Guard id: his row's site and team."""

    def of(self, subject: str, shift_id: object) -> Scope:
        """The scope of an event about ``subject`` naming ``shift_id`` (its ``data``'s)."""
        if isinstance(shift_id, str):
            kept = self.kept.get((subject, shift_id))
            if kept is not None:
                return kept
        return self.rows.get(subject, NO_SCOPE)


def read_event_scopes(session: Session, events: Iterable[tuple[str, object]]) -> EventScopes:
    """The scopes of ``events``, each (subject, ``data.shift_id``), as stored now: read for
    every batch, never remembered, so a site load is followed at once."""
    pairs = set(events)
    subjects = sorted({subject for subject, _ in pairs})
    shift_ids = sorted({s for _, s in pairs if isinstance(s, str)})
    scopes = EventScopes()
    for part in slices(shift_ids):
        rows = session.execute(
            select(ShiftRow.id, ShiftRow.guard_id, ShiftRow.site_id, _kept_team()).where(
                ShiftRow.id.in_(part), ShiftRow.kept_config.is_not(None)
            )
        )
        scopes.kept.update(((row[1], row[0]), (row[2], row[3])) for row in rows)
    for part in slices(subjects):
        rows = session.execute(
            select(GuardRow.id, GuardRow.site_id, GuardRow.team).where(GuardRow.id.in_(part))
        )
        scopes.rows.update((row.id, (row.site_id, row.team)) for row in rows)
    return scopes
