"""The outbox table (one row per event and destination, delivered in ``seq`` order per subject)
and the group robots, the destinations a site file adds beside the core."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, UtcDateTime

__all__ = [
    "CORE_DESTINATION",
    "EVENT_DESTINATIONS",
    "RECORD_DESTINATION",
    "ROBOT_DESTINATION_PREFIX",
    "OutboxRow",
    "RobotRow",
    "robot_destination",
]

CORE_DESTINATION = "core"
"""The management core's row of an event: delivered by the core's workers, and the event's
record (the daily ledger is built from it)."""
RECORD_DESTINATION = "record"
"""The row of an event written by a gateway with no management core configured: the event's
record only, for the ledger, settled when written (``delivered_at`` = ``created_at``), so it
waits for nothing, is purged with the records and holds up no erasure. A core configured later
gets the events from then on, never these."""
EVENT_DESTINATIONS = (CORE_DESTINATION, RECORD_DESTINATION)
"""The destinations whose rows are the gateway's event history, one row per event (the same
event under both only if it was written again after the core came or went)."""
ROBOT_DESTINATION_PREFIX = "robot:"


def robot_destination(robot_id: str) -> str:
    """The outbox destination of a group robot: ``robot:<id>`` (fits the 32-character column
    because robot ids have at most 26 characters)."""
    return ROBOT_DESTINATION_PREFIX + robot_id


class OutboxRow(Base):
    """An event waiting for (or done with) delivery to one destination.

    ``body`` is the exact JSON sent (a CloudEvents 1.0 envelope for the core), so a retry sends
    byte-identical content and the core can de-duplicate on ``event_id``. ``delivered_at`` is
    when it was delivered or, for a ``record`` row, settled (``RECORD_DESTINATION``).
    ``refused_at`` is when the destination refused this event for its content (the core
    answered 400, 413, 415 or 422: ``gateway.outbox.refused``); such a row is kept, out of the
    delivery order, until an operator sends it again (``guard-gateway outbox retry``), which
    clears it.
    """

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    destination: Mapped[str] = mapped_column(String(32), nullable=False, default=CORE_DESTINATION)
    subject: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    event_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        Index("uq_outbox_event_destination", "event_id", "destination", unique=True),
        Index("ix_outbox_pending", "destination", "delivered_at", "seq"),
        Index("ix_outbox_delivered_at", "delivered_at"),  # the retention purge's range scan
    )


class RobotRow(Base):
    """A leaders' group robot (WeCom or DingTalk), configuration written by the site loader.

    ``webhook_ref`` and ``secret_ref`` name secrets held by the settings
    (``GATEWAY_ROBOT_SECRETS``); the secrets themselves are never stored. ``teams`` and
    ``leader_ids`` choose whose alerts it receives (neither: the whole site's).
    """

    __tablename__ = "robots"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    """``wecom`` or ``dingtalk``."""
    webhook_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    teams: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    leader_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)
