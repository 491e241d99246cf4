"""Escalation: an alert nobody acknowledged in time goes to the leaders one level up.

The stage runs in every batch and every tick of the clock (after the deadlines), so it fires on
the clock with no input at all. It reads the alerts table only when there may be something to
do: an alert was opened since it last looked, the roster (site files) was reloaded, or an
alert it saw becomes due; otherwise a tick costs no query. An alert is due when it is still
``open`` (neither acknowledged nor resolved) ``escalate_after_s`` (its site's policy; 0:
never) after it opened. It is then escalated once: ``escalated_at`` is set on the alert row in
the transaction that writes the ``alert.escalated`` event, so a restart neither forgets nor
repeats it, and an alert acknowledged or resolved before its time never escalates.

Who is next up: the leaders alerted about the guard (his ``leaders``, or his team's leaders when
he names none) each may have a ``reports_to`` in the site file; the escalation goes to those.
An alert with nobody named above its guard's leaders (none has ``reports_to``, or it concerns a
device) is not escalated: there is no one to send it to. Should a later site load name someone,
an alert still unacknowledged past its time escalates then. The event carries their ids, names
and contacts for the core, and the group robots of those leaders receive it besides the guard's
own groups (``gateway.outbox.routing``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.db.alerts import (
    alerts_awaiting_escalation,
    claim_escalation,
    first_opened_after,
)
from gateway.db.kept_config import kept_route
from gateway.db.models import AlertRow, DeviceRow, GuardRow, LeaderRow, SiteRow
from gateway.db.repository import site_policy
from gateway.pipeline.context import BatchContext
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.emitter import Emitter
from gateway.pipeline.memory import PipelineMemory
from gateway.policy import SitePolicy
from gateway.rules import RuleEvent

__all__ = ["ESCALATED", "Escalation", "managers_of"]

log = logging.getLogger(__name__)

ESCALATED = "alert.escalated"
"""The event type of an escalation."""

# Fields of the alert's own data the escalation repeats, so a reader needs no other event
# (``started_at``: when he left the post, for an alert about an outing).
_CARRIED = ("guard_name", "team", "post_name", "post_id", "site_id", "shift_id", "started_at")


class Escalation:
    """The stage: escalates every alert due on the clock (see the module docstring)."""

    def __init__(self, emitter: Emitter, clock: Clock, memory: PipelineMemory) -> None:
        self._emitter = emitter
        self._clock = clock
        self._memory = memory
        self._seen: tuple[int, DutyIndex] | None = None
        """The emitter's count of opened alerts and the roster at the last look: while both
        stay and nothing seen is due, a tick reads nothing (a quiet tick touches no database)."""
        self._next_due: datetime | None = None
        """The earliest time an alert seen at the last look becomes due: looked at again then."""

    def run(self, ctx: BatchContext) -> None:
        # The alerts the batch opened are written before the count is compared and the table read.
        self._emitter.flush(ctx)
        now = self._clock.now()
        seen = (self._emitter.alerts_opened, self._memory.duties)
        last = self._seen
        next_due = self._next_due
        if (
            last is not None
            and last[0] == seen[0]
            and last[1] is seen[1]
            and (next_due is None or now < next_due)
        ):
            return
        self._seen, self._next_due = seen, None
        policies = _escalating_sites(ctx.session)
        if not policies:
            return
        shortest = timedelta(seconds=min(p.escalate_after_s for p in policies.values()))
        cutoff = now - shortest
        sites = set(policies)
        for alert in alerts_awaiting_escalation(ctx.session, opened_by=cutoff, site_ids=sites):
            site_id = _site_of(ctx.session, alert)
            policy = policies.get(site_id) if site_id is not None else None
            if policy is None:
                continue
            due = alert.opened_at + timedelta(seconds=policy.escalate_after_s)
            if now < due:
                self._due_at(due)
                continue
            self._escalate(ctx, alert, site_id, policy.escalate_after_s, now)
            # Looked at again next time: should this transaction fail, the alert is still due.
            self._due_at(now)
        first = first_opened_after(ctx.session, after=cutoff, site_ids=sites)
        if first is not None:
            self._due_at(first + shortest)  # no later than its own due time: looked at by then

    def _due_at(self, due: datetime) -> None:
        self._next_due = due if self._next_due is None else min(self._next_due, due)

    def _escalate(
        self, ctx: BatchContext, alert: AlertRow, site_id: str | None, after_s: float, now: datetime
    ) -> None:
        team = alert.data.get("team")
        managers = managers_of(
            ctx.session,
            alert.guard_id,
            site_id=site_id,
            team=team if isinstance(team, str) and team else None,
            shift_id=alert.shift_id,
        )
        if not managers:
            return  # nobody named above: nothing to send, and the alert waits for a site load
        ids = [m.id for m in managers]
        row = claim_escalation(ctx.session, alert.id, at=now, to=ids)
        if row is None:
            return
        data: dict[str, Any] = {k: row.data[k] for k in _CARRIED if row.data.get(k) is not None}
        data.update(
            site_id=site_id,
            alert_id=row.id,
            alert_key=row.alert_key,
            alert_type=row.type,
            opened_at=row.opened_at.isoformat(),
            escalate_after_s=after_s,
            due_at=(row.opened_at + timedelta(seconds=after_s)).isoformat(),
            unacknowledged_s=(now - row.opened_at).total_seconds(),
            escalated_to=ids,
            managers=[
                {"id": m.id, "name": m.name, "team": m.team, "contacts": dict(m.contacts)}
                for m in managers
            ],
            detected_at=now.isoformat(),
        )
        event = RuleEvent(type=ESCALATED, time=now, key=f"{row.alert_key}:{ESCALATED}", data=data)
        emitted = self._emitter.emit(ctx, event, subject=row.guard_id)
        row.last_event_id = emitted.event_id
        log.info("alert %s escalated to %s", row.id, ", ".join(ids))


def managers_of(
    session: Session,
    guard_id: str,
    *,
    site_id: str | None = None,
    team: str | None = None,
    shift_id: str | None = None,
) -> list[LeaderRow]:
    """The leaders one level up from those alerted about ``guard_id`` (his ``leaders``, or his
    team's leaders when he names none), by id; empty for a device or when none is named.
    A leader named both as the guard's and above another of his is still escalated to.

    An alert of a shift a site load ended while its guard was another site's, team's or
    leaders' (moved, or taken out of the file) goes up from those its shift ``shift_id`` kept
    at that load (``gateway.db.kept_config.kept_route``), as the robots route it
    (``gateway.outbox.routing``); else from his row's; a guard with neither goes up from
    ``team``'s leaders at ``site_id`` (what the alert says of him)."""
    kept = kept_route(session, shift_id)
    guard = None if kept is not None else session.get(GuardRow, guard_id)
    named: list[str]
    if kept is not None:
        site_id, team, named = kept.site_id, kept.team, list(kept.leaders)
    elif guard is not None:
        site_id, team, named = guard.site_id, guard.team, list(guard.leader_ids)
    elif site_id is None:
        return []
    else:
        named = []
    stmt = select(LeaderRow).where(LeaderRow.site_id == site_id)
    if named:
        stmt = stmt.where(LeaderRow.id.in_(named))
    elif team is not None:
        stmt = stmt.where(LeaderRow.team == team)
    else:
        return []
    above = sorted({r for r in session.scalars(stmt.with_only_columns(LeaderRow.reports_to)) if r})
    if not above:
        return []
    stmt = select(LeaderRow).where(LeaderRow.site_id == site_id, LeaderRow.id.in_(above))
    return list(session.scalars(stmt.order_by(LeaderRow.id)))


def _site_of(session: Session, alert: AlertRow) -> str | None:
    if alert.site_id is not None:
        return alert.site_id
    guard = session.get(GuardRow, alert.guard_id)
    if guard is not None:
        return guard.site_id
    device = session.get(DeviceRow, alert.guard_id)
    return None if device is None else device.site_id


def _escalating_sites(session: Session) -> dict[str, SitePolicy]:
    """The policies of the sites where escalation can happen: a leader names a ``reports_to``
    and ``escalate_after_s`` is not 0. Sites naming no one (the default) cost this query only."""
    stmt = select(LeaderRow.site_id).where(LeaderRow.reports_to.is_not(None)).distinct()
    site_ids = sorted(set(session.scalars(stmt)))
    if not site_ids:
        return {}
    rows = session.scalars(select(SiteRow).where(SiteRow.id.in_(site_ids)))
    policies = {row.id: site_policy(row.policy) for row in rows}
    return {k: p for k, p in policies.items() if p.escalate_after_s > 0}
