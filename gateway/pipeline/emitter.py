"""The emitter: a rule event → its outbox row, its alert row, the alerts it resolves.

Every stage that produces events writes them through one ``Emitter``, in the batch's
transaction, in the order it produces them: so an alert opened and resolved within one batch
is written in that order, and an event exists exactly when the state change that produced it
does (both commit, or neither). The rows are kept in the batch's context and written together
by ``Emitter.flush`` (``gateway.pipeline.pending``): a few statements per batch, however many
events it has.
"""

from __future__ import annotations

from typing import Any

from gateway.clock import Clock
from gateway.db.alert_batch import AlertOpen, AlertResolve
from gateway.outbox.routing import ExtraDestinations
from gateway.outbox.writer import outbox_rows
from gateway.pipeline.context import BatchContext, EmittedEvent
from gateway.pipeline.duty import Duty
from gateway.rules import RuleEvent

__all__ = ["Emitter"]


class Emitter:
    """Writes events to the outbox (signed and delivered later) and keeps the alerts table.

    ``source`` is the CloudEvents ``source`` of every event, ``destinations`` the outbox's
    delivery targets of every event; ``route`` adds the group robots an event goes to (alerts
    and what resolves or withdraws them; and, for an alert that had been escalated, the groups
    it was escalated to, found when the alert changes are written: ``flush``).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        source: str,
        destinations: tuple[str, ...] = ("core",),
        route: ExtraDestinations | None = None,
    ) -> None:
        self._clock = clock
        self._source = source
        self._destinations = destinations
        self._route = route
        self.alerts_opened = 0
        """How many alerts this emitter has opened, counted when they are written (``flush``;
        a transaction rolled back after it included): a stage that waits on new alerts
        (escalation) flushes, then compares it rather than query the table."""

    def emit(
        self,
        ctx: BatchContext,
        event: RuleEvent,
        *,
        subject: str,
        duty: Duty | None = None,
        resolved_by: str | None = None,
    ) -> EmittedEvent:
        """Write ``event`` in ``ctx``'s transaction and add it to ``ctx.events``.

        The rows are written when ``flush`` is called (before the commit, and before anything in
        the transaction reads the outbox or the alerts); what is returned is already final (the
        event id comes from its key).

        ``subject`` is the guard (or the device, for a device's own events); ``duty``, when the
        event belongs to a shift, adds the guard's name, team and post name to the data and
        the shift, site and post to its alert. An ``alert.*`` event (``alert_key`` set) opens
        or updates its alert; the keys in ``event.resolves`` are resolved at the event's time
        (resolution ``ended``), those in ``event.withdraws`` as ``withdrawn``,
        ``resolved_by`` saying by whom or why (``None``: automatically, the condition ended;
        e.g. a withdrawal names itself). An unknown key is logged and skipped: the alert may
        predate the table, or have been raised by a process that did not commit.
        """
        # The row's creation time is when it is written: a long batch may have begun earlier.
        now = self._clock.now()
        data: dict[str, Any] = dict(event.data)
        if duty is not None:
            data.update(guard_name=duty.guard_name, team=duty.team, post_name=duty.post_name)
        destinations = self._destinations
        if self._route is not None:
            settles = bool(event.resolves or event.withdraws)
            extra = self._route(
                ctx.session, type=event.type, subject=subject, data=data, resolves=settles
            )
            destinations = (*destinations, *extra)
        event_id, rows = outbox_rows(
            key=event.key,
            type=event.type,
            subject=subject,
            time=event.time,
            data=data,
            now=now,
            destinations=destinations,
            source=self._source,
        )
        pending = ctx.pending
        pending.outbox.extend(rows)
        if event.alert_key is not None:
            pending.alerts.append(
                AlertOpen(
                    alert_key=event.alert_key,
                    type=event.type,
                    guard_id=subject,
                    at=event.time,
                    event_id=event_id,
                    shift_id=duty.shift_id if duty else None,
                    site_id=duty.site_id if duty else _str(data.get("site_id")),
                    post_id=duty.post_id if duty else None,
                    data=data,
                )
            )
        # A condition that ended is resolved when it ended (device time); a withdrawal when the
        # gateway learned the alert was wrong.
        for keys, resolution, at in (
            (event.resolves, "ended", event.ended_at or event.time),
            (event.withdraws, "withdrawn", now),
        ):
            pending.alerts.extend(
                AlertResolve(
                    alert_key=key,
                    at=at,
                    by=resolved_by,
                    event_id=event_id,
                    resolution=resolution,
                    event_key=event.key,
                )
                for key in keys
            )
        ctx.counters.add(f"events.{event.type}")
        emitted = EmittedEvent(event_id, event.type, subject, event.time, data)
        ctx.events.append(emitted)
        return emitted

    def flush(self, ctx: BatchContext) -> None:
        """Write the rows of every event emitted in ``ctx`` and not yet written, in the order
        they were emitted (nothing to write: no statement)."""
        if ctx.pending:
            self.alerts_opened += ctx.pending.write(ctx.session, self._route).opened


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
