"""ZKTeco binary protocol payloads, sans-I/O: attendance records, packed time, live events.

Packed time (attendance records, ``CMD_GET_TIME``): a u32 counting seconds in a calendar of
12 months of 31 days from 2000-01-01 00:00::

    t = ((year % 100) * 12 * 31 + (month - 1) * 31 + (day - 1)) * 86400
        + (hour * 60 + minute) * 60 + second

Live events carry the time as six bytes instead: year - 2000, month, day, hour, minute, second.
Both are the terminal's local time (naive ``datetime`` here; the caller applies the zone).

Who punched: the 40-byte record carries the user id (the PIN people type, the site file's
``pin``) as text, the 16-byte record as a u32, but the 8-byte record of older firmware only the
terminal's internal user number (``uid``). So do the 10- and 14-byte live events of that
firmware (ZKSoftware's ZEM200 ``main.c``, ``SaveAttLog``, sends ``(U16)pin``, the number it
looks the user up by, and only with ``PIN2Width`` over five digits the 12-byte event with the
u32 user id); the 32- to 52-byte events carry the user id as text. A record of the number form
is marked ``by_number``. Its PIN is in the user table (``CMD_USERTEMP_RRQ``/``FCT_USER``,
:func:`decode_user_table`), which the caller reads and passes as ``pins``, as pyzk's
``get_attendance`` does for the log (:func:`credited`). A record whose number is not in the
table (the user was deleted after punching) names ``uid:<number>``: a PIN never holds ``:``
(the site file's pattern), so it is reported as an unknown person instead of being credited to
whoever has that number as his PIN. A caller that could not read the table must not credit
such a record at all (``uid:<number>`` would be a second identity for one punch once the table
is read): it holds it until it can.

A blank user id reads ``""``, never ``"0"``: in the numeric layouts (the 16-byte record, the
12-byte event, the 28-byte user entry) the firmware writes 0 where a user has no user id (user
ids start at 1 there), in the text ones an empty field. A user entry with a blank user id is
kept as ``""``, so a record naming its number reads blank too. The caller refuses such a
record (``BLANK_PIN``): it names nobody, and ``"0"`` would credit the guard whose PIN is 0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from gateway.errors import DecodeError

__all__ = [
    "BLANK_PIN",
    "UNMAPPED_PREFIX",
    "AttendanceRecord",
    "DeviceSizes",
    "attendance_record_size",
    "credited",
    "decode_attendance_buffer",
    "decode_free_sizes",
    "decode_live_event",
    "decode_time",
    "decode_time6",
    "decode_user_table",
]

BLANK_PIN = "blank PIN: the record names no user id"
"""The reject reason of a record with a blank user id (module docstring)."""
UNMAPPED_PREFIX = "uid:"
"""Person id prefix of an 8-byte record whose internal user number is not in the user table."""


@dataclass(frozen=True, slots=True)
class AttendanceRecord:
    """One attendance record as the terminal stores it (time in the terminal's local time).

    ``verify`` is the verify mode (pyzk's ``status``), ``punch`` the attendance state;
    ``uid`` the terminal's internal user number when the record layout has one. ``by_number``:
    the layout names the user by ``uid`` alone, so ``user_id`` is what the user table given to
    the decoder says (``uid:<number>`` when it does not have the number: :func:`credited`).
    """

    user_id: str
    timestamp: datetime
    verify: int
    punch: int
    uid: int | None = None
    workcode: int | None = None
    raw: bytes = b""
    by_number: bool = False


def credited(record: AttendanceRecord, pins: Mapping[int, str]) -> AttendanceRecord:
    """``record`` with the user id the user table ``pins`` gives its number (``uid:<number>``
    when the table lacks it); any record that names its user itself, unchanged."""
    if not record.by_number or record.uid is None:
        return record
    pin = pins.get(record.uid)
    return replace(record, user_id=f"{UNMAPPED_PREFIX}{record.uid}" if pin is None else pin)


@dataclass(frozen=True, slots=True)
class DeviceSizes:
    """The counters of ``CMD_GET_FREE_SIZES`` (users, fingerprints, attendance records...)."""

    users: int
    fingers: int
    records: int
    cards: int = 0
    users_capacity: int = 0
    records_capacity: int = 0


def decode_time(value: int) -> datetime:
    """Unpack a packed time; ``DecodeError`` when the date does not exist (e.g. 31 April)."""
    t = value
    second = t % 60
    t //= 60
    minute = t % 60
    t //= 60
    hour = t % 24
    t //= 24
    day = t % 31 + 1
    t //= 31
    month = t % 12 + 1
    year = t // 12 + 2000
    try:
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - terminal local
    except ValueError as exc:
        raise DecodeError(f"packed time {value} is not a date", struct.pack("<I", value)) from exc


def decode_time6(raw: bytes) -> datetime:
    """Unpack the six-byte time of a live event (year - 2000, month, day, h, m, s)."""
    if len(raw) != 6:
        raise DecodeError("a six-byte time needs six bytes", raw)
    year, month, day, hour, minute, second = raw
    try:
        return datetime(2000 + year, month, day, hour, minute, second)  # noqa: DTZ001
    except ValueError as exc:
        raise DecodeError(f"six-byte time is not a date: {raw.hex()}", raw) from exc


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


def _numeric_id(number: int) -> str:
    """A user id of a numeric layout: 0 is the firmware's blank (module docstring)."""
    return str(number) if number else ""


def _decode_record(chunk: bytes, size: int, pins: Mapping[int, str]) -> AttendanceRecord:
    if size == 8:
        uid, verify, packed, punch = struct.unpack("<HBIB", chunk)
        record = AttendanceRecord(
            "", decode_time(packed), verify, punch, uid=uid, raw=chunk, by_number=True
        )
        return credited(record, pins)
    if size == 16:
        user, packed, verify, punch, _reserved, workcode = struct.unpack("<IIBB2sI", chunk)
        return AttendanceRecord(
            _numeric_id(user), decode_time(packed), verify, punch, workcode=workcode, raw=chunk
        )
    uid, user_raw, verify, packed, punch = struct.unpack_from("<H24sBIB", chunk)
    return AttendanceRecord(_text(user_raw), decode_time(packed), verify, punch, uid=uid, raw=chunk)


def attendance_record_size(data: bytes, record_count: int | None = None) -> int:
    """The record layout of an attendance buffer (8, 16 or 40), as
    :func:`decode_attendance_buffer` reads it: ``total // record_count``, anything but 8 or 16
    read as 40; without ``record_count`` the first of 40, 16, 8 that divides the total."""
    if len(data) < 4:
        return 40
    (total,) = struct.unpack_from("<I", data)
    return _record_sizes(total, record_count)[1]


def _record_sizes(total: int, record_count: int | None) -> tuple[int, int]:
    """(bytes per record in the buffer, the layout read from each)."""
    if record_count:
        size = total // record_count
    else:
        size = next((s for s in (40, 16, 8) if total % s == 0), 40)
    return size, size if size in (8, 16) else 40


def decode_attendance_buffer(
    data: bytes, record_count: int | None = None, pins: Mapping[int, str] | None = None
) -> tuple[list[AttendanceRecord], list[DecodeError]]:
    """Decode the attendance log read with ``CMD_PREPARE_BUFFER(CMD_ATTLOG_RRQ)``.

    The buffer is u32 total size + records. The record size is ``total // record_count``
    (8: old firmware, 16: "extended", 40: TFT/newer; anything else is read as 40 with the
    excess skipped, as pyzk does); without ``record_count`` it is guessed (40, then 16, then 8:
    the first that divides the total). ``pins`` maps internal user numbers to user ids
    (:func:`decode_user_table`): an 8-byte record's user id is its number's, or
    ``uid:<number>`` when the number is not there (module docstring). A record that does not
    decode is returned as an error; the others are kept.
    """
    if len(data) < 4:
        return [], []
    (total,) = struct.unpack_from("<I", data)
    body = data[4 : 4 + total]
    size, layout = _record_sizes(total, record_count)
    step = max(size, layout)
    records: list[AttendanceRecord] = []
    errors: list[DecodeError] = []
    for offset in range(0, len(body) - layout + 1, step):
        chunk = bytes(body[offset : offset + layout])
        try:
            records.append(_decode_record(chunk, layout, pins or {}))
        except DecodeError as exc:
            errors.append(exc)
    return records, errors


def decode_user_table(data: bytes, user_count: int | None = None) -> dict[int, str]:
    """The user table read with ``CMD_PREPARE_BUFFER(CMD_USERTEMP_RRQ, FCT_USER)``, as internal
    user number -> user id (PIN).

    The buffer is u32 total size + entries of 28 bytes (older firmware: u16 number at 0, u32
    user id at 24) or 72 (TFT: u16 number at 0, user id text of 24 bytes at 48), pyzk's
    ``get_users`` layouts. The entry size is the layout whose size times ``user_count`` (the
    free-sizes counter) is nearest the total, preferring one that divides it (a user enrolled
    between the two reads must not change the layout); without a count, 72 unless only 28
    divides the total. An entry without a user id (0 in the 28-byte layout) maps to ``""``:
    the records naming it read blank (module docstring). A last entry cut short is left out:
    the records naming it read ``uid:<number>``.
    """
    if len(data) < 4:
        return {}
    (total,) = struct.unpack_from("<I", data)
    body = data[4 : 4 + total]
    fits = [s for s in (72, 28) if total % s == 0] or [72, 28]
    if user_count and user_count > 0:
        size = min(fits, key=lambda s: abs(total - s * user_count))
    else:
        size = fits[0]
    pins: dict[int, str] = {}
    for offset in range(0, len(body) - size + 1, size):
        entry = body[offset : offset + size]
        (uid,) = struct.unpack_from("<H", entry)
        if size == 28:
            (number,) = struct.unpack_from("<I", entry, 24)
            pins[uid] = _numeric_id(number)
        else:
            pins[uid] = _text(entry[48:72])
    return pins


_EVENT_LAYOUTS: dict[int, str] = {
    10: "<HBB6s",
    12: "<IBB6s",
    14: "<HBB6s4x",
    32: "<24sBB6s",
    36: "<24sBB6s4x",
    37: "<24sBB6s5x",
    52: "<24sBB6s20x",
}
# When several events arrive in one packet, the most common layouts are tried first.
_BATCH_ORDER = (36, 52, 32, 37, 12, 14, 10)


def _event_size(length: int) -> int:
    if length in _EVENT_LAYOUTS:
        return length
    return next((size for size in _BATCH_ORDER if length % size == 0), 0)


def decode_live_event(
    data: bytes, pins: Mapping[int, str] | None = None
) -> tuple[list[AttendanceRecord], list[DecodeError]]:
    """Decode the payload of an ``EF_ATTLOG`` live event (one or more records back to back).

    Layouts by length, as seen from real terminals (pyzk's ``live_capture``): 10/14 (u16
    internal user number: ``by_number``, its user id from ``pins`` as for an 8-byte record),
    12 (u32 user id), 32/36/37/52 (24-byte user id text); each is user, verify, punch,
    six-byte time, padding. Several records in one payload must share a layout.
    """
    records: list[AttendanceRecord] = []
    errors: list[DecodeError] = []
    size = _event_size(len(data))
    if not size:
        errors.append(DecodeError(f"live event of {len(data)} bytes has no known layout", data))
        return records, errors
    fmt = _EVENT_LAYOUTS[size]
    for offset in range(0, len(data), size):
        chunk = bytes(data[offset : offset + size])
        user, verify, punch, time6 = struct.unpack(fmt, chunk)
        by_number = size in (10, 14)
        try:
            when = decode_time6(time6)
        except DecodeError as exc:
            errors.append(exc)
            continue
        if by_number:
            record = AttendanceRecord("", when, verify, punch, uid=user, raw=chunk, by_number=True)
            records.append(credited(record, pins or {}))
        else:
            user_id = _numeric_id(user) if isinstance(user, int) else _text(user)
            records.append(AttendanceRecord(user_id, when, verify, punch, raw=chunk))
    return records, errors


def decode_free_sizes(data: bytes) -> DeviceSizes:
    """Read the counters of a ``CMD_GET_FREE_SIZES`` reply (20 little-endian i32 at least)."""
    if len(data) < 80:
        raise DecodeError(f"free-sizes reply of {len(data)} bytes is shorter than 80", data)
    fields = struct.unpack_from("<20i", data)
    return DeviceSizes(
        users=fields[4],
        fingers=fields[6],
        records=fields[8],
        cards=fields[12],
        users_capacity=fields[15],
        records_capacity=fields[16],
    )
