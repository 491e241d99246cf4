"""API tokens: issued, listed and revoked by the ``guard-gateway token`` commands, looked up on
every API request.

A token is ``gw_`` followed by 32 random bytes (``secrets.token_urlsafe``) and is shown once,
when it is issued. Only its SHA-256 is stored. A plain, unsalted hash is enough here because
the token is not a password: with 256 bits of randomness there is nothing to guess or look up in
a table, so a slow, salted hash (bcrypt, scrypt) would add cost to every request and no
protection. A stolen database therefore yields no usable token, and the lookup is one indexed
equality on the digest.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.auth_models import ApiTokenRow
from gateway.db.models import GuardRow, LeaderRow, SiteRow
from gateway.errors import ConfigError

__all__ = [
    "IssuedToken",
    "Principal",
    "Role",
    "digest",
    "in_force",
    "issue_token",
    "list_tokens",
    "principal_for",
    "revoke_token",
    "scope_notices",
]

TOKEN_PREFIX = "gw_"


class Role(StrEnum):
    """What a token may do (docs/api.md has the full table)."""

    ADMIN = "admin"
    """Everything, including the audit log."""
    LEADER = "leader"
    """Reads and acts on the guards of his sites (and teams) only."""
    INTEGRATION = "integration"
    """The management core: reports, leaves, cancellations and every read."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the token's id, name and role; a leader's sites and teams."""

    token_id: str
    name: str
    role: Role
    sites: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    def covers(self, site_id: str | None, team: str | None) -> bool:
        """Whether a guard (or device) of ``site_id`` and ``team`` is within this token's scope.
        Admin and integration tokens cover every site; a leader's, only his sites, and within
        them only his teams when the token names any."""
        if self.role is not Role.LEADER:
            return True
        if site_id is None or site_id not in self.sites:
            return False
        return not self.teams or team in self.teams


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just issued: ``token`` is the secret, shown this once and stored nowhere."""

    id: str
    token: str
    row: ApiTokenRow


def digest(token: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    *,
    name: str,
    role: Role,
    now: datetime,
    sites: tuple[str, ...] = (),
    teams: tuple[str, ...] = (),
) -> IssuedToken:
    """Store a new token (the caller commits). A leader's token needs at least one site; the
    other roles take no sites or teams (they see everything). ``ConfigError`` otherwise."""
    if not name.strip():
        raise ConfigError("a token needs a name (who or what holds it)")
    if role is Role.LEADER and not sites:
        raise ConfigError("a leader's token needs at least one --site")
    if role is not Role.LEADER and (sites or teams):
        raise ConfigError(f"an {role.value} token covers every site: give no --site or --team")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        id=secrets.token_hex(6),
        name=name.strip(),
        role=role.value,
        sites=sorted(set(sites)),
        teams=sorted(set(teams)),
        token_sha256=digest(token),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, token, row)


def list_tokens(session: Session) -> list[ApiTokenRow]:
    """Every token, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at)))


def revoke_token(session: Session, token_id: str, now: datetime) -> ApiTokenRow:
    """Revoke a token from ``now`` on (revoking again keeps the first time); ``ConfigError``
    for an unknown id."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise ConfigError(f"no token with id {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def in_force(session: Session, token_id: str) -> bool:
    """Whether token ``token_id`` exists and is not revoked: asked again by what outlives the
    request that presented it (an open event stream), since revoking ends a token at once."""
    revoked = session.execute(
        select(ApiTokenRow.revoked_at).where(ApiTokenRow.id == token_id)
    ).one_or_none()
    return revoked is not None and revoked[0] is None


def principal_for(session: Session, token: str) -> Principal | None:
    """The principal of a presented token, or ``None`` when it is unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(
        token_id=row.id,
        name=row.name,
        role=Role(row.role),
        sites=frozenset(row.sites),
        teams=frozenset(row.teams),
    )


def scope_notices(session: Session, sites: tuple[str, ...], teams: tuple[str, ...]) -> list[str]:
    """What is wrong with a leader token's scope as the database stands: a site it does not
    hold, a team no guard or leader of ``sites`` is in. Such a token sees nothing of them, and
    a leader who reads an empty page believes his guards are all fine; said when the token is
    made, not refused (the site file may be loaded after)."""
    notices = []
    known_sites = set(session.scalars(select(SiteRow.id)))
    unknown = sorted(set(sites) - known_sites)
    if unknown:
        stored = ", ".join(sorted(known_sites)) or "none yet"
        notices.append(
            f"no site {', '.join(map(repr, unknown))} is stored (stored: {stored}): the token "
            "sees nothing there until a site file names it"
        )
    if teams:
        known_teams = {
            team
            for model in (GuardRow, LeaderRow)
            for team in session.scalars(select(model.team).where(model.site_id.in_(sites)))
            if team
        }
        strange = sorted(set(teams) - known_teams)
        if strange:
            named = ", ".join(sorted(known_teams)) or "none"
            notices.append(
                f"no guard or leader of {', '.join(sorted(sites))} is in team "
                f"{', '.join(map(repr, strange))} (their teams: {named}): the token sees none "
                "of its guards"
            )
    return notices
