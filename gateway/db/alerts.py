"""Alerts: one row per episode, open → acknowledged (who, when, a note) → resolved (by hand with
a note, or when the condition ends); escalated at most once while nobody acknowledged it.
Functions take the caller's ``Session`` and never commit."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.models import AlertRow, LeaderRow
from gateway.errors import InvalidRequest, NotFound

__all__ = [
    "acknowledge_alert",
    "alerts_awaiting_escalation",
    "check_acknowledger",
    "claim_escalation",
    "first_opened_after",
    "list_alerts",
    "open_alerts",
    "open_or_update_alert",
    "open_reader_alert_key",
    "resolve_alert",
]


def open_or_update_alert(
    session: Session,
    *,
    alert_key: str,
    alert_type: str,
    guard_id: str,
    at: datetime,
    event_id: str,
    shift_id: str | None = None,
    site_id: str | None = None,
    post_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[AlertRow, bool]:
    """Open the alert of episode ``alert_key``, or update it if it exists; ``(row, created)``.

    An existing alert keeps its status and acknowledgement (one alert per episode, never
    duplicated); only ``last_event_id``, ``data`` and ``updated_at`` change.
    """
    row = session.scalar(select(AlertRow).where(AlertRow.alert_key == alert_key))
    if row is not None:
        row.last_event_id = event_id
        row.updated_at = at
        if data is not None:
            row.data = dict(data)
        session.flush()
        return row, False
    row = AlertRow(
        alert_key=alert_key,
        type=alert_type,
        guard_id=guard_id,
        shift_id=shift_id,
        site_id=site_id,
        post_id=post_id,
        opened_at=at,
        updated_at=at,
        status="open",
        last_event_id=event_id,
        data=dict(data or {}),
    )
    session.add(row)
    session.flush()
    return row, True


def _alert(session: Session, alert: str | int) -> AlertRow:
    column = AlertRow.id if isinstance(alert, int) else AlertRow.alert_key
    row = session.scalar(select(AlertRow).where(column == alert))
    if row is None:
        raise NotFound(f"unknown alert {alert!r}")
    return row


OPENED_AHEAD_TOLERANCE_S = 120
"""How far an alert's opening, dated by a device, may lie ahead of the gateway's clock."""


def check_acknowledger(session: Session, by: str, site_id: str | None) -> None:
    """``InvalidRequest`` unless ``by`` is a leader of ``site_id`` (of any site when ``None``):
    an acknowledgement stops the alert's escalation, so one in the name of a misspelt or
    unknown id would stop it with no leader having seen it. The answer names the site's
    leaders, so the typo is found at once."""
    query = select(LeaderRow.id)
    if site_id is not None:
        query = query.where(LeaderRow.site_id == site_id)
    leaders = sorted(set(session.scalars(query)))
    if by in leaders:
        return
    where = f"of site {site_id!r}" if site_id is not None else "of any site"
    shown = ", ".join(leaders[:20]) + (" ..." if len(leaders) > 20 else "")
    raise InvalidRequest(
        f"by {by!r} is no leader {where}: an alert is acknowledged by one of its leaders"
        + (f" ({shown})" if shown else " (the site file names none)")
    )


def acknowledge_alert(
    session: Session, alert: str | int, *, by: str, at: datetime, note: str | None = None
) -> AlertRow:
    """Record that ``by`` confirmed the alert (by key, or by id when an ``int``), with his note.

    The first acknowledgement is the evidence and is kept: acknowledging again changes nothing
    (its note included). A resolved or escalated alert can still be acknowledged; a resolved
    one stays resolved. ``NotFound`` if unknown.

    ``at`` is the evidence of how soon he answered (``ack_latency_s``), and no one answers an
    alert before it exists: more than ``OPENED_AHEAD_TOLERANCE_S`` before it opened is an
    ``InvalidRequest``. Within that, it is taken as the opening: an alert dated by a device
    whose clock runs a little ahead (an SOS, up to two minutes: ``gateway.rules.alarms``)
    opens a moment after the gateway's clock, and an acknowledgement at once is not negative.
    """
    row = _alert(session, alert)
    if utc(at) < row.opened_at - timedelta(seconds=OPENED_AHEAD_TOLERANCE_S):
        raise InvalidRequest(
            f"at {utc(at).isoformat()} is before the alert opened ({row.opened_at.isoformat()})"
        )
    if row.acknowledged_at is None:
        row.acknowledged_by = by
        row.acknowledged_at = max(utc(at), row.opened_at)
        row.acknowledged_note = note
        row.updated_at = at
        if row.status == "open":
            row.status = "acknowledged"
        session.flush()
    return row


def resolve_alert(
    session: Session,
    alert: str | int,
    *,
    at: datetime,
    by: str | None = None,
    event_id: str | None = None,
    resolution: str = "ended",
    note: str | None = None,
) -> AlertRow:
    """Resolve the alert (by key, or id when an ``int``); ``by`` is ``None`` when automatic.
    ``resolution`` says how: ``ended`` (the condition ended), ``withdrawn`` (found wrong by a
    later fact), ``by_hand`` (with the leader's ``note``).

    Resolving a resolved alert changes nothing, so a replayed resolution is harmless, except
    that a withdrawal overrides an earlier automatic end (a report entered after the guard's
    return shows the alert should never have been raised). ``NotFound`` if unknown.
    """
    row = _alert(session, alert)
    if row.status == "resolved" and resolution == "withdrawn" and row.resolution == "ended":
        row.resolution = resolution
        if event_id is not None:
            row.last_event_id = event_id
        session.flush()
    if row.status != "resolved":
        row.status = "resolved"
        row.resolution = resolution
        row.resolved_at = at
        row.resolved_by = by
        row.resolved_note = note
        row.updated_at = at
        if event_id is not None:
            row.last_event_id = event_id
        session.flush()
    return row


def _awaiting(site_ids: Collection[str]) -> Select[tuple[AlertRow]]:
    return select(AlertRow).where(
        AlertRow.status == "open",
        AlertRow.escalated_at.is_(None),
        or_(AlertRow.site_id.in_(sorted(site_ids)), AlertRow.site_id.is_(None)),
    )


def alerts_awaiting_escalation(
    session: Session, *, opened_by: datetime, site_ids: Collection[str]
) -> list[AlertRow]:
    """Alerts still open (neither acknowledged nor resolved), never escalated, opened by
    ``opened_by``, of the sites ``site_ids`` (or of no recorded site), oldest first; whether
    each is due depends on its site's policy (``gateway.pipeline.escalation``)."""
    stmt = _awaiting(site_ids).where(AlertRow.opened_at <= opened_by)
    return list(session.scalars(stmt.order_by(AlertRow.opened_at, AlertRow.id)))


def first_opened_after(
    session: Session, *, after: datetime, site_ids: Collection[str]
) -> datetime | None:
    """When the earliest alert awaiting escalation (as above) opened after ``after`` opened."""
    stmt = _awaiting(site_ids).where(AlertRow.opened_at > after)
    first: datetime | None = session.scalar(stmt.with_only_columns(func.min(AlertRow.opened_at)))
    return first


def open_reader_alert_key(session: Session, device_id: str) -> str | None:
    """The key of reader ``device_id``'s unresolved ``alert.device_silent`` (keys
    ``reader:<device>:<time>``, subject the device), the latest if several; ``None`` if none.

    What a process that did not open the alert needs: a process restarted since, or another
    process of the host that took the reader over from one that stopped or died."""
    stmt = (
        select(AlertRow.alert_key)
        .where(
            AlertRow.guard_id == device_id,
            AlertRow.type == "alert.device_silent",
            AlertRow.resolved_at.is_(None),
            AlertRow.alert_key.startswith(f"reader:{device_id}:", autoescape=True),
        )
        .order_by(AlertRow.opened_at.desc(), AlertRow.id.desc())
        .limit(1)
    )
    key: str | None = session.scalar(stmt)
    return key


def claim_escalation(
    session: Session, alert_id: int, *, at: datetime, to: list[str]
) -> AlertRow | None:
    """Record that alert ``alert_id`` is escalated at ``at`` to the leaders ``to`` and return
    it; ``None`` (nothing changed) when it was meanwhile acknowledged, resolved or escalated.

    The row is read again under a row lock (PostgreSQL) so an acknowledgement committed by
    another process since the caller's query is seen, not overwritten.
    """
    stmt = select(AlertRow).where(AlertRow.id == alert_id).with_for_update()
    row = session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None or row.status != "open" or row.escalated_at is not None:
        return None
    row.escalated_at = at
    row.escalated_to = list(to)
    row.updated_at = at
    session.flush()
    return row


def open_alerts(session: Session, guard_id: str | None = None) -> list[AlertRow]:
    """Alerts not yet resolved (all, or one guard's), oldest first."""
    stmt = select(AlertRow).where(AlertRow.status != "resolved")
    if guard_id is not None:
        stmt = stmt.where(AlertRow.guard_id == guard_id)
    return list(session.scalars(stmt.order_by(AlertRow.opened_at, AlertRow.id)))


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    guard_id: str | None = None,
    limit: int = 100,
) -> list[AlertRow]:
    """Alerts newest first (by ``opened_at``), optionally of one status and/or one guard."""
    stmt = select(AlertRow)
    if status is not None:
        stmt = stmt.where(AlertRow.status == status)
    if guard_id is not None:
        stmt = stmt.where(AlertRow.guard_id == guard_id)
    stmt = stmt.order_by(AlertRow.opened_at.desc(), AlertRow.id.desc()).limit(limit)
    return list(session.scalars(stmt))
