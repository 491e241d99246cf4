"""JT/T 808-2013 terminal messages, written from the standard (sections 4 and 8).

Frame: ``7e | header | body | check | 7e``. The header (2013 layout, 12 bytes) is message id
(WORD), body properties (WORD: bits 0-9 body length, 10-12 encryption, 13 sub-package), the
terminal phone number (BCD[6], 12 digits) and a serial number (WORD). ``check`` is the XOR of
every header and body byte. Between the flags, ``0x7d`` is sent as ``7d 01`` and ``0x7e`` as
``7d 02`` (the check byte is escaped too). All integers are big-endian.

Location body (0x0200, and each item of 0x0704): alarm DWORD (bit 0 = emergency/SOS), status
DWORD (bit 1 = located, bit 2 = south latitude, bit 3 = west longitude), latitude and longitude
DWORD in 1e-6 degrees without sign, altitude WORD (m), speed WORD (0.1 km/h), direction WORD
(degrees from north), time BCD[6] ``YYMMDDhhmmss`` in **GMT+8**; then additional items
``id BYTE, length BYTE, value``: 0x01 mileage DWORD (0.1 km), 0x30 signal strength BYTE,
0x31 GNSS satellites BYTE.

0x0704 (batch upload): count WORD, type BYTE (0 = regular batch, 1 = blind-area re-upload), then
per item a length WORD and a location body. 0x0100 registration and 0x0102 authentication are
provided for terminals that log in first. JT/T 808 has no battery field in the 2013 base set, so
``battery_pct`` is not sent; altitude below 0 m is sent as 0 (the field is unsigned).

Platform frames a terminal receives (section 8.1, 8.8): 0x8001 general reply (reply serial WORD,
reply id WORD, result BYTE: 0 success, 1 failure, 2 bad message, 3 unsupported, 4 alarm
acknowledged) and 0x8100 registration reply (reply serial WORD, result BYTE, then the
authentication code STRING when the result is 0): ``fwsim.gps.jt808_login`` reads them and
drives a terminal's log-in with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from fwsim.gps.fix import SimFix

__all__ = [
    "ALARM_SOS",
    "BATCH_BLIND_AREA",
    "BATCH_REGULAR",
    "MAX_BODY_LEN",
    "MSG_AUTHENTICATION",
    "MSG_BATCH_LOCATION",
    "MSG_HEARTBEAT",
    "MSG_LOCATION",
    "MSG_PLATFORM_REPLY",
    "MSG_REGISTRATION",
    "MSG_REGISTRATION_REPLY",
    "STATUS_LOCATED",
    "STATUS_SOUTH",
    "STATUS_WEST",
    "LocationBody",
    "Registration",
    "authentication_body",
    "batch_body",
    "bcd_phone",
    "bcd_time_gmt8",
    "build_frame",
    "escape",
    "location_body",
    "location_from_fix",
    "registration_body",
    "subpackaged_frames",
    "xor_check",
]

MSG_HEARTBEAT = 0x0002
MSG_REGISTRATION = 0x0100
MSG_AUTHENTICATION = 0x0102
MSG_LOCATION = 0x0200
MSG_BATCH_LOCATION = 0x0704
MSG_PLATFORM_REPLY = 0x8001
MSG_REGISTRATION_REPLY = 0x8100

ALARM_SOS = 1 << 0
STATUS_LOCATED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3

BATCH_REGULAR = 0
BATCH_BLIND_AREA = 1

MAX_BODY_LEN = 0x3FF
"""The body length field has 10 bits; a longer body is sent in sub-packages
(:func:`subpackaged_frames`)."""

_GMT8 = timezone(timedelta(hours=8))


def xor_check(data: bytes) -> int:
    """XOR of all bytes (the frame check over unescaped header and body)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def escape(data: bytes) -> bytes:
    """Escape ``0x7d`` then ``0x7e`` so neither flag byte appears inside a frame."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def bcd_phone(device_id: str) -> bytes:
    """The 6-byte BCD terminal phone number from the digits of ``device_id``, left-padded with 0.

    Raises ``ValueError`` when the id has no digit or more than 12 digits.
    """
    digits = "".join(ch for ch in device_id if ch.isdigit())
    if not digits or len(digits) > 12:
        raise ValueError(f"device id {device_id!r} must contain 1 to 12 digits for JT/T 808")
    return bytes.fromhex(digits.zfill(12))


def bcd_time_gmt8(when: datetime) -> bytes:
    """``YYMMDDhhmmss`` in BCD, in GMT+8 (China Standard Time) as the standard requires."""
    if when.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    return bytes.fromhex(when.astimezone(_GMT8).strftime("%y%m%d%H%M%S"))


def build_frame(
    msg_id: int, phone_bcd: bytes, serial: int, body: bytes, packet: tuple[int, int] | None = None
) -> bytes:
    """A complete escaped frame with flags (2013 header, no encryption); ``packet``: (total,
    number) of a sub-package, which sets properties bit 13 and follows the serial with both
    (section 4.4.3)."""
    if len(phone_bcd) != 6:
        raise ValueError("the 2013 header needs a 6-byte BCD phone number")
    if len(body) > MAX_BODY_LEN:
        raise ValueError(f"body of {len(body)} bytes exceeds {MAX_BODY_LEN}")
    properties = len(body) if packet is None else 0x2000 | len(body)
    header = (
        msg_id.to_bytes(2, "big")
        + properties.to_bytes(2, "big")
        + phone_bcd
        + (serial & 0xFFFF).to_bytes(2, "big")
    )
    if packet is not None:
        header += packet[0].to_bytes(2, "big") + packet[1].to_bytes(2, "big")
    content = header + body
    return b"\x7e" + escape(content + bytes([xor_check(content)])) + b"\x7e"


def subpackaged_frames(
    msg_id: int, phone_bcd: bytes, first_serial: int, body: bytes, parts: int
) -> list[bytes]:
    """``body`` (too long for one frame, or not) cut into ``parts`` sub-packages of near equal
    size, in order, their serials consecutive from ``first_serial``."""
    size = -(-len(body) // parts)
    return [
        build_frame(
            msg_id, phone_bcd, first_serial + i, body[i * size : (i + 1) * size], (parts, i + 1)
        )
        for i in range(parts)
    ]


@dataclass(frozen=True, slots=True)
class LocationBody:
    """The raw fields of one location body, in wire units (see the module docstring).

    ``items`` are the additional items as ``(id, value bytes)``, written in the order given.
    """

    alarm: int
    status: int
    lat_e6: int
    lon_e6: int
    altitude_m: int
    speed_0_1kmh: int
    direction_deg: int
    time: datetime
    items: tuple[tuple[int, bytes], ...] = ()


def location_body(loc: LocationBody) -> bytes:
    """Serialise a location body (0x0200 body, or one 0x0704 item without its length)."""
    out = bytearray()
    out += loc.alarm.to_bytes(4, "big")
    out += loc.status.to_bytes(4, "big")
    out += loc.lat_e6.to_bytes(4, "big")
    out += loc.lon_e6.to_bytes(4, "big")
    out += loc.altitude_m.to_bytes(2, "big")
    out += loc.speed_0_1kmh.to_bytes(2, "big")
    out += loc.direction_deg.to_bytes(2, "big")
    out += bcd_time_gmt8(loc.time)
    for item_id, value in loc.items:
        if not 0 <= item_id <= 0xFF or len(value) > 0xFF:
            raise ValueError(f"bad additional item 0x{item_id:02x} ({len(value)} bytes)")
        out += bytes([item_id, len(value)]) + value
    return bytes(out)


def location_from_fix(
    fix: SimFix,
    *,
    signal: int | None = None,
    extra_status: int = 0,
    extra_items: Sequence[tuple[int, bytes]] = (),
) -> LocationBody:
    """The location body of a simulated fix.

    Alarm bit 0 follows ``fix.sos``; status has bit 1 (located) when ``fix.located`` (otherwise
    the body carries the last known position, with speed 0) and the hemisphere bits, OR-ed
    with ``extra_status`` (e.g. bit 18 GPS / bit 19 BeiDou in use). Additional items: 0x01
    mileage when ``fix.odometer_m`` is known, 0x30 ``signal`` when given, 0x31 satellites when
    known, plus ``extra_items``; all sorted by item id as terminals send them.
    """
    status = (STATUS_LOCATED if fix.located else 0) | extra_status
    if fix.lat < 0:
        status |= STATUS_SOUTH
    if fix.lon < 0:
        status |= STATUS_WEST
    items: list[tuple[int, bytes]] = list(extra_items)
    if fix.odometer_m is not None:
        items.append((0x01, round(fix.odometer_m / 100.0).to_bytes(4, "big")))
    if signal is not None:
        items.append((0x30, bytes([signal & 0xFF])))
    if fix.satellites is not None:
        items.append((0x31, bytes([min(fix.satellites, 0xFF)])))
    items.sort(key=lambda item: item[0])
    return LocationBody(
        alarm=ALARM_SOS if fix.sos else 0,
        status=status,
        lat_e6=round(abs(fix.lat) * 1e6),
        lon_e6=round(abs(fix.lon) * 1e6),
        altitude_m=min(max(round(fix.altitude_m), 0), 0xFFFF),
        speed_0_1kmh=min(round(fix.speed_mps * 36.0), 0xFFFF) if fix.located else 0,
        direction_deg=round(fix.course_deg) % 360,
        time=fix.time.astimezone(UTC),
        items=tuple(items),
    )


def batch_body(locations: Sequence[LocationBody], batch_type: int) -> bytes:
    """A 0x0704 body: count, type, then each item as length WORD + location body."""
    if not locations:
        raise ValueError("a batch needs at least one location")
    out = bytearray(len(locations).to_bytes(2, "big") + bytes([batch_type]))
    for loc in locations:
        item = location_body(loc)
        out += len(item).to_bytes(2, "big") + item
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Registration:
    """0x0100 registration fields (2013 layout). ``plate`` is GBK-encoded; empty when
    ``plate_color`` is 0 (no plate), where the body carries the VIN instead."""

    province_id: int = 42  # Hubei
    city_id: int = 100  # Wuhan
    manufacturer_id: str = "GGSIM"
    terminal_model: str = "GUARD-GPS"
    terminal_id: str = "0000001"
    plate_color: int = 0
    plate: str = field(default="")


def _padded(text: str, size: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{text!r} longer than {size} bytes")
    return raw + b"\x00" * (size - len(raw))


def registration_body(reg: Registration) -> bytes:
    """A 0x0100 body: province, city, maker[5], model[20], terminal id[7], colour, plate."""
    return (
        reg.province_id.to_bytes(2, "big")
        + reg.city_id.to_bytes(2, "big")
        + _padded(reg.manufacturer_id, 5)
        + _padded(reg.terminal_model, 20)
        + _padded(reg.terminal_id, 7)
        + bytes([reg.plate_color])
        + reg.plate.encode("gbk")
    )


def authentication_body(auth_code: str) -> bytes:
    """A 0x0102 body (2013): the authentication code, as is, to the end of the body."""
    return auth_code.encode("ascii")
