"""The contract every GPS payload codec fulfils, and the checks they share.

A codec is sans-I/O: it gets one MQTT payload (bytes), the time the gateway received it and,
for formats that carry no identity of their own, the device id taken from the topic. It returns
a :class:`~gateway.records.DecodeOutcome`: the positions it could read and one
:class:`~gateway.records.Rejected` per part it could not. It never raises on bad input.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol

from gateway.records import DecodeOutcome, Rejected

__all__ = [
    "PayloadCodec",
    "check_position",
    "reject",
]


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
