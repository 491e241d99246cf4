"""CloudEvents 1.0 envelopes in structured mode (``application/cloudevents+json``).

The envelope is the contract with the management core (see the event catalogue in the design):
``specversion``, ``id``, ``source``, ``type``, ``subject`` (the guard id), ``time`` (when it
happened on the *device* clock), ``datacontenttype`` and ``data``.

Two properties matter for delivery:

* ``id`` is a UUID derived with uuid5 from a key the caller chooses (for example
  ``"departed:<guard>:<time>"``), so replaying the same history after a restart yields the same
  id and the core drops the repeat.
* The serialisation is canonical (sorted keys, no spaces, UTF-8), so the same event always
  becomes the same bytes and a retry is byte-identical to the first attempt (same signature too).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import orjson

__all__ = [
    "CONTENT_TYPE",
    "EVENT_ID_NAMESPACE",
    "SPECVERSION",
    "build_event",
    "canonical_json",
    "make_event_id",
    "rfc3339",
]

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"

# Fixed for ever: changing it would give every replayed event a new id and defeat de-duplication.
EVENT_ID_NAMESPACE = uuid.UUID("3c1f6f0e-2a8e-5b7c-9d41-6a0f2d7e9b15")


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def make_event_id(key: str) -> str:
    """The event id for ``key``: ``str(uuid5(EVENT_ID_NAMESPACE, key))``; same key, same id."""
    if not key:
        raise ValueError("an event key must not be empty")
    # RFC 4122 name-based SHA-1 (what uuid.uuid5 computes), written out: every event pays for
    # its id, and the UUID object's construction and formatting were 2 of the 4 µs.
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def rfc3339(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC: ``2026-03-01T08:15:00Z`` (``.ffffff`` if any).

    Naive datetimes are refused: a time without a zone is not evidence of anything.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime cannot be written as RFC 3339")
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _json_default(value: object) -> Any:
    # Data often carries times; writing them here keeps callers from each inventing a format.
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in an event")


def canonical_json(value: object) -> str:
    """JSON with sorted keys, no spaces, non-ASCII kept as UTF-8, NaN refused.

    Datetimes inside are written with :func:`rfc3339`, dates as ``YYYY-MM-DD``, UUIDs as strings.
    Raises ``TypeError`` for a value JSON cannot hold, ``ValueError`` for NaN or an infinity.
    """
    try:
        raw = orjson.dumps(value, default=_json_default, option=_CANONICAL)
    except orjson.JSONEncodeError:
        # What the fast encoder refuses (integers past 64 bits, keys that are not strings, a
        # value nothing can write) the standard one writes the same way, or explains.
        return _canonical_stdlib(value)
    # The fast encoder writes NaN and the infinities as null: look only when one could hide.
    if b"null" in raw and _non_finite(value):
        raise ValueError("NaN and infinities are not JSON: refused in an event")
    return raw.decode("utf-8")


_CANONICAL = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
"""Dates and times go through ``_json_default`` (RFC 3339 with ``Z``); dataclasses are refused
there, as the standard encoder refuses them."""


def _canonical_stdlib(value: object) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def _non_finite(value: object) -> bool:
    # Concrete types before the Mapping ABC (a slow check): this walk runs for most events (a
    # null is common), so it must stay cheaper than the encoding it guards.
    items: Iterable[object]
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    elif value is None or isinstance(value, (str, int)) or not isinstance(value, Mapping):
        return False
    else:
        items = value.values()
    for item in items:
        if item is not None and not isinstance(item, (str, int)) and _non_finite(item):
            return True
    return False


def build_event(
    *,
    event_id: str,
    source: str,
    type: str,
    subject: str,
    time: datetime,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the CloudEvents 1.0 envelope as a dict (serialise it with :func:`canonical_json`)."""
    if not source:
        raise ValueError("an event needs a source")
    if not type:
        raise ValueError("an event needs a type")
    return {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": type,
        "subject": subject,
        "time": rfc3339(time),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": dict(data),
    }
