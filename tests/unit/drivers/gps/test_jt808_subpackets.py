"""A sub-packaged 0x0704 batch upload (properties bit 13) is reassembled, not refused
(``drivers.gps.jt808.subpackets``).

The corpus has no sub-packaged location message (its one valid sub-packaged frame is go-jt808's
0x0801, which gives no record); the packets here are cut by hand from a batch the simulator
encodes (``fwsim.gps.jt808.subpackaged_frames``), with the header JT/T 808-2013 section 4.4.3
describes (total and number after the serial, consecutive serials).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.reply import Jt808Platform
from fwsim.gps import jt808 as sim
from fwsim.gps.jt808_login import parse_platform_reply
from tests.unit.drivers.gps.corpus_data import RECEIVED

PHONE = "13800000001"
START = datetime(2026, 3, 2, 0, 0, tzinfo=RECEIVED.tzinfo)


def batch(minutes: int, start: datetime = START) -> bytes:
    """A 0x0704 body (type 1, blind area) of one located fix a minute from ``start``."""
    return sim.batch_body(
        [
            sim.LocationBody(
                alarm=0,
                status=0x2,  # located
                lat_e6=30_592_800 + m,
                lon_e6=114_305_500,
                altitude_m=20,
                speed_0_1kmh=0,
                direction_deg=0,
                time=start + timedelta(minutes=m),
            )
            for m in range(minutes)
        ],
        1,
    )


def packets(body: bytes, parts: int, first_serial: int = 40) -> list[bytes]:
    """``body`` cut into ``parts`` sub-packaged 0x0704 frames of ``PHONE``, in order."""
    phone = sim.bcd_phone(PHONE)
    return sim.subpackaged_frames(sim.MSG_BATCH_LOCATION, phone, first_serial, body, parts)


def test_packets_in_two_payloads_give_the_whole_batch_once_each_packet_acknowledged() -> None:
    codec = Jt808Codec(Jt808Platform(b"secret"))
    one, two, three = packets(batch(40), 3)
    first = codec.decode(one + two, RECEIVED, PHONE)
    assert (first.fixes, first.rejects) == ((), ())
    last = codec.decode(three, RECEIVED, PHONE)
    assert last.rejects == ()
    assert [f.fix_time for f in last.fixes] == [START + timedelta(minutes=m) for m in range(40)]
    assert last.fixes[0].raw == (one + two + three).hex()
    replies = [parse_platform_reply(d.payload) for d in (*first.replies, *last.replies)]
    assert [(r.reply_serial, r.reply_msg_id, r.result) for r in replies] == [
        (40, 0x0704, 0),
        (41, 0x0704, 0),
        (42, 0x0704, 0),
    ]


def test_packets_out_of_order_or_sent_twice_are_reassembled_once() -> None:
    codec = Jt808Codec()
    one, two = packets(batch(30), 2)
    assert codec.decode(two, RECEIVED, PHONE).fixes == ()
    assert codec.decode(two, RECEIVED, PHONE).fixes == ()  # a retransmission
    assert len(codec.decode(one, RECEIVED, PHONE).fixes) == 30
    assert codec.decode(one, RECEIVED, PHONE).fixes == ()  # a new message begins: waits


def test_two_messages_of_one_terminal_are_told_apart_by_their_serials() -> None:
    codec = Jt808Codec()
    early = packets(batch(30), 2, first_serial=10)
    late = packets(batch(30, START + timedelta(hours=1)), 2, first_serial=12)
    outcome = codec.decode(early[0] + late[0] + late[1] + early[1], RECEIVED, PHONE)
    assert outcome.rejects == ()
    assert sorted(f.fix_time.hour for f in outcome.fixes) == [0] * 30 + [1] * 30


def test_a_message_not_whole_in_ten_minutes_is_refused_with_the_packets_that_came() -> None:
    codec = Jt808Codec()
    one, _two = packets(batch(30), 2)
    codec.decode(one, RECEIVED, PHONE)
    other = packets(batch(30), 2, first_serial=90)[0]
    outcome = codec.decode(other, RECEIVED + timedelta(minutes=11), PHONE)
    assert outcome.fixes == ()
    assert [(r.reason, r.raw, r.device_id) for r in outcome.rejects] == [
        (
            "sub-packaged message incomplete: 0x0704, 1 of 2 packets (timed out)",
            one,
            PHONE,
        )
    ]


def test_a_packet_numbered_past_its_total_is_refused_and_answered_bad_message() -> None:
    codec = Jt808Codec(Jt808Platform(b"secret"))
    (frame,) = packets(batch(2), 1)
    content = bytearray(sim_unescaped(frame))
    content[14:16] = (2).to_bytes(2, "big")  # packet 2 of 1
    bad = b"\x7e" + sim.escape(bytes(content[:-1]) + bytes([sim.xor_check(bytes(content[:-1]))]))
    outcome = codec.decode(bad + b"\x7e", RECEIVED, PHONE)
    assert [r.reason for r in outcome.rejects] == [
        "sub-packaged message: packet 2 of 1 (at most 64)"
    ]
    (reply,) = [parse_platform_reply(d.payload) for d in outcome.replies]
    assert reply.result == 2


def sim_unescaped(frame: bytes) -> bytes:
    """The content and check code of a frame (between the flags, unescaped)."""
    return frame[1:-1].replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
