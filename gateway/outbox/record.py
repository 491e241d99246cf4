"""A gateway run without a management core: its events are kept as the record, not queued.

A company may run the gateway with only the leaders' group robots and the live page, and no
core (``GATEWAY_CORE_URL`` unset). Its events cannot be delivered, yet they are the history
the daily ledger is built from (departures, their durations, whether they were reported), so
they are still written, one ``record`` row each (``gateway.outbox.tables.RECORD_DESTINATION``),
settled at once. Rows queued for the core would wait for ever: never purged (an undelivered
row is kept until delivered), holding up the erasure of every guard they name, and growing
the delivery lag the operators' alert watches.

Rows that already wait for a core when a gateway starts without one (a core since removed)
become record rows the same way, with a notice saying how many: the ledger keeps them, nothing
waits for them. They are not sent to a core configured later; that core gets the events from
its configuration on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, delete, exists, update
from sqlalchemy.orm import Session, aliased

from gateway.clock import utc
from gateway.outbox.tables import CORE_DESTINATION, RECORD_DESTINATION, OutboxRow

__all__ = ["keep_core_queue_as_record"]

log = logging.getLogger(__name__)


def keep_core_queue_as_record(engine: Engine, now: datetime) -> int:
    """Turn every row still waiting for the core into the event's settled record row (at
    ``now``), in one transaction; returns how many events were waiting, after a notice naming
    them when there were any."""
    other = aliased(OutboxRow)
    waiting = (OutboxRow.destination == CORE_DESTINATION, OutboxRow.delivered_at.is_(None))
    recorded = exists().where(
        other.event_id == OutboxRow.event_id, other.destination == RECORD_DESTINATION
    )
    with Session(engine) as session, session.begin():
        # An event already kept as a record (written again while no core was configured)
        # needs no second row.
        doubled = session.execute(
            delete(OutboxRow).where(*waiting, recorded).execution_options(synchronize_session=False)
        )
        kept = session.execute(
            update(OutboxRow)
            .where(*waiting)
            .values(destination=RECORD_DESTINATION, delivered_at=utc(now), refused_at=None)
            .execution_options(synchronize_session=False)
        )
    count = int(getattr(doubled, "rowcount", 0) or 0) + int(getattr(kept, "rowcount", 0) or 0)
    if count:
        log.warning(
            "no management core configured (GATEWAY_CORE_URL): %d event(s) waiting for one are "
            "kept as the gateway's record only (the ledger has them) and will not be sent",
            count,
        )
    return count
