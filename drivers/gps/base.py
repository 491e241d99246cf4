"""The contract every GPS payload codec fulfils, and the checks they share.

A codec is sans-I/O: it gets one MQTT payload (bytes), the time the gateway received it and,
for formats that carry no identity of their own, the device id taken from the topic. It returns
a :class:`~gateway.records.DecodeOutcome`: the positions it could read and one
:class:`~gateway.records.Rejected` per part it could not. It never raises on bad input.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Protocol

from gateway.errors import DecodeError
from gateway.records import DecodeOutcome, Rejected

__all__ = [
    "JSON_PAYLOAD_LIMIT",
    "JT808_PAYLOAD_LIMIT",
    "MAX_FIXES_PER_MESSAGE",
    "MAX_JSON_DEPTH",
    "NMEA_PAYLOAD_LIMIT",
    "PayloadCodec",
    "check_position",
    "check_size",
    "identity_mismatch",
    "load_json",
    "reject",
]

JSON_PAYLOAD_LIMIT = 64 * 1024
"""Largest gateway JSON, OwnTracks or EMQX JT/T 808 payload read, in bytes. A full gateway JSON
fix is ~150 bytes, so this holds a batch of some 400 (the contract asks for a few hundred); an
OwnTracks location is < 1 kB; EMQX's own frame limit (8 KiB) keeps its JSON well under it."""

NMEA_PAYLOAD_LIMIT = 16 * 1024
"""Largest NMEA payload read, in bytes: ~200 sentences of at most 82 characters (one epoch is
two or three)."""

JT808_PAYLOAD_LIMIT = 64 * 1024
"""Largest JT/T 808 payload read, in bytes: 16 frames of the framer's largest escaped size
(8 as hex text). It also bounds the fixes of raw 0x0704 uploads (a body of at most 1023
bytes holds ~34 items) below :data:`MAX_FIXES_PER_MESSAGE`."""

MAX_FIXES_PER_MESSAGE = 1000
"""Most items a batch (gateway JSON ``fixes`` or array, EMQX 0x0704 ``location``) may hold.
Above it the whole message is refused: it bounds the records, and the rejects, of one message."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects read; every format needs fewer than 6 levels. Checked
before parsing, so no input reaches the parser's (or any later) recursion limit."""


class PayloadCodec(Protocol):
    """Turns one payload into positions and rejects.

    ``format_name`` is one of ``json``, ``owntracks``, ``nmea``, ``jt808``, ``jt808-emqx`` and is
    copied into every fix's ``source_format``. ``decode`` never raises on bad input; every fix
    it returns has aware-UTC ``fix_time`` and ``received_at``, and ``raw`` holding the text (or
    lower-case hex of the bytes) it came from. A codec instance may keep small per-device state
    (the NMEA decoder remembers each device's last date), so use one instance per ingest stream.
    """

    format_name: str

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome: ...


def reject(reason: str, raw: bytes, device_id: str | None = None) -> DecodeOutcome:
    """An outcome holding exactly one reject."""
    return DecodeOutcome(rejects=(Rejected(reason=reason, raw=raw, device_id=device_id),))


def identity_mismatch(named: str, topic_device: str, what: str = "payload") -> str:
    """The reason refusing a payload whose own identity is not its topic's device.

    A terminal's broker account may publish only under its own topic, so the topic names the
    sender; a payload naming another device is an attempt to speak for it and is refused whole,
    attributed to the topic's device. Every codec words it so: the ids come after the ``:``, so
    the counter is always ``rejected.device_id_mismatch``, never made of payload bytes.
    """
    return f"device id mismatch: {what} names {named[:64]!r}, topic names {topic_device!r}"


def check_position(lat: float, lon: float) -> str | None:
    """Return why ``(lat, lon)`` cannot be a WGS-84 position, or ``None`` when it can.

    Exactly (0, 0) is refused too: terminals without a fix send it as a placeholder, and a
    guard standing on that point of the Gulf of Guinea is less likely than a broken fix.
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "latitude/longitude is not a finite number"
    if not -90.0 <= lat <= 90.0:
        return f"latitude {lat} out of range [-90, 90]"
    if not -180.0 <= lon <= 180.0:
        return f"longitude {lon} out of range [-180, 180]"
    if lat == 0.0 and lon == 0.0:
        return "coordinates are exactly 0,0 (no-fix placeholder)"
    return None


def check_size(payload: bytes, limit: int) -> str | None:
    """Why ``payload`` is refused for its size, or ``None`` when it is within ``limit`` bytes."""
    if len(payload) > limit:
        return f"payload too large ({len(payload)} bytes, limit {limit})"
    return None


def _nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in ``text`` outside JSON strings (linear)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


_TRAILER = "\x00 \t\r\n"
"""What may follow a JSON document: NULs (a C-string terminal publishes ``strlen + 1`` bytes,
its terminator included) and whitespace (a line ending printed after the document)."""


def load_json(payload: bytes, limit: int = JSON_PAYLOAD_LIMIT) -> tuple[Any, str]:
    """The JSON document of ``payload`` and its text. Never raises anything but
    :class:`DecodeError`, whose reason names the problem before any detail: ``payload too
    large (...)``, ``JSON nested too deep (...)``, ``not JSON: ...``.

    Trailing NULs and whitespace (:data:`_TRAILER`) are not part of the document: they are
    dropped, from the returned text too (the evidence kept is the document). A NUL anywhere
    else, or any other trailing byte, leaves the payload ``not JSON``.
    """
    problem = check_size(payload, limit)
    if problem:
        raise DecodeError(problem)
    try:
        text = payload.decode("utf-8").rstrip(_TRAILER)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting_depth(text) > MAX_JSON_DEPTH:
        raise DecodeError(f"JSON nested too deep (more than {MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text), text
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces
        raise DecodeError(f"not JSON: {exc}") from exc
