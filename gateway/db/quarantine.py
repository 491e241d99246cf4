"""The quarantine: inputs that fail on their own, kept with their reason instead of failing
their batch.

When a batch keeps failing, the pipeline runtime splits it until the input that fails alone is
found (``gateway.pipeline.runtime``); that input is written here, in its own transaction, and
the rest of the batch goes through. A row keeps what is needed to see what went wrong and to
replay the input by hand: when it was received, where from (the transport and, for MQTT, the
topic), the raw input (at most :data:`MAX_RAW_BYTES`; text as text, other bytes in base64, and
its whole size), and the exception (its class as a key, its message cut to
:data:`MAX_REASON_CHARS`). Each is counted as ``quarantined.<reason_key>``, the key coming from
the exception's class, never from the input. ``guard-gateway quarantine list`` shows them.

This module knows no transport: an input is described by its attributes (``topic``,
``payload``, ``received_at`` of an MQTT message; the records of a ``DecodeOutcome``).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gateway.db.base import ID_LENGTH, Base, BigId, UtcDateTime
from gateway.records import DecodeOutcome

__all__ = [
    "MAX_RAW_BYTES",
    "MAX_REASON_CHARS",
    "QuarantineRow",
    "Quarantined",
    "print_quarantined",
    "quarantine_json",
    "quarantined",
    "reason_key_of",
    "store_quarantined",
]

MAX_RAW_BYTES = 16_384
"""Bytes of an input kept (a payload limit of the device contract is well below this)."""

MAX_REASON_CHARS = 1_000
"""Characters of an exception's message kept (a database error quotes its statement)."""


class QuarantineRow(Base):
    """One input that failed on its own (see the module docstring)."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    quarantined_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    """``mqtt``, ``decoded`` (a record a reader or terminal driver decoded), or the input's
    type."""
    topic: Mapped[str | None] = mapped_column(String(256), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    raw: Mapped[str] = mapped_column(Text, nullable=False)
    raw_encoding: Mapped[str] = mapped_column(String(8), nullable=False)
    """``text`` or ``base64``."""
    raw_size: Mapped[int] = mapped_column(Integer, nullable=False)
    """The input's whole size in bytes (``raw`` keeps at most ``MAX_RAW_BYTES`` of them)."""
    reason_key: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An input described for the quarantine."""

    received_at: datetime
    source: str
    topic: str | None
    device_id: str | None
    raw: bytes

    @classmethod
    def of(cls, item: object, now: datetime) -> Quarantined:
        """Describe ``item`` (an MQTT message, a decoded outcome, anything else by its repr);
        ``now`` stands for its reception time when it has none."""
        if isinstance(item, DecodeOutcome):
            records: list[Any] = [
                *item.fixes,
                *item.scans,
                *item.punches,
                *item.alarms,
                *item.rejects,
            ]
            device = next((_device_of(r) for r in records if _device_of(r)), None)
            received = next((r.received_at for r in records if hasattr(r, "received_at")), now)
            return cls(received, "decoded", None, device, repr(item).encode("utf-8"))
        payload = getattr(item, "payload", None)
        topic = getattr(item, "topic", None)
        received_at = getattr(item, "received_at", None)
        received = received_at if isinstance(received_at, datetime) else now
        if isinstance(payload, bytes) and isinstance(topic, str):
            return cls(received, "mqtt", topic[:256], None, payload)
        return cls(received, type(item).__name__[:32], None, None, repr(item).encode("utf-8"))


def _device_of(record: object) -> str | None:
    for name in ("device_id", "reader_id", "terminal_id"):
        value = getattr(record, name, None)
        if isinstance(value, str):
            return value[:ID_LENGTH]
    return None


def reason_key_of(exc: BaseException) -> str:
    """The counter key of an exception: its class in snake case (``IntegrityError`` →
    ``integrity_error``), so no input can mint a counter name."""
    name = type(exc).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()[:64]


def store_quarantined(
    session: Session, item: Quarantined, exc: BaseException, now: datetime
) -> QuarantineRow:
    """Add ``item`` to the quarantine in ``session``'s transaction, with why it failed."""
    kept = item.raw[:MAX_RAW_BYTES]
    try:
        raw, encoding = kept.decode("utf-8"), "text"
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL
            raise UnicodeDecodeError("utf-8", kept, 0, 1, "NUL")
    except UnicodeDecodeError:
        raw, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    message = str(getattr(exc, "orig", None) or exc)
    row = QuarantineRow(
        received_at=item.received_at,
        quarantined_at=now,
        source=item.source,
        topic=item.topic,
        device_id=item.device_id,
        raw=raw,
        raw_encoding=encoding,
        raw_size=len(item.raw),
        reason_key=reason_key_of(exc),
        reason=f"{type(exc).__name__}: {message}"[:MAX_REASON_CHARS].replace("\x00", "\\x00"),
    )
    session.add(row)
    return row


def quarantined(session: Session, *, limit: int = 100) -> list[QuarantineRow]:
    """The newest ``limit`` quarantined inputs, newest first."""
    stmt = select(QuarantineRow).order_by(QuarantineRow.id.desc()).limit(max(limit, 0))
    return list(session.scalars(stmt))


def quarantine_json(row: QuarantineRow) -> dict[str, Any]:
    """A quarantined input as JSON (the CLI's ``--json``)."""
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "quarantined_at": row.quarantined_at.isoformat(),
        "source": row.source,
        "topic": row.topic,
        "device_id": row.device_id,
        "raw": row.raw,
        "raw_encoding": row.raw_encoding,
        "raw_size": row.raw_size,
        "reason_key": row.reason_key,
        "reason": row.reason,
    }


def print_quarantined(engine: Engine, out: TextIO, *, limit: int, as_json: bool) -> int:
    """Write the newest ``limit`` quarantined inputs to ``out``: one JSON object a line, or a
    line of text each (when, where from, why, how big); returns how many."""
    with Session(engine) as session:
        rows = quarantined(session, limit=limit)
        for row in rows:
            if as_json:
                out.write(json.dumps(quarantine_json(row), ensure_ascii=False) + "\n")
                continue
            origin = row.topic or row.device_id or "-"
            out.write(
                f"{row.id}\t{row.quarantined_at.isoformat()}\t{row.source}\t{origin}\t"
                f"{row.reason_key}\t{row.raw_size} bytes\t{_one_line(row.reason)}\n"
            )
    if not rows and not as_json:
        out.write("quarantine empty\n")
    return len(rows)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
