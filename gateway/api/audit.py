"""Acting through the API: a leader's scope checked and the action audited, in the action's own
transaction.

``Audited`` wraps a pipeline command (``gateway.pipeline.commands``, ``alert_commands``). On
the pipeline's owner thread it locates the guard (or device) the command concerns, refuses it
when the principal's scope does not cover him, runs the command and adds the ``audit_log`` row
to the same session, so an action and its audit record commit together or not at all. A
refused or failed action leaves no row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.auth import Forbidden
from gateway.api.shift_scope import alerts_in_scope, scope_query
from gateway.api.tokens import Principal, Role
from gateway.db import repository as repo
from gateway.db.auth_models import AuditRow
from gateway.db.kept_config import kept_route
from gateway.db.models import AlertRow, DeviceRow, GuardRow, LeaveRow, ShiftRow
from gateway.pipeline.processor import Processor

__all__ = [
    "Acting",
    "Audited",
    "Subject",
    "alert_subject",
    "audit_json",
    "guard_subject",
    "guards_in_scope",
    "leave_subject",
    "list_alerts_within",
    "list_audit",
    "scope_query",
    "wand_subject",
]


@dataclass(frozen=True, slots=True)
class Acting:
    """Who acts (the token's principal), from where (client address) and when (our clock)."""

    principal: Principal
    client: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Subject:
    """What an action concerns, for the scope check: the guard, and his (or a device's) site
    and team. ``teams_too``: other teams whose leaders the action concerns as well (a wand
    kept at a post: the teams on duty there)."""

    guard_id: str | None
    site_id: str | None
    team: str | None
    teams_too: frozenset[str] = frozenset()

    def within(self, principal: Principal) -> bool:
        """Whether ``principal``'s scope covers this subject."""
        if principal.covers(self.site_id, self.team):
            return True
        return any(principal.covers(self.site_id, team) for team in self.teams_too)


Locate = Callable[[Session], Subject | None]
"""Finds an action's subject in the store; ``None`` when the target does not exist."""


def guard_subject(guard_id: str) -> Locate:
    """The guard named in a request body."""

    def locate(session: Session) -> Subject | None:
        row = session.get(GuardRow, guard_id)
        return None if row is None else Subject(row.id, row.site_id, row.team)

    return locate


def leave_subject(leave_id: str) -> Locate:
    """The guard of a stored leave."""

    def locate(session: Session) -> Subject | None:
        row = session.get(LeaveRow, leave_id)
        return None if row is None else _guard_or_unknown(session, row.guard_id)

    return locate


def alert_subject(alert: str | int) -> Locate:
    """The guard of an alert, in the site and team of its shift when a site load ended that
    shift with its guard moved or taken out (``gateway.api.shift_scope``). An alert about a
    device names the device where a guard would be, which is no guard of any site, so only
    unscoped tokens (admin) act on it, as only they list it."""

    def locate(session: Session) -> Subject | None:
        column = AlertRow.id if isinstance(alert, int) else AlertRow.alert_key
        row = session.scalar(select(AlertRow).where(column == alert))
        if row is None:
            return None
        if row.guard_id is None:
            return Subject(None, None, None)
        kept = kept_route(session, row.shift_id)
        if kept is not None and kept.guard_id == row.guard_id:
            return Subject(row.guard_id, kept.site_id, kept.team)
        return _guard_or_unknown(session, row.guard_id)

    return locate


POST_TEAMS_SPAN = timedelta(days=7)
"""How far either side of a download a shift at a wand's post makes its guard's team one whose
leader may download it: a week of the log, and the week of the roster the gateway expands."""


def wand_subject(wand_id: str, at: datetime) -> Locate:
    """A patrol wand: the guard who carries it, in his site and team (his team's leader
    downloads it), or, for a wand kept at a post, its site, with the teams of the guards who
    have a shift at that post within ``POST_TEAMS_SPAN`` of ``at`` (a leader of the whole site,
    or of one of those teams, downloads it: the team leader who takes the booth's wand back)."""

    def locate(session: Session) -> Subject | None:
        row = session.get(DeviceRow, wand_id)
        if row is None or row.kind != "patrol_wand":
            return None
        guard = None if row.guard_id is None else session.get(GuardRow, row.guard_id)
        if guard is not None:
            return Subject(None, row.site_id, guard.team)
        if row.post_id is None:
            return Subject(None, row.site_id, None)
        teams = session.scalars(
            select(GuardRow.team)
            .join(ShiftRow, ShiftRow.guard_id == GuardRow.id)
            .where(
                ShiftRow.post_id == row.post_id,
                ShiftRow.site_id == row.site_id,
                ShiftRow.starts_at < at + POST_TEAMS_SPAN,
                ShiftRow.ends_at > at - POST_TEAMS_SPAN,
                GuardRow.team.is_not(None),
            )
            .distinct()
        )
        return Subject(None, row.site_id, None, frozenset(t for t in teams if t is not None))

    return locate


def _guard_or_unknown(session: Session, guard_id: str) -> Subject:
    row = session.get(GuardRow, guard_id)
    # A guard since removed from the site file: no site, so only unscoped tokens cover him.
    return Subject(guard_id, None, None) if row is None else Subject(row.id, row.site_id, row.team)


@dataclass(frozen=True, slots=True)
class Audited:
    """Run ``command`` as ``acting`` and audit it as ``action``.

    ``locate`` finds the subject; ``by_reference`` says the target was named by its own id in
    the path (a leave, an alert, a wand): one outside a leader's scope is then answered as not
    found, so his token cannot probe for others' records. A guard named in a body outside his
    scope is ``Forbidden``. ``target`` picks the ids to record from the command's result.
    """

    acting: Acting
    action: str
    command: Callable[[Session, Processor], dict[str, Any]]
    locate: Locate
    target: Callable[[dict[str, Any]], dict[str, Any]]
    what: str
    """The target as the answers name it: ``guard 'g-001'``, ``leave '...'``, ``alert 7``."""
    by_reference: bool = False

    def __call__(self, session: Session, processor: Processor) -> dict[str, Any]:
        principal = self.acting.principal
        subject = self.locate(session)
        if principal.role is Role.LEADER and not (
            subject is not None and subject.within(principal)
        ):
            if self.by_reference:
                raise repo.NotFound(f"unknown {self.what}")
            raise Forbidden(f"{self.what} is not within this token's scope")
        result = self.command(session, processor)
        session.add(
            AuditRow(
                at=self.acting.at,
                token_id=principal.token_id,
                token_name=principal.name,
                role=principal.role.value,
                action=self.action,
                guard_id=None if subject is None else subject.guard_id,
                target=self.target(result),
                client=self.acting.client,
            )
        )
        return result


def guards_in_scope(session: Session, principal: Principal) -> list[str] | None:
    """The ids of the guards a leader answers for; ``None`` (every guard) for other roles."""
    query = scope_query(principal)
    return None if query is None else sorted(session.scalars(query))


def list_audit(
    session: Session,
    *,
    token_id: str | None = None,
    action: str | None = None,
    guard_id: str | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Audit records newest first, optionally of one token, action and/or guard."""
    stmt = select(AuditRow)
    if token_id is not None:
        stmt = stmt.where(AuditRow.token_id == token_id)
    if action is not None:
        stmt = stmt.where(AuditRow.action == action)
    if guard_id is not None:
        stmt = stmt.where(AuditRow.guard_id == guard_id)
    stmt = stmt.order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def audit_json(row: AuditRow) -> dict[str, Any]:
    """The JSON of an audit record (API and CLI)."""
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "token_id": row.token_id,
        "token_name": row.token_name,
        "role": row.role,
        "action": row.action,
        "guard_id": row.guard_id,
        "target": row.target,
        "client": row.client,
    }


def list_alerts_within(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    guard_id: str | None = None,
    limit: int = 100,
) -> list[AlertRow]:
    """Alerts newest first, as ``repo.list_alerts``, but a leader's only: his guards' by their
    rows, save those of a shift a load ended with its guard moved or taken out, which stay
    that shift's site's and team's (``gateway.api.shift_scope``)."""
    scope = alerts_in_scope(principal)
    if scope is None:
        return repo.list_alerts(session, status=status, guard_id=guard_id, limit=limit)
    stmt = select(AlertRow).where(scope)
    if guard_id is not None:
        stmt = stmt.where(AlertRow.guard_id == guard_id)
    if status is not None:
        stmt = stmt.where(AlertRow.status == status)
    stmt = stmt.order_by(AlertRow.opened_at.desc(), AlertRow.id.desc()).limit(limit)
    return list(session.scalars(stmt))
