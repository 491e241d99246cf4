"""A JT/T 808 terminal's log-in, driven by the platform's replies (JT/T 808-2013, 8.1 and 8.8).

Platform frames a terminal receives: 0x8001 general reply (reply serial WORD, reply id WORD,
result BYTE: 0 success, 1 failure, 2 bad message, 3 unsupported, 4 alarm acknowledged) and
0x8100 registration reply (reply serial WORD, result BYTE, then the authentication code STRING
when the result is 0). :func:`parse_platform_reply` reads them (2013 or 2019 header);
:class:`Jt808Login` is a terminal's log-in: register, wait for the code, authenticate with it,
register again when the platform refuses the code. The frames it sends are built by
``fwsim.gps.jt808``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fwsim.gps.jt808 import (
    MSG_AUTHENTICATION,
    MSG_PLATFORM_REPLY,
    MSG_REGISTRATION,
    MSG_REGISTRATION_REPLY,
    Registration,
    authentication_body,
    build_frame,
    registration_body,
    xor_check,
)

__all__ = ["Jt808Login", "PlatformReply", "parse_platform_reply"]


@dataclass(frozen=True, slots=True)
class PlatformReply:
    """A 0x8001 or 0x8100 frame as the terminal reads it. ``phone`` is the header's phone field
    (6 bytes, 10 with the 2019 header); ``reply_msg_id`` only in 0x8001, ``auth_code`` only in
    a successful 0x8100."""

    msg_id: int
    phone: bytes
    serial: int
    version_2019: bool
    reply_serial: int
    result: int
    reply_msg_id: int | None = None
    auth_code: str | None = None


def _unescape(data: bytes) -> bytes:
    out = bytearray()
    pending = False
    for byte in data:
        if pending:
            if byte not in (0x01, 0x02):
                raise ValueError(f"invalid escape 7d {byte:02x}")
            out.append(0x7D if byte == 0x01 else 0x7E)
            pending = False
        elif byte == 0x7D:
            pending = True
        else:
            out.append(byte)
    if pending:
        raise ValueError("frame ends inside an escape")
    return bytes(out)


def parse_platform_reply(wire: bytes) -> PlatformReply:
    """Read one platform frame (``7e ... 7e``). Raises ``ValueError`` when it is not a valid
    0x8001/0x8100 frame (delimiters, escapes, check code, lengths)."""
    if len(wire) < 2 or wire[0] != 0x7E or wire[-1] != 0x7E:
        raise ValueError("not a 7e-delimited frame")
    raw = _unescape(wire[1:-1])
    content, check = raw[:-1], raw[-1:]
    if not check or xor_check(content) != check[0]:
        raise ValueError("check code mismatch")
    msg_id = int.from_bytes(content[0:2], "big")
    props = int.from_bytes(content[2:4], "big")
    version_2019 = bool(props & 0x4000)
    phone_at, phone_len = (5, 10) if version_2019 else (4, 6)
    head_len = phone_at + phone_len + 2
    body = content[head_len:]
    if len(body) != props & 0x3FF or props & 0x2000:
        raise ValueError("body length disagrees with the header (or a sub-package)")
    phone = content[phone_at : phone_at + phone_len]
    serial = int.from_bytes(content[head_len - 2 : head_len], "big")
    reply_serial = int.from_bytes(body[0:2], "big")
    if msg_id == MSG_PLATFORM_REPLY and len(body) == 5:
        return PlatformReply(
            msg_id,
            phone,
            serial,
            version_2019,
            reply_serial,
            result=body[4],
            reply_msg_id=int.from_bytes(body[2:4], "big"),
        )
    if msg_id == MSG_REGISTRATION_REPLY and len(body) >= 3:
        code = body[3:].decode("ascii") if body[2] == 0 else None
        return PlatformReply(
            msg_id, phone, serial, version_2019, reply_serial, result=body[2], auth_code=code
        )
    raise ValueError(f"not a platform reply: message 0x{msg_id:04x} with {len(body)} bytes")


class Jt808Login:
    """A terminal logging in as the standard has it, driven by the platform's replies.

    ``start()`` gives the 0x0100 frame. ``on_downlink(frame)`` takes each frame the platform
    sends and returns the frame to send next, if any: after a 0x8100 with result 0, the 0x0102
    with the code it carried; after a 0x8001 refusing that 0x0102 (result not 0), a new
    0x0100. ``authenticated`` turns true when the platform accepts the code. ``next_serial``
    gives the terminal's serial numbers (shared with its other messages).
    """

    def __init__(
        self,
        phone_bcd: bytes,
        next_serial: Callable[[], int],
        registration: Registration | None = None,
    ) -> None:
        self.phone_bcd = phone_bcd
        self._next_serial = next_serial
        self._registration = registration or Registration()
        self.auth_code: str | None = None
        self.authenticated = False
        self._auth_serial: int | None = None

    def _frame(self, msg_id: int, body: bytes) -> bytes:
        serial = self._next_serial()
        if msg_id == MSG_AUTHENTICATION:
            self._auth_serial = serial
        return build_frame(msg_id, self.phone_bcd, serial, body)

    def start(self) -> bytes:
        """The 0x0100 registration that opens the log-in."""
        self.authenticated = False
        return self._frame(MSG_REGISTRATION, registration_body(self._registration))

    def on_downlink(self, frame: bytes) -> bytes | None:
        """React to one platform frame; the frame to send next, or ``None``."""
        reply = parse_platform_reply(frame)
        if reply.phone != self.phone_bcd:
            return None  # for another terminal
        if reply.msg_id == MSG_REGISTRATION_REPLY and reply.auth_code is not None:
            self.auth_code = reply.auth_code
            return self._frame(MSG_AUTHENTICATION, authentication_body(reply.auth_code))
        is_auth_reply = (
            reply.msg_id == MSG_PLATFORM_REPLY
            and reply.reply_msg_id == MSG_AUTHENTICATION
            and reply.reply_serial == self._auth_serial
        )
        if not is_auth_reply:
            return None
        if reply.result == 0:
            self.authenticated = True
            return None
        return self.start()
