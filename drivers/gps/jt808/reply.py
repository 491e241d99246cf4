"""Platform replies a JT/T 808 terminal waits for, built as pure functions.

Terminals resend a message (and some stop reporting) until the platform acknowledges it, so when
a bridge passes frames through unchanged the gateway has to answer: 0x8001 (general reply) for
location reports, batches, heartbeats and authentication, 0x8100 for a registration. The reply
echoes the terminal's phone BCD and header version, and is escaped and delimited for the wire.
"""

from __future__ import annotations

from drivers.gps.jt808.message import Jt808Message, xor_checksum

__all__ = [
    "MSG_GENERAL_REPLY",
    "MSG_REGISTER_REPLY",
    "RESULT_ALARM_ACK",
    "RESULT_BAD_MESSAGE",
    "RESULT_FAILURE",
    "RESULT_OK",
    "RESULT_UNSUPPORTED",
    "build_frame",
    "escape",
    "registration_reply",
    "reply_for",
]

MSG_GENERAL_REPLY = 0x8001
MSG_REGISTER_REPLY = 0x8100
RESULT_OK = 0
RESULT_FAILURE = 1
RESULT_BAD_MESSAGE = 2
RESULT_UNSUPPORTED = 3
RESULT_ALARM_ACK = 4


def escape(content: bytes) -> bytes:
    """Escape ``7e`` -> ``7d 02`` and ``7d`` -> ``7d 01`` (the inverse of un-escaping)."""
    return content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def build_frame(
    msg_id: int, body: bytes, *, phone_field: bytes, serial: int, version: int | None = None
) -> bytes:
    """A complete wire frame; ``version`` not ``None`` selects the 2019 header."""
    if len(body) > 0x03FF:
        raise ValueError("body longer than 1023 bytes needs sub-packaging")
    props = len(body)
    head = msg_id.to_bytes(2, "big")
    if version is not None:
        props |= 0x4000
        head += props.to_bytes(2, "big") + bytes([version])
    else:
        head += props.to_bytes(2, "big")
    content = head + phone_field + (serial & 0xFFFF).to_bytes(2, "big") + body
    content += bytes([xor_checksum(content)])
    return b"\x7e" + escape(content) + b"\x7e"


def reply_for(message: Jt808Message, serial: int = 0, result: int = RESULT_OK) -> bytes:
    """The 0x8001 general reply to ``message``: its serial, its id, ``result``.

    ``serial`` is the platform's own message counter. ``result``: 0 success, 1 failure,
    2 bad message, 3 unsupported, 4 alarm acknowledged.
    """
    head = message.header
    body = head.serial.to_bytes(2, "big") + head.msg_id.to_bytes(2, "big") + bytes([result])
    return build_frame(
        MSG_GENERAL_REPLY,
        body,
        phone_field=head.phone_field,
        serial=serial,
        version=head.protocol_version if head.version_2019 else None,
    )


def registration_reply(
    message: Jt808Message, auth_code: str, serial: int = 0, result: int = RESULT_OK
) -> bytes:
    """The 0x8100 reply to a 0x0100 registration; the auth code follows only on success."""
    head = message.header
    body = head.serial.to_bytes(2, "big") + bytes([result])
    if result == RESULT_OK:
        body += auth_code.encode("ascii")
    return build_frame(
        MSG_REGISTER_REPLY,
        body,
        phone_field=head.phone_field,
        serial=serial,
        version=head.protocol_version if head.version_2019 else None,
    )
