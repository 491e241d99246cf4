"""JT/T 808 messages: the header (2013 and 2019 layouts) and the terminal bodies we read.

Header (after un-escaping; all integers big-endian)::

    msg_id WORD | properties WORD | [version BYTE, 2019 only] | phone BCD[6] (2019: BCD[10])
    | serial WORD | [total WORD, packet_no WORD when sub-packaged] | body | check code BYTE

Properties: bits 0-9 body length, 10-12 encryption (bit 10 = RSA), 13 sub-packaged, 14 the 2019
version flag (then a protocol version byte and a 10-byte phone follow). The check code is the XOR
of every byte from the header to the end of the body.

The terminal id (``Header.phone``, the device id everywhere else) comes from the phone field:

* BCD digits, reported without leading zeros (``012345678901`` -> ``12345678901``), the way
  go-jt808 and SmallChi/JT808 print it.
* Not BCD: some vendors put the IMEI there as a binary number (its first 14 digits; traccar's
  ``Jt808ProtocolDecoder.decodeId`` reads it the same way). The field is read as one big-endian
  integer; below 10^14 it is those 14 digits and the id is the IMEI: the number followed by its
  Luhn check digit (``4f07788ef676`` -> ``868935060005020``). Anything larger is no IMEI, and
  the id is the field in lower-case hex.

The field itself is kept as sent (``Header.phone_field``): replies must echo it byte for byte.

Bodies read here: 0x0200 location and 0x0704 batch (in :mod:`drivers.gps.jt808.location`),
0x0002 heartbeat, 0x0100 registration and 0x0102 authentication. Anything else is returned as
the bare message; it is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import DecodeError

__all__ = [
    "MSG_AUTH",
    "MSG_BATCH",
    "MSG_HEARTBEAT",
    "MSG_LOCATION",
    "MSG_REGISTER",
    "Authentication",
    "Header",
    "Jt808Message",
    "Registration",
    "check_content",
    "declared_length",
    "luhn_digit",
    "parse_authentication",
    "parse_frame",
    "parse_registration",
    "terminal_id",
    "xor_checksum",
]

MSG_HEARTBEAT = 0x0002
MSG_REGISTER = 0x0100
MSG_AUTH = 0x0102
MSG_LOCATION = 0x0200
MSG_BATCH = 0x0704

_MIN_HEADER_2013 = 12
_MIN_HEADER_2019 = 17


@dataclass(frozen=True, slots=True)
class Header:
    """A decoded message header. ``phone`` is the terminal id (module docstring);
    ``phone_field`` the 6 (2019: 10) bytes it was read from, as sent."""

    msg_id: int
    body_length: int
    encryption: int
    subpackaged: bool
    version_2019: bool
    protocol_version: int | None
    phone: str
    phone_field: bytes
    serial: int
    packet_total: int | None = None
    packet_no: int | None = None


@dataclass(frozen=True, slots=True)
class Jt808Message:
    """One verified message: header, body bytes, and the frame as it came off the wire."""

    header: Header
    body: bytes
    wire: bytes


@dataclass(frozen=True, slots=True)
class Registration:
    """0x0100 terminal registration."""

    province_id: int
    city_id: int
    manufacturer_id: str
    terminal_model: str
    terminal_id: str
    plate_color: int
    plate: str


@dataclass(frozen=True, slots=True)
class Authentication:
    """0x0102 authentication; ``imei`` and ``software_version`` only in 2019 bodies."""

    auth_code: str
    imei: str | None = None
    software_version: str | None = None


def xor_checksum(data: bytes) -> int:
    """XOR of all bytes (the JT/T 808 check code)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def luhn_digit(number: int) -> int:
    """The Luhn check digit of ``number`` (the 15th digit of an IMEI from its first 14)."""
    total = 0
    for position, char in enumerate(reversed(str(number))):
        digit = int(char)
        if position % 2 == 0:  # every second digit, from the rightmost, is doubled
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def terminal_id(field: bytes) -> str:
    """The device id of a header's phone field: BCD digits, or a binary IMEI (module docstring)."""
    text = field.hex()
    if text.isdigit():
        return text.lstrip("0") or "0"
    value = int.from_bytes(field, "big")
    if value < 10**14:
        return f"{value}{luhn_digit(value)}"
    return text


def _header(content: bytes) -> tuple[Header, int]:
    if len(content) < _MIN_HEADER_2013 + 1:
        raise DecodeError("header too short")
    msg_id = int.from_bytes(content[0:2], "big")
    props = int.from_bytes(content[2:4], "big")
    version_2019 = bool(props & 0x4000)
    subpackaged = bool(props & 0x2000)
    offset = 4
    protocol_version: int | None = None
    if version_2019:
        if len(content) < _MIN_HEADER_2019 + 1:
            raise DecodeError("header too short")
        protocol_version = content[4]
        offset = 5
        phone_len = 10
    else:
        phone_len = 6
    phone_field = bytes(content[offset : offset + phone_len])
    offset += phone_len
    serial = int.from_bytes(content[offset : offset + 2], "big")
    offset += 2
    total = number = None
    if subpackaged:
        if len(content) < offset + 4 + 1:
            raise DecodeError("header too short")
        total = int.from_bytes(content[offset : offset + 2], "big")
        number = int.from_bytes(content[offset + 2 : offset + 4], "big")
        offset += 4
    header = Header(
        msg_id=msg_id,
        body_length=props & 0x03FF,
        encryption=(props >> 10) & 0x07,
        subpackaged=subpackaged,
        version_2019=version_2019,
        protocol_version=protocol_version,
        phone=terminal_id(phone_field),
        phone_field=phone_field,
        serial=serial,
        packet_total=total,
        packet_no=number,
    )
    return header, offset


def parse_frame(content: bytes, wire: bytes = b"") -> Jt808Message:
    """Verify un-escaped frame content (header, body, check code) and split it.

    Raises :class:`DecodeError`: header too short, check code mismatch, or a body length that
    disagrees with the header.
    """
    header, offset = _header(content)
    expected = content[-1]
    computed = xor_checksum(content[:-1])
    if expected != computed:
        raise DecodeError(f"checksum mismatch (frame says {expected:02x}, computed {computed:02x})")
    body = content[offset:-1]
    if len(body) != header.body_length:
        raise DecodeError(
            f"body length inconsistent with header (header {header.body_length}, frame {len(body)})"
        )
    return Jt808Message(header=header, body=body, wire=wire)


def declared_length(content: bytes) -> int | None:
    """Un-escaped length (header, body, check code) the header declares; ``None`` if cut."""
    try:
        header, offset = _header(content)
    except DecodeError:
        return None
    return offset + header.body_length + 1


def check_content(content: bytes) -> str | None:
    """``parse_frame`` as a framer validator: the reason a candidate is no frame, or ``None``."""
    try:
        parse_frame(content)
    except DecodeError as exc:
        return exc.reason
    return None


def _text(data: bytes, encoding: str = "ascii") -> str:
    return data.rstrip(b"\x00").decode(encoding, errors="replace").strip()


def parse_registration(message: Jt808Message) -> Registration:
    """0x0100 body; 2013 layout 5/20/7-byte ids, 2019 layout 11/30/30. Plate is GBK."""
    body = message.body
    sizes = (11, 30, 30) if message.header.version_2019 else (5, 20, 7)
    fixed = 4 + sum(sizes) + 1
    if len(body) < fixed:
        raise DecodeError(f"registration body too short ({len(body)} < {fixed} bytes)")
    m, t, i = sizes
    return Registration(
        province_id=int.from_bytes(body[0:2], "big"),
        city_id=int.from_bytes(body[2:4], "big"),
        manufacturer_id=_text(body[4 : 4 + m]),
        terminal_model=_text(body[4 + m : 4 + m + t]),
        terminal_id=_text(body[4 + m + t : 4 + m + t + i]),
        plate_color=body[fixed - 1],
        plate=_text(body[fixed:], "gbk"),
    )


def parse_authentication(message: Jt808Message) -> Authentication:
    """0x0102 body: 2013 = the code; 2019 = length, code, IMEI[15], software version[20]."""
    body = message.body
    if not message.header.version_2019:
        return Authentication(auth_code=_text(body))
    if not body:
        raise DecodeError("authentication body is empty")
    length = body[0]
    if len(body) < 1 + length + 15:
        raise DecodeError("authentication body too short")
    code = body[1 : 1 + length]
    imei = body[1 + length : 1 + length + 15]
    version = body[1 + length + 15 : 1 + length + 35]
    return Authentication(auth_code=_text(code), imei=_text(imei), software_version=_text(version))
