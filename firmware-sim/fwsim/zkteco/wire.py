"""ZKTeco binary wire format, as a terminal writes it (from the protocol documentation).

* Packet: command, checksum, session id, reply number (u16 little-endian each) + data.
* Checksum: add the packet's bytes as little-endian 16-bit words (checksum field as zero, a
  lone last byte as a word of its own), fold the carries into 16 bits, take the one's complement.
* TCP: ``50 50 82 7d`` + u32 length of the packet, then the packet.
* Packed time: ``((yy * 12 + month - 1) * 31 + day - 1) * 86400 + hh * 3600 + mm * 60 + ss``.
* Attendance record, 40-byte layout (TFT firmware): u16 internal number, 24-byte user id text,
  verify mode u8, packed time u32, punch state u8, 8 reserved bytes. 16-byte layout: u32 user
  id, packed time, verify, punch, 2 reserved, u32 work code. 8-byte layout: u16 user number,
  verify, packed time, punch.
* Live attendance event (``EF_ATTLOG``): 24-byte user id text, verify u8, punch u8, time as six
  bytes (year - 2000, month, day, hour, minute, second), 4 reserved bytes (36 bytes). Older
  firmware (ZKSoftware ZEM200 ``main.c``, ``SaveAttLog``) sends 10 bytes: the user's u16
  internal number, verify, state, the six-byte time; with a user id wider than five digits
  (``PIN2Width``) 12 bytes with the u32 user id instead. Some send 4 more bytes after the
  10 (14 bytes, the number form).
* User entry, 28-byte layout (older firmware): u16 internal number, privilege u8, 5-byte
  password, 8-byte name, u32 card, a reserved byte, group u8, u16 time zone, u32 user id.
  72-byte layout (TFT firmware): u16 internal number, privilege u8, 8-byte password, 24-byte
  name, u32 card, group u8, u16 time-zone flag, three u16 time zones, 24-byte user id text.
* Communication key (``CMD_AUTH``): the password's 32 bits in reverse order plus the session id,
  its bytes XORed with ``Z K S O``, the two 16-bit halves swapped, then bytes 0, 1, 3 XORed with a
  tick count that takes byte 2's place.
"""

from __future__ import annotations

import struct
from datetime import datetime

__all__ = [
    "CMD",
    "MAGIC",
    "comm_key",
    "event_payload",
    "pack_record",
    "pack_user",
    "packed_time",
    "packet",
    "tcp",
    "unpack_header",
    "unpacked_time",
    "zk_checksum",
]

MAGIC = bytes((0x50, 0x50, 0x82, 0x7D))

CMD = {
    "USERTEMP_RRQ": 9,
    "OPTIONS_RRQ": 11,
    "OPTIONS_WRQ": 12,
    "ATTLOG_RRQ": 13,
    "CLEAR_ATTLOG": 15,
    "GET_FREE_SIZES": 50,
    "STARTVERIFY": 60,
    "CANCELCAPTURE": 62,
    "GET_PINWIDTH": 69,
    "GET_TIME": 201,
    "SET_TIME": 202,
    "REG_EVENT": 500,
    "CONNECT": 1000,
    "EXIT": 1001,
    "ENABLEDEVICE": 1002,
    "DISABLEDEVICE": 1003,
    "REFRESHDATA": 1013,
    "REFRESHOPTION": 1014,
    "GET_VERSION": 1100,
    "AUTH": 1102,
    "PREPARE_DATA": 1500,
    "DATA": 1501,
    "FREE_DATA": 1502,
    "PREPARE_BUFFER": 1503,
    "READ_BUFFER": 1504,
    "ACK_OK": 2000,
    "ACK_ERROR": 2001,
    "ACK_UNAUTH": 2005,
    "ACK_UNKNOWN": 0xFFFF,
}


def zk_checksum(data: bytes) -> int:
    total = 0
    for i in range(0, len(data) - 1, 2):
        total += data[i] | (data[i + 1] << 8)
    if len(data) % 2:
        total += data[-1]
    while total > 0xFFFF:
        total = (total >> 16) + (total & 0xFFFF)
    return 0xFFFF - total


def packet(command: int, session: int, reply: int, data: bytes = b"") -> bytes:
    zeroed = struct.pack("<HHHH", command, 0, session, reply) + data
    return struct.pack("<HHHH", command, zk_checksum(zeroed), session, reply) + data


def tcp(command: int, session: int, reply: int, data: bytes = b"") -> bytes:
    body = packet(command, session, reply, data)
    return MAGIC + struct.pack("<I", len(body)) + body


def unpack_header(body: bytes) -> tuple[int, int, int, int]:
    """``(command, checksum, session, reply)`` of a packet."""
    command, chk, session, reply = struct.unpack("<HHHH", body[:8])
    return command, chk, session, reply


def packed_time(when: datetime) -> int:
    months = (when.year - 2000) * 12 + when.month - 1
    return (
        ((months * 31) + when.day - 1) * 86400 + when.hour * 3600 + when.minute * 60 + when.second
    )


def unpacked_time(value: int) -> datetime:
    """The local time a packed time stands for (the inverse of :func:`packed_time`)."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(2000 + year, month + 1, day + 1, hour, minute, second)  # noqa: DTZ001


def comm_key(password: int, session: int, ticks: int = 50) -> bytes:
    """The 4-byte ``CMD_AUTH`` key a client derives from the password and the session id."""
    reversed_bits = 0
    for bit in range(32):
        reversed_bits = (reversed_bits << 1) | ((password >> bit) & 1)
    mixed = bytearray(struct.pack("<I", (reversed_bits + session) & 0xFFFFFFFF))
    for i, letter in enumerate(b"ZKSO"):
        mixed[i] ^= letter
    mixed = mixed[2:] + mixed[:2]
    t = ticks & 0xFF
    return bytes((mixed[0] ^ t, mixed[1] ^ t, t, mixed[3] ^ t))


def _text(value: str, size: int, encoding: str, what: str) -> bytes:
    raw = value.encode(encoding)
    if len(raw) > size:
        raise ValueError(f"{what} {value!r} is longer than {size} bytes in {encoding}")
    return raw.ljust(size, b"\x00")


def pack_user(
    size: int,
    uid: int,
    user_id: str,
    *,
    name: str = "",
    card: int = 0,
    privilege: int = 0,
    password: str = "",
    group: int = 1,
    encoding: str = "utf-8",
) -> bytes:
    """One user-table entry in the ``size``-byte layout (28 or 72); text too long for its field
    is a ``ValueError``, as is a non-numeric user id in the 28-byte layout."""
    if not 0 < uid <= 0xFFFF:
        raise ValueError(f"a user's internal number is 1-65535, not {uid}")
    if size == 28:
        if not user_id.isdigit() or int(user_id) >= 1 << 32:
            raise ValueError(f"the 28-byte user layout holds numeric user ids, not {user_id!r}")
        return struct.pack(
            "<HB5s8sIBBhI",
            uid,
            privilege,
            _text(password, 5, encoding, "password"),
            _text(name, 8, encoding, "name"),
            card,
            0,
            group,
            0,
            int(user_id),
        )
    if size == 72:
        return struct.pack(
            "<HB8s24sIBH3H24s",
            uid,
            privilege,
            _text(password, 8, encoding, "password"),
            _text(name, 24, encoding, "name"),
            card,
            group,
            0,
            0,
            0,
            0,
            _text(user_id, 24, encoding, "user id"),
        )
    raise ValueError(f"no user layout of {size} bytes")


def pack_record(
    size: int, number: int, pin: str, verify: int, punch: int, at: datetime, workcode: int = 0
) -> bytes:
    """One attendance record in the ``size``-byte layout (40, 16 or 8); ``number`` is the user's
    internal number (the 8-byte layout names the user by it alone). A value the layout cannot
    hold is a ``ValueError``."""
    t = packed_time(at)
    if size in (16, 8) and not pin.isdigit():
        raise ValueError(f"the {size}-byte record layout holds numeric user ids, not {pin!r}")
    try:
        if size == 40:
            return (
                struct.pack("<H", number)
                + _text(pin, 24, "ascii", "user id")
                + struct.pack("<BIB", verify, t, punch)
                + bytes(8)
            )
        if size == 16:
            return struct.pack("<IIBBHI", int(pin), t, verify, punch, 0, workcode)
        if size == 8:
            return struct.pack("<HBIB", number, verify, t, punch)
    except struct.error as exc:
        raise ValueError(f"record of {pin!r} does not fit the {size}-byte layout: {exc}") from exc
    raise ValueError(f"no record layout of {size} bytes")


def event_payload(
    pin: str, verify: int, punch: int, at: datetime, *, size: int = 36, number: int = 0
) -> bytes:
    """A live attendance event's payload in the ``size``-byte layout (36 text user id; 10 or 14
    the internal ``number``; 12 the numeric user id); ``ValueError`` for a value it cannot
    hold."""
    stamp = bytes((at.year - 2000, at.month, at.day, at.hour, at.minute, at.second))
    try:
        if size == 36:
            return (
                pin.encode("ascii").ljust(24, b"\x00") + bytes((verify, punch)) + stamp + bytes(4)
            )
        if size in (10, 14):
            return struct.pack("<HBB", number, verify, punch) + stamp + bytes(size - 10)
        if size == 12:
            return struct.pack("<IBB", int(pin), verify, punch) + stamp
    except (struct.error, ValueError) as exc:
        raise ValueError(f"event of {pin!r} does not fit the {size}-byte layout: {exc}") from exc
    raise ValueError(f"no live event layout of {size} bytes")
