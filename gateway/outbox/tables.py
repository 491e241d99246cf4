"""The outbox table: one row per event and destination, delivered in ``seq`` order per subject."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, UtcDateTime

__all__ = ["OutboxRow"]


class OutboxRow(Base):
    """An event waiting for (or done with) delivery to one destination.

    ``body`` is the exact JSON sent (a CloudEvents 1.0 envelope for the core), so a retry sends
    byte-identical content and the core can de-duplicate on ``event_id``.
    """

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    destination: Mapped[str] = mapped_column(String(32), nullable=False, default="core")
    subject: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    event_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("uq_outbox_event_destination", "event_id", "destination", unique=True),
        Index("ix_outbox_pending", "destination", "delivered_at", "seq"),
    )
