"""Sub-packaged JT/T 808 location messages (properties bit 13), kept until they are whole.

JT/T 808-2013 section 4.4.3 (unchanged in 2019): a message too long for one frame is split into
packets, each a frame of its own whose header carries the packet total and its number (1 to
total); the packets' serial numbers are consecutive, so the first packet's serial is
``serial - (number - 1)``. A 0x0704 batch upload (positions stored in a blind area) is the
location message that needs it. The packets may come in one MQTT payload or in several.

The packets of one message (same device, message id, total and first serial) are kept until all
have come; their bodies, in packet order, are the message's body, decoded as one unsplit
message whose ``wire`` is the packets' frames one after the other (the evidence). A packet sent
again replaces the first copy. Refused, each a counted reject of the device:

* a packet whose number is 0 or above its total, or a total above :data:`MAX_PACKETS`
  (``sub-packaged message: ...``);
* a message still not whole :data:`MAX_AGE` after its first packet came (checked whenever a
  packet comes), or pushed out by newer ones past :data:`MAX_PENDING` messages in all
  (``sub-packaged message incomplete: ...``): the packets that came are the reject's bytes.

Sans-I/O like the codec: the time is the packets' ``received_at``. One instance per ingest
stream, as the codec's (a terminal's packets reach one stream: partitions go by device).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from drivers.gps.jt808.message import Jt808Message
from gateway.errors import DecodeError
from gateway.records import Rejected

__all__ = ["MAX_AGE", "MAX_PACKETS", "MAX_PENDING", "Reassembly"]

MAX_PACKETS = 64
"""Most packets one message may have: 64 bodies of at most 1023 bytes hold ~2,000 positions,
far more than a day in a blind area at one fix a minute."""
MAX_AGE = timedelta(minutes=10)
"""How long the packets of an incomplete message are kept after the first came."""
MAX_PENDING = 1024
"""Most incomplete messages kept in all; past it the oldest is given up."""

_Key = tuple[str, int, int, int]  # device, message id, total, first serial


@dataclass
class _Pending:
    first_received: datetime
    packets: dict[int, Jt808Message] = field(default_factory=dict)


class Reassembly:
    """The incomplete sub-packaged messages of one ingest stream (module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[_Key, _Pending] = {}

    def expire(self, now: datetime) -> list[Rejected]:
        """Give up the messages not whole :data:`MAX_AGE` after their first packet came."""
        expired = [k for k, p in self._pending.items() if now - p.first_received > MAX_AGE]
        return [_given_up(k, self._pending.pop(k), "timed out") for k in expired]

    def add(
        self, device: str, packet: Jt808Message, received: datetime
    ) -> tuple[Jt808Message | None, list[Rejected]]:
        """Keep ``packet``; return the whole message when it was the last one missing, and the
        rejects of messages given up to make room. Raises :class:`DecodeError` for a packet
        that cannot belong to any message (its number or total)."""
        head = packet.header
        total, number = head.packet_total or 0, head.packet_no or 0
        if not 1 <= total <= MAX_PACKETS or not 1 <= number <= total:
            raise DecodeError(
                f"sub-packaged message: packet {number} of {total} (at most {MAX_PACKETS})"
            )
        key = (device, head.msg_id, total, (head.serial - (number - 1)) & 0xFFFF)
        rejects: list[Rejected] = []
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                oldest = next(iter(self._pending))
                rejects.append(_given_up(oldest, self._pending.pop(oldest), "too many pending"))
            pending = self._pending[key] = _Pending(received)
        pending.packets[number] = packet
        if len(pending.packets) < total:
            return None, rejects
        del self._pending[key]
        return _whole(pending, total), rejects


def _whole(pending: _Pending, total: int) -> Jt808Message:
    packets = [pending.packets[n] for n in range(1, total + 1)]
    body = b"".join(p.body for p in packets)
    header = replace(
        packets[0].header,
        subpackaged=False,
        body_length=len(body),
        packet_total=None,
        packet_no=None,
    )
    return Jt808Message(header, body, b"".join(p.wire for p in packets))


def _given_up(key: _Key, pending: _Pending, why: str) -> Rejected:
    device, msg_id, total, _ = key
    wire = b"".join(pending.packets[n].wire for n in sorted(pending.packets))
    reason = (
        f"sub-packaged message incomplete: 0x{msg_id:04x}, {len(pending.packets)} of {total} "
        f"packets ({why})"
    )
    return Rejected(reason, wire, device)
