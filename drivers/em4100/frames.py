"""Parsing one EM4100 reader frame or line (sans-I/O); cutting the stream is in ``codec``.

Output variants a site can configure, and the ``tag_id`` each yields:

``rdm6300``
    ``STX`` (0x02), 10 ASCII hex digits (version/customer byte, then the 32-bit number),
    2 ASCII hex digits of checksum = XOR of the 5 data bytes, ``ETX`` (0x03). Upper- or
    lower-case hex is accepted. An ID-12-style ``CR LF`` just before ``ETX`` is tolerated.
    ``tag_id`` = the full 40-bit id as 10 upper-case hex digits, e.g. ``"01000734E0"``.
    Technology ``EM4100``.
``decimal``
    A reader set to 10-digit decimal output ("8H>10D"): exactly 10 ASCII digits ended by CR
    and/or LF, e.g. ``0003887558\\r\\n``. The number is the **low 32 bits** of the EM4100 id (the
    version/customer byte is lost); it is the 10-digit number printed on most cards.
    ``tag_id`` = those 10 digits. Technology ``EM4100``. There is no check digit.
``wiegand26``
    A Wiegand-to-serial converter printing each credential as its bit string, first bit first,
    one per line (CR and/or LF): 26 characters ``0``/``1``. Bit 0 is even parity over bits 1-12,
    bit 25 odd parity over bits 13-24; bits 1-8 are the facility code and 9-24 the card number.
    Fed by an EM4100 reader these are the id's low 24 bits (the "3+5" number printed on cards).
    ``tag_id`` = ``"FFF:CCCCC"``: facility as 3 digits, card as 5, e.g. ``"059:20934"``.
    Technology ``WIEGAND``.
``wiegand34``
    The same with 34 characters: bit 0 even parity over bits 1-16, bit 33 odd parity over bits
    17-32, bits 1-32 one 32-bit number (the EM4100 id's low 32 bits).
    ``tag_id`` = that number as 10 decimal digits: the same id a ``decimal`` reader gives for
    the same card. Technology ``WIEGAND``.

``em4100_decimal_id`` and ``em4100_wiegand26_id`` give, for a 10-hex-digit EM4100 id, the id
the ``decimal``/``wiegand34`` and ``wiegand26`` variants report, so a site file can name a
checkpoint's tag once and still match whatever reader output is installed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum

from gateway.errors import ConfigError, DecodeError
from gateway.records import TagTechnology

__all__ = [
    "ETX",
    "STX",
    "Em4100DecodeError",
    "RejectReason",
    "TagRead",
    "Variant",
    "decode_decimal_line",
    "decode_rdm6300",
    "decode_wiegand_line",
    "em4100_decimal_id",
    "em4100_wiegand26_id",
    "wiegand_data",
]

STX = 0x02
ETX = 0x03
_HEX = frozenset(string.hexdigits.encode())
_DIGITS = frozenset(string.digits.encode())


class Variant(StrEnum):
    """The output format a reader is configured for (see the module docstring)."""

    RDM6300 = "rdm6300"
    DECIMAL = "decimal"
    WIEGAND26 = "wiegand26"
    WIEGAND34 = "wiegand34"


class RejectReason(StrEnum):
    """Why input was refused; also the key of the per-reason reject counters."""

    GARBAGE = "garbage"
    """Bytes outside any frame (line noise, a stream joined mid-frame)."""
    CUT = "cut"
    """A frame interrupted: a new STX before ETX, a lost ETX, or the line went down."""
    NO_ETX = "no_etx"
    """Far more bytes after STX than a frame holds and still no ETX."""
    LENGTH = "length"
    NON_HEX = "non_hex"
    CHECKSUM = "checksum"
    NON_DECIMAL = "non_decimal"
    RANGE = "range"
    NON_BINARY = "non_binary"
    PARITY = "parity"


@dataclass(frozen=True, slots=True)
class TagRead:
    """One valid frame: the normalised ``tag_id``, and ``raw`` = the frame's bytes as received."""

    tag_id: str
    technology: TagTechnology
    variant: Variant
    raw: bytes


class Em4100DecodeError(DecodeError):
    """A frame or line that is not valid; ``code`` is the counter key, ``raw`` its bytes."""

    def __init__(self, code: RejectReason, detail: str, raw: bytes) -> None:
        super().__init__(f"{code.value}: {detail}", raw)
        self.code = code
        self.detail = detail


def decode_rdm6300(frame: bytes) -> TagRead:
    """Decode one whole frame ``STX body ETX``; raise ``Em4100DecodeError`` if it is not valid."""
    if len(frame) < 2 or frame[0] != STX or frame[-1] != ETX:
        raise Em4100DecodeError(RejectReason.LENGTH, "not delimited by STX ... ETX", frame)
    body = frame[1:-1]
    if len(body) == 14 and body.endswith(b"\r\n"):
        body = body[:-2]
    if len(body) != 12:
        raise Em4100DecodeError(
            RejectReason.LENGTH, f"{len(body)} characters between STX and ETX, need 12", frame
        )
    if not _HEX.issuperset(body):
        raise Em4100DecodeError(RejectReason.NON_HEX, "non-hex character in frame", frame)
    data = bytes.fromhex(body[:10].decode("ascii"))
    stated = int(body[10:12], 16)
    computed = 0
    for byte in data:
        computed ^= byte
    if computed != stated:
        raise Em4100DecodeError(
            RejectReason.CHECKSUM, f"checksum {stated:02X}, data XOR to {computed:02X}", frame
        )
    return TagRead(data.hex().upper(), TagTechnology.EM4100, Variant.RDM6300, frame)


def decode_decimal_line(line: bytes, raw: bytes | None = None) -> TagRead:
    """Decode a 10-digit decimal line (terminator removed); ``raw`` defaults to ``line``."""
    evidence = line if raw is None else raw
    if not _DIGITS.issuperset(line):
        raise Em4100DecodeError(RejectReason.NON_DECIMAL, "non-digit in decimal line", evidence)
    if len(line) != 10:
        raise Em4100DecodeError(RejectReason.LENGTH, f"{len(line)} digits, need 10", evidence)
    if int(line) > 0xFFFFFFFF:
        raise Em4100DecodeError(RejectReason.RANGE, "number exceeds 32 bits", evidence)
    return TagRead(line.decode("ascii"), TagTechnology.EM4100, Variant.DECIMAL, evidence)


def wiegand_data(bits: str) -> int:
    """Check a 26- or 34-bit Wiegand bit string's parity and return its data bits as a number.

    Raise ``Em4100DecodeError`` (``NON_BINARY``, ``LENGTH``, ``PARITY``) otherwise.
    """
    raw = bits.encode("ascii", "replace")
    if not set(bits) <= {"0", "1"}:
        raise Em4100DecodeError(RejectReason.NON_BINARY, "not a 0/1 string", raw)
    if len(bits) not in (26, 34):
        raise Em4100DecodeError(RejectReason.LENGTH, f"{len(bits)} bits, need 26 or 34", raw)
    half = (len(bits) - 2) // 2
    # The leading bit makes its half (itself included) even; the trailing one makes its half odd.
    if bits[: half + 1].count("1") % 2 != 0:
        raise Em4100DecodeError(RejectReason.PARITY, "leading even parity bit is wrong", raw)
    if bits[half + 1 :].count("1") % 2 != 1:
        raise Em4100DecodeError(RejectReason.PARITY, "trailing odd parity bit is wrong", raw)
    return int(bits[1:-1], 2)


def decode_wiegand_line(line: bytes, variant: Variant, raw: bytes | None = None) -> TagRead:
    """Decode one Wiegand bit-string line (terminator removed) for a ``wiegand26/34`` variant."""
    evidence = line if raw is None else raw
    nbits = {Variant.WIEGAND26: 26, Variant.WIEGAND34: 34}.get(variant)
    if nbits is None:
        raise ConfigError(f"{variant} is not a Wiegand variant")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise Em4100DecodeError(RejectReason.NON_BINARY, "non-ASCII byte", evidence) from None
    if set(text) <= {"0", "1"} and len(text) != nbits:
        raise Em4100DecodeError(RejectReason.LENGTH, f"{len(text)} bits, need {nbits}", evidence)
    try:
        data = wiegand_data(text)
    except Em4100DecodeError as exc:
        raise Em4100DecodeError(exc.code, exc.detail, evidence) from None
    tag_id = f"{data >> 16:03d}:{data & 0xFFFF:05d}" if nbits == 26 else f"{data:010d}"
    return TagRead(tag_id, TagTechnology.WIEGAND, variant, evidence)


def _em_id(em_hex: str) -> int:
    text = em_hex.strip()
    if len(text) != 10 or not set(text) <= set(string.hexdigits):
        raise ValueError(f"an EM4100 id is 10 hex digits, got {em_hex!r}")
    return int(text, 16)


def em4100_decimal_id(em_hex: str) -> str:
    """The ``decimal``/``wiegand34`` tag id of an EM4100 id: its low 32 bits as 10 digits."""
    return f"{_em_id(em_hex) & 0xFFFFFFFF:010d}"


def em4100_wiegand26_id(em_hex: str) -> str:
    """The ``wiegand26`` tag id of an EM4100 id: ``FFF:CCCCC`` from its low 24 bits."""
    value = _em_id(em_hex)
    return f"{(value >> 16) & 0xFF:03d}:{value & 0xFFFF:05d}"
