"""The SOS messages each emergency's alert was raised or kept up by, as digests of their payload.

A broker hands a retained message over again at every new subscription, so a terminal that
publishes its SOS retained has it replayed at each gateway restart or reconnection, hours or
months later. A replay is byte for byte a message already taken; these digests, kept in the
``alerts`` row's ``data`` under ``sos_payloads`` (SHA-256 of the payload text, oldest first,
at most :data:`MAX_PAYLOADS`), let the alarm stage know it for what it is after any restart.
Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import AlertRow

__all__ = ["MAX_PAYLOADS", "SOS_PAYLOADS", "payload_digest", "record_payload", "seen_payload"]

SOS_PAYLOADS = "sos_payloads"
MAX_PAYLOADS = 32
"""Digests kept per alert: far more presses than one emergency has (the broker retains only
the last message of a topic, so the newest are those that matter)."""


def payload_digest(raw: str) -> str:
    """The SHA-256 hex digest of a message's payload text (its ``raw``)."""
    return hashlib.sha256(raw.encode("utf-8", errors="surrogatepass")).hexdigest()


def record_payload(session: Session, alert_key: str, digest: str) -> None:
    """Add ``digest`` to the payloads of alert ``alert_key`` (no alert: nothing to do)."""
    row = session.scalar(select(AlertRow).where(AlertRow.alert_key == alert_key))
    if row is None:
        return
    known = [d for d in row.data.get(SOS_PAYLOADS) or () if isinstance(d, str)]
    if digest in known:
        return
    row.data = {**row.data, SOS_PAYLOADS: [*known, digest][-MAX_PAYLOADS:]}


def seen_payload(
    session: Session, alert_type: str, subjects: Collection[str], device_id: str, digest: str
) -> bool:
    """Whether an alert of ``alert_type`` about one of ``subjects`` (the guard, or the device
    for an unbound one) records ``digest`` among ``device_id``'s payloads, whatever its status."""
    rows = session.scalars(
        select(AlertRow.data).where(AlertRow.type == alert_type, AlertRow.guard_id.in_(subjects))
    )
    return any(
        data.get("device_id") == device_id and digest in (data.get(SOS_PAYLOADS) or ())
        for data in rows
    )
