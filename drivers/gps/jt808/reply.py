"""The platform's side of JT/T 808 for terminals behind a transparent bridge: which reply each
message needs, the auth codes, and the reply frames.

Terminals resend a message (and some stop reporting) until the platform acknowledges it; when a
bridge passes frames through unchanged, the gateway has to answer. :class:`Jt808Platform`
decides, per verified message:

======================  ==========================================================================
terminal message        platform reply
======================  ==========================================================================
0x0100 registration     0x8100, result 0 and the terminal's auth code (every terminal may register;
                        which terminal belongs to which guard is the site file's business)
0x0102 authentication   0x8001, result 0 when the code is the terminal's, 1 (failure) otherwise; a
                        failure is also a ``Rejected`` (counted and logged by the pipeline)
0x0002 heartbeat,       0x8001, result 0 (each packet of a sub-packaged one as it comes); 3
0x0200, 0x0704          (unsupported) for an encrypted location message, 2 (bad message) for a
                        location body or a packet number that cannot be read
======================  ==========================================================================

Other messages get no reply. The auth code needs no table: it is derived from a gateway secret
and the terminal id (HMAC-SHA256, 16 hex digits), so any gateway process holding the secret
checks it, and it survives restarts as long as the secret does. A reply echoes the terminal's
phone field byte for byte and its header version (2019 terminals get a 2019 header with their
protocol version), carries the platform's own flow number, counted per terminal, and is escaped
and delimited for the wire. Replies are ``Downlink`` records: the codec builds them, the MQTT
adapter sends them once the batch holding the message is committed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from drivers.gps.jt808.message import (
    MSG_AUTH,
    MSG_BATCH,
    MSG_HEARTBEAT,
    MSG_LOCATION,
    MSG_REGISTER,
    Jt808Message,
    parse_authentication,
    parse_registration,
    xor_checksum,
)
from gateway.errors import DecodeError
from gateway.records import Downlink, Rejected

__all__ = [
    "CHANNEL",
    "MSG_GENERAL_REPLY",
    "MSG_REGISTER_REPLY",
    "RESULT_BAD_MESSAGE",
    "RESULT_FAILURE",
    "RESULT_OK",
    "RESULT_UNSUPPORTED",
    "Jt808Platform",
    "general_reply",
    "registration_reply",
]

logger = logging.getLogger(__name__)

CHANNEL = "jt808"
"""``Downlink.channel`` of JT/T 808 replies."""

MSG_GENERAL_REPLY = 0x8001
MSG_REGISTER_REPLY = 0x8100
RESULT_OK = 0
RESULT_FAILURE = 1
RESULT_BAD_MESSAGE = 2
RESULT_UNSUPPORTED = 3

_AUTH_CODE_DIGITS = 16
_AUTH_CONTEXT = b"guard-gateway jt808 auth code\x00"
_ACKNOWLEDGED = (MSG_HEARTBEAT, MSG_LOCATION, MSG_BATCH)


def _escape(content: bytes) -> bytes:
    """Escape ``7d`` -> ``7d 01`` first, then ``7e`` -> ``7d 02`` (so no byte is escaped twice)."""
    return content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def _frame(msg_id: int, body: bytes, to: Jt808Message, serial: int) -> bytes:
    """A wire frame to the terminal that sent ``to``: its phone field and header version."""
    head = to.header
    props = len(body)  # replies are a few bytes: never sub-packaged or encrypted
    content = msg_id.to_bytes(2, "big")
    if head.protocol_version is not None:  # set exactly when the 2019 version flag is
        content += (props | 0x4000).to_bytes(2, "big") + bytes([head.protocol_version])
    else:
        content += props.to_bytes(2, "big")
    content += head.phone_field + (serial & 0xFFFF).to_bytes(2, "big") + body
    return b"\x7e" + _escape(content + bytes([xor_checksum(content)])) + b"\x7e"


def general_reply(message: Jt808Message, serial: int, result: int = RESULT_OK) -> bytes:
    """0x8001 to ``message``: its serial, its id, ``result``; ``serial`` is the platform's own."""
    head = message.header
    body = head.serial.to_bytes(2, "big") + head.msg_id.to_bytes(2, "big") + bytes([result])
    return _frame(MSG_GENERAL_REPLY, body, message, serial)


def registration_reply(message: Jt808Message, auth_code: str, serial: int) -> bytes:
    """0x8100 accepting the 0x0100 ``message``: its serial, result 0, the auth code."""
    body = message.header.serial.to_bytes(2, "big") + bytes([RESULT_OK])
    return _frame(MSG_REGISTER_REPLY, body + auth_code.encode("ascii"), message, serial)


class Jt808Platform:
    """Answers terminals (module docstring). Keeps each terminal's next flow number; one
    instance per ingest stream, not thread-safe (the pipeline's owner thread uses it).

    ``ephemeral``: the secret is random and lives only as long as this process, so the codes it
    gives stop working at the next start; the first code given logs a warning saying so (only
    then: a gateway whose terminals never register has nothing to warn about)."""

    def __init__(self, secret: bytes, *, ephemeral: bool = False) -> None:
        if not secret:
            raise ValueError("the JT/T 808 auth secret must not be empty")
        self._secret = secret
        self._serials: dict[str, int] = {}
        self._warn = ephemeral

    def auth_code(self, terminal_id: str) -> str:
        """The code terminal ``terminal_id`` is given at registration and must authenticate with."""
        if self._warn:
            self._warn = False
            logger.warning(
                "JT/T 808 auth codes come from a key of this process only "
                "(GATEWAY_JT808_AUTH_SECRET is not set): terminals registered now must "
                "register again after a restart"
            )
        digest = hmac.new(
            self._secret, _AUTH_CONTEXT + terminal_id.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return digest[:_AUTH_CODE_DIGITS]

    def _serial(self, terminal_id: str) -> int:
        serial = self._serials.get(terminal_id, 0)
        self._serials[terminal_id] = (serial + 1) & 0xFFFF
        return serial

    def answer(
        self, message: Jt808Message, reply_to: str, location_result: int = RESULT_OK
    ) -> tuple[Downlink | None, Rejected | None]:
        """The reply ``message`` needs (``None``: none) and, for a failed authentication, its
        reject. ``reply_to`` names the downlink (the id the uplink topic used);
        ``location_result`` is the general reply's result for a location message."""
        head = message.header
        terminal = head.phone
        if head.msg_id == MSG_REGISTER:
            _log_registration(message)
            frame = registration_reply(message, self.auth_code(terminal), self._serial(terminal))
            return Downlink(reply_to, CHANNEL, frame), None
        if head.msg_id == MSG_AUTH:
            problem = self._check(message)
            result = RESULT_OK if problem is None else RESULT_FAILURE
            frame = general_reply(message, self._serial(terminal), result)
            reject = None if problem is None else Rejected(problem, message.wire, terminal)
            return Downlink(reply_to, CHANNEL, frame), reject
        if head.msg_id in _ACKNOWLEDGED:
            result = RESULT_OK if head.msg_id == MSG_HEARTBEAT else location_result
            frame = general_reply(message, self._serial(terminal), result)
            return Downlink(reply_to, CHANNEL, frame), None
        return None, None

    def _check(self, message: Jt808Message) -> str | None:
        """Why the 0x0102 ``message`` does not authenticate its terminal, or ``None``."""
        try:
            code = parse_authentication(message).auth_code
        except DecodeError as exc:
            return f"jt808 authentication failed: {exc.reason}"
        expected = self.auth_code(message.header.phone)
        if hmac.compare_digest(code.encode("utf-8"), expected.encode("utf-8")):
            return None
        return "jt808 authentication failed: wrong auth code (register again for a new one)"


def _log_registration(message: Jt808Message) -> None:
    """What a registering terminal says it is, for the operator (a registration with a body
    we cannot read is still answered: the auth code depends on the header's id only)."""
    try:
        reg = parse_registration(message)
    except DecodeError as exc:
        logger.warning("jt808 %s registers with an unreadable body: %s", message.header.phone, exc)
        return
    logger.info(
        "jt808 %s registers: manufacturer %r, model %r, terminal id %r, plate %r",
        message.header.phone,
        reg.manufacturer_id,
        reg.terminal_model,
        reg.terminal_id,
        reg.plate,
    )
