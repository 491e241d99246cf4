"""Export and erasure of a guard's data are audited like every action on a guard.

The audit row (``gateway.db.auth_models.AuditRow``) is written *before* the data moves, in its
own transaction, so a crash half-way through an erasure still leaves the record that it was
started, by whom and when; the row is then completed with what was exported or erased. The row
keeps the guard's id (an id, not his data): it is the proof the request was answered.
"""

from __future__ import annotations

import getpass
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from gateway.db.auth_models import AuditRow
from gateway.privacy.subject import ErasureRefused, ErasureReport, erase_guard, export_guard

__all__ = ["Actor", "audited_erasure", "audited_export", "cli_actor", "finish_audit", "start_audit"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: an API token (id, name, role) and the client address, or the command line."""

    token_id: str
    name: str
    role: str
    client: str | None


def cli_actor() -> Actor:
    """The operator at the command line: his login name on this host (no token involved)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric user)
        user = "unknown"
    return Actor("cli", user[:200], "admin", f"cli@{socket.gethostname()}"[:64])


def start_audit(engine: Engine, actor: Actor, action: str, guard_id: str, at: datetime) -> int:
    """Record that ``actor`` started ``action`` on ``guard_id`` at ``at``; returns the row id."""
    row = AuditRow(
        at=at,
        token_id=actor.token_id,
        token_name=actor.name,
        role=actor.role,
        action=action,
        guard_id=guard_id,
        target={"status": "started"},
        client=actor.client,
    )
    with Session(engine) as session, session.begin():
        session.add(row)
        session.flush()
        return int(row.id)


def finish_audit(engine: Engine, audit_id: int, outcome: dict[str, Any]) -> None:
    """Complete the row of :func:`start_audit` with what was done (or why it was refused)."""
    with Session(engine) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.id == audit_id).values(target=outcome))


def audited_export(engine: Engine, actor: Actor, guard_id: str, at: datetime) -> Iterator[str]:
    """:func:`~gateway.privacy.subject.export_guard`, audited as ``data.export`` with the
    number of records of each kind handed out (``complete`` false if the reader stopped)."""
    audit_id = start_audit(engine, actor, "data.export", guard_id, at)
    kinds: Counter[str] = Counter()
    complete = False
    try:
        for kind, line in export_guard(engine, guard_id):
            kinds[kind] += 1
            yield line
        complete = True
    finally:
        finish_audit(engine, audit_id, {"records": dict(kinds), "complete": complete})


def audited_erasure(engine: Engine, actor: Actor, guard_id: str, at: datetime) -> ErasureReport:
    """:func:`~gateway.privacy.subject.erase_guard`, audited as ``data.erase`` with the rows
    erased per table, or the reason it was refused (then re-raised)."""
    audit_id = start_audit(engine, actor, "data.erase", guard_id, at)
    try:
        report = erase_guard(engine, guard_id, at)
    except ErasureRefused as exc:
        finish_audit(engine, audit_id, {"refused": str(exc)})
        raise
    finish_audit(engine, audit_id, {"rows": report.rows})
    return report
