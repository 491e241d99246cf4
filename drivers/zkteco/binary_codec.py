"""The ZKTeco binary protocol (TCP/UDP port 4370), sans-I/O: packets, framing, records.

Packet (all little-endian)::

    command u16 | checksum u16 | session_id u16 | reply_id u16 | data ...

The checksum is the one's complement of the sum of the packet's 16-bit words (checksum field
zeroed; an odd last byte zero-padded; carries folded back into the low 16 bits). UDP carries the
bare packet; TCP prefixes each one with ``50 50 82 7d`` + u32 length of the packet.

The client sends a command with its session id (0 before ``CMD_CONNECT``) and a reply id that
the terminal echoes; the terminal's ``CMD_ACK_OK`` to ``CMD_CONNECT`` assigns the session id.
Live events arrive unasked as ``CMD_REG_EVENT`` packets whose session field holds the event
code (``EF_ATTLOG`` = 1) and whose reply id is 0; the client answers each with ``CMD_ACK_OK``.

Attendance records, packed times and live-event payloads are in ``binary_records``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from gateway.errors import DecodeError

__all__ = [
    "EF_ATTLOG",
    "FCT_USER",
    "HEADER_SIZE",
    "MAX_PACKET",
    "TCP_MAGIC",
    "Command",
    "Packet",
    "TcpFramer",
    "build_packet",
    "checksum",
    "commkey",
    "frame_tcp",
    "parse_packet",
    "prepare_buffer_request",
    "prepare_buffer_size",
    "read_buffer_request",
    "reg_event_request",
]

log = logging.getLogger(__name__)

HEADER_SIZE = 8
TCP_MAGIC = b"\x50\x50\x82\x7d"
MAX_PACKET = 0x100000
"""Largest TCP-framed packet the framer accepts; anything longer is taken for garbage."""

EF_ATTLOG = 1
FCT_USER = 5
"""``CMD_USERTEMP_RRQ`` table selector of a buffered read: the user table."""


class Command(IntEnum):
    """Command and reply codes used here (the SDK's names)."""

    CMD_USERTEMP_RRQ = 9
    CMD_ATTLOG_RRQ = 13
    CMD_GET_FREE_SIZES = 50
    CMD_GET_TIME = 201
    CMD_REG_EVENT = 500
    CMD_CONNECT = 1000
    CMD_EXIT = 1001
    CMD_ENABLEDEVICE = 1002
    CMD_DISABLEDEVICE = 1003
    CMD_AUTH = 1102
    CMD_PREPARE_DATA = 1500
    CMD_DATA = 1501
    CMD_FREE_DATA = 1502
    CMD_PREPARE_BUFFER = 1503
    CMD_READ_BUFFER = 1504
    CMD_ACK_OK = 2000
    CMD_ACK_ERROR = 2001
    CMD_ACK_DATA = 2002
    CMD_ACK_RETRY = 2003
    CMD_ACK_REPEAT = 2004
    CMD_ACK_UNAUTH = 2005
    CMD_ACK_UNKNOWN = 0xFFFF


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded packet; ``checksum`` as received."""

    command: int
    session_id: int
    reply_id: int
    data: bytes = b""
    checksum: int = 0

    @property
    def event_code(self) -> int:
        """For a ``CMD_REG_EVENT`` packet the session field is the event code."""
        return self.session_id


def checksum(data: bytes) -> int:
    """The ZK checksum of ``data`` (header with the checksum field zeroed, then the data)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"<{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def build_packet(command: int, session_id: int, reply_id: int, data: bytes = b"") -> bytes:
    """A bare packet (the UDP form) with its checksum."""
    unsigned = struct.pack("<4H", command, 0, session_id, reply_id) + data
    return struct.pack("<4H", command, checksum(unsigned), session_id, reply_id) + data


def frame_tcp(packet: bytes) -> bytes:
    """Prefix a bare packet for TCP."""
    return TCP_MAGIC + struct.pack("<I", len(packet)) + packet


def parse_packet(raw: bytes, *, verify: bool = True) -> Packet:
    """Decode a bare packet; ``DecodeError`` when short or (with ``verify``) the checksum fails."""
    if len(raw) < HEADER_SIZE:
        raise DecodeError(f"ZK packet of {len(raw)} bytes is shorter than its header", raw)
    command, received, session_id, reply_id = struct.unpack_from("<4H", raw)
    data = bytes(raw[HEADER_SIZE:])
    if verify:
        expected = checksum(raw[:2] + b"\x00\x00" + raw[4:])
        if expected != received:
            raise DecodeError(
                f"ZK checksum {received:#06x} != computed {expected:#06x}", bytes(raw)
            )
    return Packet(command, session_id, reply_id, data, received)


class TcpFramer:
    """Cut a TCP byte stream into packets; resynchronises on the ``50 50 82 7d`` magic.

    ``feed()`` returns the packets completed by the new bytes. Garbage before a magic, a length
    that cannot be right (< 8 or > ``MAX_PACKET``) and packets with a bad checksum are dropped
    and counted in ``dropped_bytes`` / ``bad_packets``; the framer never raises. A bad packet is
    passed to ``on_bad_packet`` (reason, bytes) when given, else logged as hex.
    """

    def __init__(
        self,
        *,
        verify_checksum: bool = True,
        on_bad_packet: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self._buf = bytearray()
        self._verify = verify_checksum
        self._on_bad_packet = on_bad_packet
        self.dropped_bytes = 0
        self.bad_packets = 0

    def __len__(self) -> int:
        return len(self._buf)

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        log.debug("ZK framer: dropping %d byte(s): %s", count, bytes(self._buf[:count]).hex())
        self.dropped_bytes += count
        del self._buf[:count]

    def feed(self, data: bytes) -> list[Packet]:
        self._buf += data
        packets: list[Packet] = []
        while True:
            start = self._buf.find(TCP_MAGIC)
            if start < 0:
                # Keep a tail that may be the start of a magic split across reads.
                self._drop(len(self._buf) - (len(TCP_MAGIC) - 1))
                return packets
            self._drop(start)
            if len(self._buf) < 8:
                return packets
            (length,) = struct.unpack_from("<I", self._buf, 4)
            if length < HEADER_SIZE or length > MAX_PACKET:
                self._drop(1)
                continue
            if len(self._buf) < 8 + length:
                return packets
            raw = bytes(self._buf[8 : 8 + length])
            try:
                packet = parse_packet(raw, verify=self._verify)
            except DecodeError as exc:
                self.bad_packets += 1
                if self._on_bad_packet is not None:
                    self._on_bad_packet(exc.reason, raw)
                else:
                    log.warning("ZK framer: %s; packet %s dropped", exc.reason, raw.hex())
                # The magic may have been garbage: look again from the next byte.
                self._drop(1)
                continue
            del self._buf[: 8 + length]
            packets.append(packet)


def commkey(password: int, session_id: int, ticks: int = 50) -> bytes:
    """The ``CMD_AUTH`` payload for a terminal with a communication password (``MakeKey``).

    The password's 32 bits are reversed, the session id added, the bytes XORed with ``ZKSO``,
    the two halves swapped, then XORed with ``ticks`` (the third byte replaced by it).
    """
    reversed_bits = int(f"{password & 0xFFFFFFFF:032b}"[::-1], 2)
    k = (reversed_bits + session_id) & 0xFFFFFFFF
    b = bytes(x ^ y for x, y in zip(struct.pack("<I", k), b"ZKSO", strict=True))
    swapped = b[2:4] + b[0:2]
    t = ticks & 0xFF
    return bytes((swapped[0] ^ t, swapped[1] ^ t, t, swapped[3] ^ t))


def prepare_buffer_request(
    command: int = Command.CMD_ATTLOG_RRQ, fct: int = 0, ext: int = 0
) -> bytes:
    """Data of ``CMD_PREPARE_BUFFER``: ask the terminal to stage a table for buffered reading."""
    return struct.pack("<bhii", 1, command, fct, ext)


def prepare_buffer_size(data: bytes) -> int:
    """The staged size from a ``CMD_PREPARE_BUFFER`` ``CMD_ACK_OK`` reply (u32 at offset 1)."""
    if len(data) < 5:
        raise DecodeError("prepare-buffer reply without a size", data)
    (size,) = struct.unpack_from("<I", data, 1)
    return int(size)


def read_buffer_request(start: int, size: int) -> bytes:
    """Data of ``CMD_READ_BUFFER``: read ``size`` staged bytes from ``start``."""
    return struct.pack("<ii", start, size)


def reg_event_request(flags: int) -> bytes:
    """Data of ``CMD_REG_EVENT``: the event flags to receive (0 to stop)."""
    return struct.pack("<I", flags)
