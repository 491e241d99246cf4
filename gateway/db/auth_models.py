"""The API's credentials and its audit log: ``api_tokens`` and ``audit_log``.

Tokens are configuration written only by the ``guard-gateway token`` commands; the audit log is
append-only evidence, written in the same transaction as the action it records. Neither has
foreign keys to the site tables, so reloading a site never touches them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import ID_LENGTH, Base, BigId, UtcDateTime

__all__ = ["ApiTokenRow", "AuditRow"]


class ApiTokenRow(Base):
    """An API token: who holds it (``name``), what it may do (``role``, and for a leader the
    ``sites`` and ``teams`` he answers for), and the SHA-256 of the token, never the token."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    """``admin``, ``leader`` or ``integration``."""
    sites: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    """A leader's sites (at least one); empty for the other roles."""
    teams: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    """A leader's teams within his sites; empty: every team of them."""
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditRow(Base):
    """One action taken through the API: who (the token's id, name and role), what (``action``
    and the ids it touched), when (the gateway's clock) and from where (the client address)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    token_id: Mapped[str] = mapped_column(String(16), nullable=False)
    token_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    """``report.file``, ``leave.approve``, ``leave.cancel``, ``alert.acknowledge``,
    ``wand.import``."""
    guard_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    target: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The ids the action touched (``report_id``, ``leave_id``, ``alert_id``, ``wand_id``...)."""
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The client's address as the server saw it (a proxy's, behind one)."""

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_token_at", "token_id", "at"),
    )
