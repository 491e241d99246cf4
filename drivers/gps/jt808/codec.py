"""The ``jt808`` payload codec: JT/T 808 frames as binary or as hex text, to fixes.

A payload holds one or more frames, either as bytes or as hex text (whitespace anywhere is
ignored; case does not matter). Hex is recognised when the payload is nothing but hex digits
and whitespace, which a binary frame can never be (it starts with ``0x7e``, ``~``).

Each frame is verified (framing, check code, header length); 0x0200 gives a fix and each 0x0704
item gives one, or an ``AlarmSignal`` when the report raises an alarm without a fix (see
:func:`drivers.gps.jt808.location.report_record`); heartbeats, registrations,
authentications and other messages give no record and are not errors. Sub-packaged or
encrypted location messages are rejected (not reassembled or decrypted). The device id is the
terminal id from the header (:mod:`drivers.gps.jt808.message`); the topic's id is not used.
``PositionFix.raw`` is the frame's wire bytes in hex.
"""

from __future__ import annotations

import string
from datetime import datetime

from drivers.gps.jt808.framing import FrameError, Jt808Framer
from drivers.gps.jt808.location import parse_batch, parse_location, report_record
from drivers.gps.jt808.message import (
    MSG_BATCH,
    MSG_LOCATION,
    Jt808Message,
    check_content,
    declared_length,
    parse_frame,
)
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import AlarmSignal, DecodeOutcome, PositionFix, Rejected

__all__ = ["Jt808Codec", "decode_messages", "payload_bytes", "positions_of"]

FORMAT_NAME = "jt808"
_HEX = frozenset(string.hexdigits + string.whitespace)


def payload_bytes(payload: bytes) -> bytes:
    """The frame bytes of a payload: hex text decoded, binary as is. Raises on odd hex."""
    if payload and all(chr(b) in _HEX for b in payload):
        digits = bytes(b for b in payload if chr(b) not in string.whitespace)
        if len(digits) % 2:
            raise DecodeError("hex text with an odd number of digits")
        return bytes.fromhex(digits.decode("ascii"))
    return payload


def decode_messages(payload: bytes) -> tuple[list[Jt808Message], list[Rejected]]:
    """Every verified message in a payload (binary or hex), and a reject per broken part.

    For drivers that answer terminals: pass each message to
    :func:`drivers.gps.jt808.reply.reply_for`.
    """
    try:
        data = payload_bytes(payload)
    except DecodeError as exc:
        return [], [Rejected(exc.reason, payload)]
    framer = Jt808Framer(validate=check_content, frame_length=declared_length)
    messages: list[Jt808Message] = []
    rejects: list[Rejected] = []
    for item in [*framer.feed(data), *framer.flush()]:
        if isinstance(item, FrameError):
            rejects.append(Rejected(item.reason, item.raw))
            continue
        messages.append(parse_frame(item.content, item.wire))
    return messages, rejects


class Jt808Codec:
    """Codec for JT/T 808 frames (module docstring). Stateless."""

    format_name = FORMAT_NAME

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        received = utc(received_at)
        messages, rejects = decode_messages(payload)
        fixes: list[PositionFix] = []
        alarms: list[AlarmSignal] = []
        for message in messages:
            for result in positions_of(message, received, FORMAT_NAME):
                if isinstance(result, PositionFix):
                    fixes.append(result)
                elif isinstance(result, AlarmSignal):
                    alarms.append(result)
                else:
                    rejects.append(result)
        return DecodeOutcome(fixes=tuple(fixes), rejects=tuple(rejects), alarms=tuple(alarms))


def positions_of(
    message: Jt808Message, received: datetime, source_format: str
) -> list[PositionFix | AlarmSignal | Rejected]:
    """Fixes, alarms without a fix, or rejects of one verified message; empty for
    non-location messages."""
    head = message.header
    if head.msg_id not in (MSG_LOCATION, MSG_BATCH):
        return []
    device = head.phone
    if head.subpackaged:
        return [Rejected("sub-packaged location message (not reassembled)", message.wire, device)]
    if head.encryption:
        return [Rejected("encrypted location message", message.wire, device)]
    raw = message.wire.hex()
    if head.msg_id == MSG_LOCATION:
        try:
            reports = [parse_location(message.body)]
        except DecodeError as exc:
            return [Rejected(exc.reason, message.wire, device)]
        chunks = [message.body]
        results: list[PositionFix | AlarmSignal | Rejected] = []
    else:
        try:
            batch = parse_batch(message.body)
        except DecodeError as exc:
            return [Rejected(exc.reason, message.wire, device)]
        results = []
        reports = []
        chunks = []
        for item, chunk in zip(batch.items, batch.item_bytes, strict=True):
            if isinstance(item, DecodeError):
                results.append(Rejected(f"batch item: {item.reason}", chunk, device))
            else:
                reports.append(item)
                chunks.append(chunk)
        if batch.error:
            results.append(Rejected(f"batch: {batch.error}", message.wire, device))
    for report, chunk in zip(reports, chunks, strict=True):
        results.append(
            report_record(
                report,
                device_id=device,
                received_at=received,
                source_format=source_format,
                raw=raw,
                raw_bytes=chunk,
            )
        )
    return results
