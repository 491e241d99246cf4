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
    "AlarmSignal",
    "CheckpointScan",
    "DecodeOutcome",
    "Downlink",
    "PositionFix",
    "Punch",
    "PunchKind",
    "Rejected",
    "TagTechnology",
    "VerifyMode",
]


class Alarm(StrEnum):
    """Alarms a terminal can raise alongside a position."""

    SOS = "sos"
    LOW_BATTERY = "low_battery"
    POWER_CUT = "power_cut"
    OVERSPEED = "overspeed"
    GNSS_FAULT = "gnss_fault"
    TAMPER = "tamper"
    """The terminal's case was opened or its wiring tampered with (JT/T 808 vendor alarms)."""
    REMOVED = "removed"
    """A worn terminal was taken off (wrist/strap sensor) or a fixed one removed."""


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
    retained: bool = False
    """The broker handed the message over as a retained one (MQTT retain flag): it may be a
    replay of a message already taken, made at each new subscription. Set on fixes that carry
    alarms only; what is a replay is decided by ``gateway.rules.alarms``."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input the codec refused: the reason in words and the offending bytes."""

    reason: str
    raw: bytes
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmSignal:
    """An alarm from a terminal that came without a usable position.

    Codecs emit it when a message raises an alarm (SOS above all) but has no GNSS fix: a
    terminal indoors, a JT/T 808 report with the "located" bit clear, a gateway-JSON message
    with ``alarms`` and no coordinates. A fix that carries alarms stays a ``PositionFix``; the
    pipeline raises its alarms even when a filter drops its position. ``lat``/``lon`` are the
    last position the terminal itself put in the message, when it did (not a fix: it may be
    old), else ``None``. ``alarm_time`` is the device's time, ``received_at`` the gateway's.
    """

    device_id: str
    alarm_time: datetime
    received_at: datetime
    alarms: frozenset[Alarm]
    lat: float | None = None
    lon: float | None = None
    battery_pct: float | None = None
    source_format: str = ""
    raw: str = ""
    retained: bool = False
    """As ``PositionFix.retained``: the broker handed it over as a retained message."""


@dataclass(frozen=True, slots=True)
class Downlink:
    """A message the gateway must send back to one terminal (a platform reply).

    ``channel`` names the wire format (``"jt808"``); the MQTT adapter publishes ``payload`` on
    that terminal's documented downlink topic with QoS 1. Codecs build it; they never send.
    """

    device_id: str
    channel: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DecodeOutcome:
    """What a codec or driver made of one input: records of any kind and rejected parts.

    A payload may be partly good (a batch upload with one corrupt item, an NMEA burst with one
    bad checksum): the good parts are kept and each bad one is listed. GPS codecs fill
    ``fixes``; checkpoint readers ``scans``; clock-in terminals ``punches``.
    """

    fixes: tuple[PositionFix, ...] = ()
    rejects: tuple[Rejected, ...] = ()
    scans: tuple[CheckpointScan, ...] = ()
    punches: tuple[Punch, ...] = ()
    alarms: tuple[AlarmSignal, ...] = ()
    """Alarms that came without a usable position (see ``AlarmSignal``)."""
    replies: tuple[Downlink, ...] = ()
    """Platform replies owed to the terminal (JT/T 808 0x8001/0x8100), sent after decoding."""


class TagTechnology(StrEnum):
    """What kind of tag a checkpoint reader saw."""

    NFC_TYPE2 = "nfc_type2"
    """NTAG213/215/216, Mifare Ultralight: UID plus NDEF records."""
    MIFARE_CLASSIC = "mifare_classic"
    """Mifare Classic 1K/4K "IC card": identified by UID only."""
    EM4100 = "em4100"
    """125 kHz read-only tag: a 40-bit id (version/customer byte + 32-bit number)."""
    WIEGAND = "wiegand"
    """An id delivered through a Wiegand 26/34 converter (facility code + card number)."""
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CheckpointScan:
    """A tag read by a patrol checkpoint reader or downloaded from an offline patrol wand.

    ``reader_id`` is the configured device (fixed reader, wand); ``tag_id`` the tag's identity as
    the reader delivers it: the way the site file names it (upper-case hex UID, or the EM4100
    10-hex-digit id), or a short form of the EM4100 id from a decimal or Wiegand reader, told
    by ``source_format`` (``gateway.site.tag_forms``). ``scanned_at`` is
    the device's time (for a wand: corrected for its clock skew), ``received_at`` the gateway's.
    ``ndef_text`` carries an NDEF text/URI record when the tag had one.
    """

    reader_id: str
    tag_id: str
    scanned_at: datetime
    received_at: datetime
    technology: TagTechnology = TagTechnology.OTHER
    ndef_text: str | None = None
    source_format: str = ""
    raw: str = ""


class PunchKind(StrEnum):
    """The attendance state chosen on the terminal (ZKTeco punch values 0-5)."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    BREAK_OUT = "break_out"
    BREAK_IN = "break_in"
    OVERTIME_IN = "overtime_in"
    OVERTIME_OUT = "overtime_out"


class VerifyMode(StrEnum):
    """How the terminal verified the person; kept apart from the punch kind."""

    FINGERPRINT = "fingerprint"
    PASSWORD = "password"
    CARD = "card"
    FACE = "face"
    PALM = "palm"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Punch:
    """One attendance record from a clock-in terminal (or a card reader acting as one).

    ``person_id`` is the terminal's user id / PIN (or the card id for a card reader); the
    identity stage maps it to a guard. ``punched_at`` is the terminal's time as UTC, less
    ``clock_corrected_s`` when the driver found the terminal's clock off by more than it
    tolerates (``drivers.zkteco.clock_offset``, ``drivers.zkteco.push_clock``): then only
    ``raw`` keeps the terminal's reading.
    """

    terminal_id: str
    person_id: str
    punched_at: datetime
    received_at: datetime
    kind: PunchKind
    verify: VerifyMode = VerifyMode.UNKNOWN
    source_format: str = ""
    raw: str = ""
    clock_corrected_s: float = 0.0
