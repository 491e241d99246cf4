"""PN532 host-interface frames (HSU/UART), as defined by the PN532 User Manual UM0701-02, 6.2.

A normal information frame is ``00 00 FF LEN LCS TFI PD0..PDn DCS 00`` where ``LEN`` counts
``TFI`` and the data, ``LEN + LCS = 0`` and ``TFI + PD0 + ... + PDn + DCS = 0`` (mod 256).
An extended frame (``LEN > 255``) is ``00 00 FF FF FF LENM LENL LCS TFI ... DCS 00`` with
``LENM + LENL + LCS = 0``. ``TFI`` is ``D4`` host to PN532 and ``D5`` PN532 to host. The ACK frame
is ``00 00 FF 00 FF 00``, the NACK ``00 00 FF FF 00 00``, the application error frame
``00 00 FF 01 FF 7F 81 00``.

This module is sans-I/O: :func:`build_frame` makes frames, :class:`FrameParser` cuts a byte
stream from the host into :class:`HostFrame` events, skipping any wake-up bytes (``55``, long
preambles of ``00``) and garbage in front of a start code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ACK",
    "ERROR_FRAME",
    "HOST_TFI",
    "NACK",
    "PN532_TFI",
    "FrameParser",
    "HostFrame",
    "HostFrameKind",
    "build_frame",
    "checksum",
]

HOST_TFI = 0xD4
PN532_TFI = 0xD5
ACK = bytes.fromhex("0000FF00FF00")
NACK = bytes.fromhex("0000FFFF0000")
ERROR_FRAME = bytes.fromhex("0000FF01FF7F8100")

_START = b"\x00\xff"
_MAX_NORMAL = 255


def checksum(data: bytes) -> int:
    """The byte that makes ``sum(data) + checksum`` a multiple of 256 (LCS and DCS alike)."""
    return (-sum(data)) & 0xFF


def build_frame(tfi: int, data: bytes, *, bad_lcs: bool = False, bad_dcs: bool = False) -> bytes:
    """Frame ``tfi`` + ``data``; extended syntax is chosen when ``LEN`` exceeds 255.

    ``bad_lcs`` / ``bad_dcs`` flip the low bit of the length / data checksum, to simulate a line
    error; everything else stays valid.
    """
    body = bytes([tfi]) + data
    length = len(body)
    if length > 0xFFFF:
        raise ValueError(f"frame body of {length} bytes is too long")
    if length <= _MAX_NORMAL:
        head_len = bytes([length])
        lcs = checksum(head_len)
        head = b"\x00\x00\xff" + head_len
    else:
        head_len = length.to_bytes(2, "big")
        lcs = checksum(head_len)
        head = b"\x00\x00\xff\xff\xff" + head_len
    dcs = checksum(body)
    if bad_lcs:
        lcs ^= 0x01
    if bad_dcs:
        dcs ^= 0x01
    return head + bytes([lcs]) + body + bytes([dcs, 0x00])


class HostFrameKind(Enum):
    """What the host sent."""

    COMMAND = "command"
    ACK = "ack"
    NACK = "nack"
    BAD_CHECKSUM = "bad_checksum"


@dataclass(frozen=True, slots=True)
class HostFrame:
    """One frame cut from the host stream; ``body`` is TFI + data for a command."""

    kind: HostFrameKind
    body: bytes = b""

    @property
    def command_code(self) -> int | None:
        """The command code (the byte after TFI ``D4``), or ``None`` if not a host command."""
        if self.kind is HostFrameKind.COMMAND and len(self.body) >= 2 and self.body[0] == HOST_TFI:
            return self.body[1]
        return None

    @property
    def params(self) -> bytes:
        """The command parameters after the command code."""
        return self.body[2:]


class FrameParser:
    """Incremental parser of the host-to-PN532 byte stream.

    ``feed(data)`` returns the frames completed by ``data``. Bytes before a start code
    (``00 FF``) are skipped and counted in ``skipped_bytes``; a frame with a wrong LCS is
    abandoned at its start code so a following good frame is still found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[HostFrame]:
        self._buf += data
        frames: list[HostFrame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> HostFrame | None:
        buf = self._buf
        start = buf.find(_START)
        if start < 0:
            # keep a trailing 00: it may be the first half of a start code
            keep = 1 if buf.endswith(b"\x00") else 0
            self.skipped_bytes += len(buf) - keep
            del buf[: len(buf) - keep]
            return None
        self.skipped_bytes += start
        del buf[:start]
        if len(buf) < 4:
            return None
        if buf[2] == 0x00 and buf[3] == 0xFF:
            del buf[:4]
            return HostFrame(HostFrameKind.ACK)
        if buf[2] == 0xFF and buf[3] == 0x00:
            del buf[:4]
            return HostFrame(HostFrameKind.NACK)
        if buf[2] == 0xFF and buf[3] == 0xFF:
            if len(buf) < 7:
                return None
            length = (buf[4] << 8) | buf[5]
            if (buf[4] + buf[5] + buf[6]) & 0xFF:
                return self._drop_start()
            header = 7
        else:
            length = buf[2]
            if (buf[2] + buf[3]) & 0xFF:
                return self._drop_start()
            header = 4
        total = header + length + 1  # + DCS; the postamble is optional on input
        if len(buf) < total:
            return None
        body = bytes(buf[header : header + length])
        dcs = buf[header + length]
        del buf[:total]
        if (sum(body) + dcs) & 0xFF:
            return HostFrame(HostFrameKind.BAD_CHECKSUM, body)
        return HostFrame(HostFrameKind.COMMAND, body)

    def _drop_start(self) -> HostFrame:
        del self._buf[:2]
        self.skipped_bytes += 2
        return HostFrame(HostFrameKind.BAD_CHECKSUM)
