"""The ``jt808`` payload codec: JT/T 808 frames as binary or as hex text, to fixes and replies.

A payload holds one or more frames, either as bytes or as hex text (whitespace anywhere is
ignored; case does not matter). Hex is recognised when the payload is nothing but hex digits
and whitespace, which a binary frame can never be (it starts with ``0x7e``, ``~``).

Each frame is verified (framing, check code, header length); 0x0200 gives a fix and each 0x0704
item gives one, or an ``AlarmSignal`` when the report raises an alarm without a fix (see
:func:`drivers.gps.jt808.location.report_record`); heartbeats, registrations,
authentications and other messages give no record and are not errors. A sub-packaged location
message (a long 0x0704 batch) is kept packet by packet until it is whole, then decoded as one
(:mod:`drivers.gps.jt808.subpackets`; each packet is acknowledged as it comes); encrypted
location messages are rejected (not decrypted). With a topic, the header
must name the topic's device (the same id, leading zeros aside): a frame naming another terminal
is refused whole (``device id mismatch: ...``, attributed to the topic's device) and answered
with nothing, neither registered nor acknowledged, since the broker account that sent it is not
that terminal's. A frame that names it is the topic's device's, under the topic's id exactly as
written: the topic is the terminal's broker account, which is its site-file id, so a terminal
registered under its 12-digit phone (``013800000001``, as its settings show it) is that device,
not an unknown ``13800000001``. Without a topic (the ``decode`` command) the device id is the
terminal id from the header (:mod:`drivers.gps.jt808.message`).
``PositionFix.raw`` is the frame's wire bytes in hex.

With a :class:`~drivers.gps.jt808.reply.Jt808Platform` the codec also answers: every message
that needs a platform reply gets one in ``DecodeOutcome.replies``, in frame order, addressed to
the device id the uplink topic named (the bridge that published ``<prefix>/<id>/jt808``
listens on ``<prefix>/<id>/jt808/down``), or to the terminal id when there is no topic. A frame
that fails verification gets no reply: its header cannot be trusted. Without a platform (the
``decode`` command, tests) nothing is answered.
"""

from __future__ import annotations

import string
from datetime import datetime

from drivers.gps.base import JT808_PAYLOAD_LIMIT, check_size, identity_mismatch
from drivers.gps.jt808.framing import FrameError, Jt808Framer
from drivers.gps.jt808.location import LocationReport, parse_batch, parse_location, report_record
from drivers.gps.jt808.message import (
    MSG_BATCH,
    MSG_LOCATION,
    Jt808Message,
    check_content,
    declared_length,
    parse_frame,
)
from drivers.gps.jt808.reply import (
    RESULT_BAD_MESSAGE,
    RESULT_OK,
    RESULT_UNSUPPORTED,
    Jt808Platform,
)
from drivers.gps.jt808.subpackets import Reassembly
from gateway.clock import utc
from gateway.errors import DecodeError
from gateway.records import AlarmSignal, DecodeOutcome, Downlink, PositionFix, Rejected

__all__ = ["Jt808Codec", "decode_messages", "payload_bytes", "same_terminal"]

FORMAT_NAME = "jt808"
_HEX = frozenset(string.hexdigits + string.whitespace)

Record = PositionFix | AlarmSignal | Rejected


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

    A payload over :data:`~drivers.gps.base.JT808_PAYLOAD_LIMIT` is refused whole, unread."""
    too_large = check_size(payload, JT808_PAYLOAD_LIMIT)
    if too_large:
        return [], [Rejected(too_large, payload)]
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
    """Codec for JT/T 808 frames (module docstring). ``platform``: answer the terminals."""

    format_name = FORMAT_NAME

    def __init__(self, platform: Jt808Platform | None = None) -> None:
        self._platform = platform
        self._reassembly = Reassembly()

    def decode(
        self, payload: bytes, received_at: datetime, device_hint: str | None = None
    ) -> DecodeOutcome:
        received = utc(received_at)
        messages, rejects = decode_messages(payload)
        records: list[Record] = []
        replies: list[Downlink] = []
        for message in messages:
            if device_hint and not same_terminal(message.header.phone, device_hint):
                reason = identity_mismatch(message.header.phone, device_hint, "frame header")
                records.append(Rejected(reason, message.wire, device_hint))
                continue
            device = device_hint or message.header.phone
            found, result = self._records(message, device, received)
            records.extend(found)
            if self._platform is None:
                continue
            reply, refused = self._platform.answer(
                message, device_hint or message.header.phone, result
            )
            if reply is not None:
                replies.append(reply)
            if refused is not None:
                records.append(refused)
        return DecodeOutcome(
            fixes=tuple(r for r in records if isinstance(r, PositionFix)),
            rejects=(*rejects, *(r for r in records if isinstance(r, Rejected))),
            alarms=tuple(r for r in records if isinstance(r, AlarmSignal)),
            replies=tuple(replies),
        )

    def _records(
        self, message: Jt808Message, device: str, received: datetime
    ) -> tuple[list[Record], int]:
        """``_location_records`` of ``message``, or of the whole message a sub-packaged one
        completes; a packet that completes nothing is acknowledged and gives no record."""
        head = message.header
        if not (head.subpackaged and head.msg_id in (MSG_LOCATION, MSG_BATCH)):
            return _location_records(message, device, received)
        if head.encryption:
            return [
                Rejected("encrypted location message", message.wire, device)
            ], RESULT_UNSUPPORTED
        records: list[Record] = list(self._reassembly.expire(received))
        try:
            whole, pushed_out = self._reassembly.add(device, message, received)
        except DecodeError as exc:
            return [*records, Rejected(exc.reason, message.wire, device)], RESULT_BAD_MESSAGE
        records.extend(pushed_out)
        if whole is None:
            return records, RESULT_OK
        found, result = _location_records(whole, device, received)
        return [*records, *found], result


def same_terminal(terminal_id: str, topic_device: str) -> bool:
    """Whether a header's terminal id is the topic's device: equal, or equal once the topic's
    leading zeros are dropped (the header's id never has any; the topic, the terminal's
    site-file id, may keep the 12-digit BCD form)."""
    return terminal_id in (topic_device, topic_device.lstrip("0"))


def _location_records(
    message: Jt808Message, device: str, received: datetime
) -> tuple[list[Record], int]:
    """The records of one verified message of ``device`` (none for non-location messages),
    and the result a general reply gives it: refused as unsupported or unreadable, or handled."""
    head = message.header
    if head.msg_id not in (MSG_LOCATION, MSG_BATCH):
        return [], RESULT_OK
    if head.encryption:
        return [Rejected("encrypted location message", message.wire, device)], RESULT_UNSUPPORTED
    results: list[Record] = []
    reports: list[tuple[LocationReport, bytes]] = []
    try:
        if head.msg_id == MSG_LOCATION:
            reports.append((parse_location(message.body), message.body))
        else:
            batch = parse_batch(message.body)
            for item, chunk in zip(batch.items, batch.item_bytes, strict=True):
                if isinstance(item, DecodeError):
                    results.append(Rejected(f"batch item: {item.reason}", chunk, device))
                else:
                    reports.append((item, chunk))
            if batch.error:
                results.append(Rejected(f"batch: {batch.error}", message.wire, device))
    except DecodeError as exc:
        return [Rejected(exc.reason, message.wire, device)], RESULT_BAD_MESSAGE
    raw = message.wire.hex()
    for report, chunk in reports:
        results.append(
            report_record(
                report,
                device_id=device,
                received_at=received,
                source_format=FORMAT_NAME,
                raw=raw,
                raw_bytes=chunk,
            )
        )
    return results, RESULT_OK
