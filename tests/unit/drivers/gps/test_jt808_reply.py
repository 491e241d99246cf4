"""Platform replies: the frames equal the corpus's platform vectors byte for byte (go-jt808's
and SmallChi's 0x8001 and 0x8100), and the codec with a platform answers each terminal message
as drivers/gps/jt808/reply.py says. Replies are read back with firmware-sim's parser, written
apart from the builders under test."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from drivers.gps.jt808.codec import Jt808Codec
from drivers.gps.jt808.message import Header, Jt808Message, parse_frame
from drivers.gps.jt808.reply import Jt808Platform, general_reply, registration_reply
from fwsim.gps import jt808 as sim
from fwsim.gps.jt808_login import PlatformReply, parse_platform_reply
from gateway.records import DecodeOutcome
from tests.unit.drivers.gps.corpus_data import FRAMES, RECEIVED, load_json

TRACCAR: dict[str, dict[str, Any]] = load_json("jt808_traccar_frames.json")["frames"]
SECRET = b"unit-test secret"


def _received(msg_id: int, phone_field_hex: str, serial: int) -> Jt808Message:
    phone_field = bytes.fromhex(phone_field_hex)
    header = Header(
        msg_id=msg_id,
        body_length=0,
        encryption=0,
        subpackaged=False,
        version_2019=False,
        protocol_version=None,
        phone=phone_field.hex().lstrip("0"),
        phone_field=phone_field,
        serial=serial,
    )
    return Jt808Message(header=header, body=b"", wire=b"")


def test_general_reply_to_a_location_report_equals_smallchi_0x8001() -> None:
    body = FRAMES[22]["expected"]["body"]
    received = _received(int(body["reply_msg_id"], 16), "012345678900", body["reply_serial"])
    assert general_reply(received, 10, body["result"]).hex() == FRAMES[22]["frame_hex"]


def test_general_reply_to_a_heartbeat_equals_go_jt808_0x8001() -> None:
    body = FRAMES[0]["expected"]["body"]
    received = _received(int(body["reply_msg_id"], 16), "012345678901", body["reply_serial"])
    assert general_reply(received, 0).hex() == FRAMES[0]["frame_hex"]


def test_registration_reply_with_auth_code_equals_smallchi_0x8100() -> None:
    body = FRAMES[23]["expected"]["body"]
    received = _received(0x0100, "012345678900", body["reply_serial"])
    assert registration_reply(received, body["auth_code"], 10).hex() == FRAMES[23]["frame_hex"]


def test_reply_escapes_a_check_code_of_0x7e() -> None:
    # SmallChi's heartbeat whose own check code is 0x7e; the reply must never carry a bare 7e.
    frame = bytes.fromhex(FRAMES[21]["frame_hex"])
    received = parse_frame(bytes.fromhex("00020000040021679287002b7e"), frame)
    for serial in range(256):
        reply = general_reply(received, serial)
        assert b"\x7e" not in reply[1:-1]
        assert parse_platform_reply(reply).serial == serial


def _answer(frame_hex: str, hint: str | None = None, platform: Jt808Platform | None = None) -> Any:
    codec = Jt808Codec(platform or Jt808Platform(SECRET))
    return codec.decode(bytes.fromhex(frame_hex), RECEIVED, hint)


def _reply(outcome: DecodeOutcome) -> PlatformReply:
    (downlink,) = outcome.replies
    assert downlink.channel == "jt808"
    return parse_platform_reply(downlink.payload)


def test_registration_gets_0x8100_with_the_terminals_derived_auth_code() -> None:
    frame = FRAMES[33]  # real 0x0100 from 14130567872, serial 36
    outcome = _answer(frame["frame_hex"], "14130567872")
    reply = _reply(outcome)
    assert (reply.msg_id, reply.result, reply.reply_serial) == (0x8100, 0, 36)
    assert reply.auth_code == Jt808Platform(SECRET).auth_code("14130567872")
    assert reply.auth_code is not None and len(reply.auth_code) == 16
    assert reply.phone.hex() == "014130567872"
    assert outcome.replies[0].device_id == "14130567872"
    assert (outcome.fixes, outcome.rejects, outcome.alarms) == ((), (), ())


def test_auth_codes_depend_on_the_secret_and_the_terminal() -> None:
    one, other = Jt808Platform(SECRET), Jt808Platform(b"another gateway")
    assert one.auth_code("14130567872") == Jt808Platform(SECRET).auth_code("14130567872")
    assert one.auth_code("14130567872") != one.auth_code("14130567873")
    assert one.auth_code("14130567872") != other.auth_code("14130567872")
    with pytest.raises(ValueError, match="empty"):
        Jt808Platform(b"")


def test_a_key_of_this_process_only_warns_once_when_it_first_gives_a_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    platform = Jt808Platform(b"random", ephemeral=True)
    with caplog.at_level(logging.WARNING, logger="drivers.gps.jt808.reply"):
        platform.auth_code("1")
        platform.auth_code("2")
    assert [r.message for r in caplog.records if "register again" in r.message] != []
    assert len(caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="drivers.gps.jt808.reply"):
        Jt808Platform(SECRET).auth_code("1")
    assert caplog.records == []


def test_authentication_with_the_issued_code_is_accepted() -> None:
    platform = Jt808Platform(SECRET)
    code = platform.auth_code("13511221122")
    frame = sim.build_frame(
        sim.MSG_AUTHENTICATION, sim.bcd_phone("13511221122"), 42, sim.authentication_body(code)
    )
    outcome = Jt808Codec(platform).decode(frame, RECEIVED)
    reply = _reply(outcome)
    assert (reply.msg_id, reply.reply_msg_id, reply.reply_serial) == (0x8001, 0x0102, 42)
    assert reply.result == 0
    assert outcome.rejects == ()


@pytest.mark.parametrize("name", ["auth-2013-text", "non-bcd-id"])
def test_authentication_with_another_platforms_code_fails_and_is_rejected(name: str) -> None:
    frame = TRACCAR[name]
    outcome = _answer(frame["frame_hex"])
    reply = _reply(outcome)
    assert (reply.msg_id, reply.reply_msg_id, reply.result) == (0x8001, 0x0102, 1)
    (reject,) = outcome.rejects
    assert reject.reason.startswith("jt808 authentication failed: wrong auth code")
    assert reject.raw == bytes.fromhex(frame["frame_hex"])


def test_reply_to_a_binary_imei_terminal_echoes_its_phone_field() -> None:
    outcome = _answer(TRACCAR["non-bcd-id"]["frame_hex"])
    assert _reply(outcome).phone.hex() == "4f07788ef676"
    assert outcome.replies[0].device_id == "868935060005020"


@pytest.mark.parametrize("index", [19, 20, 34, 36])
def test_location_reports_batches_and_heartbeats_get_0x8001_result_0(index: int) -> None:
    frame = FRAMES[index]
    message_id = int(frame["frame_hex"][2:6], 16)
    serial = int(frame["frame_hex"][22:26], 16)
    reply = _reply(_answer(frame["frame_hex"]))
    assert (reply.msg_id, reply.reply_msg_id, reply.reply_serial, reply.result) == (
        0x8001,
        message_id,
        serial,
        0,
    )


def test_2019_terminal_gets_a_2019_reply_with_its_ten_byte_phone() -> None:
    frame = TRACCAR["2019-batch"]
    reply = _reply(_answer(frame["frame_hex"]))
    assert reply.version_2019
    assert reply.phone.hex() == "00000866496077582164"
    assert (reply.reply_msg_id, reply.result) == (0x0704, 0)
    # The protocol version byte (after id and properties) is the terminal's: 1.
    assert bytes.fromhex(frame["frame_hex"])[5] == _answer(frame["frame_hex"]).replies[0].payload[5]


def test_a_location_packet_is_acknowledged_as_it_comes_and_broken_frames_not_at_all() -> None:
    # go-jt808's valid sub-packaged 0x0801 (not a location): no reply; its corrupt twin: none.
    assert _answer(FRAMES[11]["frame_hex"]).replies == ()
    assert _answer(FRAMES[12]["frame_hex"]).replies == ()
    # Hand-made: packet 1 of 2 of a sub-packaged 0x0200 is kept for reassembly and acknowledged.
    content = (
        bytes.fromhex("0200")
        + (0x2000 | 28).to_bytes(2, "big")  # sub-packaged, 28-byte body
        + sim.bcd_phone("13800000001")
        + bytes.fromhex("000500020001")  # serial 5, packet 1 of 2
        + bytes(28)
    )
    wire = b"\x7e" + sim.escape(content + bytes([sim.xor_check(content)])) + b"\x7e"
    outcome = _answer(wire.hex())
    assert (outcome.fixes, outcome.rejects) == ((), ())
    reply = _reply(outcome)
    assert (reply.reply_msg_id, reply.result) == (0x0200, 0)


def test_unreadable_location_body_is_answered_bad_message() -> None:
    # Hand-made error path: a 0x0200 whose body is 10 bytes, shorter than the 28-byte base.
    frame = sim.build_frame(sim.MSG_LOCATION, sim.bcd_phone("13800000001"), 6, bytes(10))
    outcome = _answer(frame.hex())
    assert _reply(outcome).result == 2
    assert outcome.rejects[0].reason.startswith("location body too short")


def test_flow_numbers_count_per_terminal_and_replies_follow_frame_order() -> None:
    platform = Jt808Platform(SECRET)
    both = bytes.fromhex(
        FRAMES[34]["frame_hex"] + FRAMES[36]["frame_hex"] + FRAMES[34]["frame_hex"]
    )
    outcome = Jt808Codec(platform).decode(both, RECEIVED)
    replies = [parse_platform_reply(d.payload) for d in outcome.replies]
    assert [(r.reply_msg_id, r.serial) for r in replies] == [(0x0002, 0), (0x0200, 0), (0x0002, 1)]
    assert [d.device_id for d in outcome.replies] == ["43048325465", "1601285614", "43048325465"]


def test_topic_id_names_the_downlink_and_no_platform_means_no_reply() -> None:
    frame = FRAMES[36]["frame_hex"]
    assert _answer(frame, "001601285614").replies[0].device_id == "001601285614"
    assert Jt808Codec().decode(bytes.fromhex(frame), RECEIVED).replies == ()
