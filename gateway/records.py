"""Domain records passed between pipeline stages: frozen dataclasses with units in their names.

Every record carries two times: the device's (``fix_time``: evidence and durations) and the
gateway's (``received_at``: staleness). Both are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Alarm",
    "DecodeOutcome",
    "PositionFix",
    "Rejected",
]


class Alarm(StrEnum):
    """Alarms a terminal can raise alongside a position."""

    SOS = "sos"
    LOW_BATTERY = "low_battery"
    POWER_CUT = "power_cut"
    OVERSPEED = "overspeed"
    GNSS_FAULT = "gnss_fault"


@dataclass(frozen=True, slots=True)
class PositionFix:
    """One position of one terminal, in WGS-84.

    ``accuracy_m`` is the horizontal 1-sigma radius in metres when known (from the terminal or
    estimated from HDOP); ``None`` means unknown. ``raw`` is the evidence: the input text, or the
    input bytes as lower-case hex, that produced this fix. ``source_format`` names the codec.
    """

    device_id: str
    fix_time: datetime
    received_at: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    satellites: int | None = None
    alarms: frozenset[Alarm] = field(default_factory=frozenset)
    battery_pct: float | None = None
    source_format: str = ""
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input the codec refused: the reason in words and the offending bytes."""

    reason: str
    raw: bytes
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class DecodeOutcome:
    """What a codec made of one payload: zero or more fixes and zero or more rejected parts.

    A payload may be partly good (a batch upload with one corrupt item, an NMEA burst with one
    bad checksum): the good parts are kept and each bad one is listed.
    """

    fixes: tuple[PositionFix, ...] = ()
    rejects: tuple[Rejected, ...] = ()
