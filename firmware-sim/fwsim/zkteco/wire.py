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
  bytes (year - 2000, month, day, hour, minute, second), 4 reserved bytes (36 bytes).
"""

from __future__ import annotations

import struct
from datetime import datetime

__all__ = [
    "CMD",
    "MAGIC",
    "event_payload",
    "pack_record",
    "packed_time",
    "packet",
    "tcp",
    "unpack_header",
    "zk_checksum",
]

MAGIC = bytes((0x50, 0x50, 0x82, 0x7D))

CMD = {
    "ATTLOG_RRQ": 13,
    "GET_FREE_SIZES": 50,
    "GET_TIME": 201,
    "REG_EVENT": 500,
    "CONNECT": 1000,
    "EXIT": 1001,
    "ENABLEDEVICE": 1002,
    "DISABLEDEVICE": 1003,
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


def pack_record(
    size: int, number: int, pin: str, verify: int, punch: int, at: datetime, workcode: int = 0
) -> bytes:
    """One attendance record in the ``size``-byte layout (40, 16 or 8)."""
    t = packed_time(at)
    if size == 40:
        return (
            struct.pack("<H", number)
            + pin.encode("ascii").ljust(24, b"\x00")
            + struct.pack("<BIB", verify, t, punch)
            + bytes(8)
        )
    if size == 16:
        return struct.pack("<IIBBHI", int(pin), t, verify, punch, 0, workcode)
    if size == 8:
        return struct.pack("<HBIB", int(pin), verify, t, punch)
    raise ValueError(f"no record layout of {size} bytes")


def event_payload(pin: str, verify: int, punch: int, at: datetime) -> bytes:
    stamp = bytes((at.year - 2000, at.month, at.day, at.hour, at.minute, at.second))
    return pin.encode("ascii").ljust(24, b"\x00") + bytes((verify, punch)) + stamp + bytes(4)
