"""Platform replies built by ``reply_for`` / ``registration_reply`` equal the corpus's platform
frames byte for byte (go-jt808's and SmallChi's 0x8001 and 0x8100 vectors)."""

from __future__ import annotations

from drivers.gps.jt808.message import Header, Jt808Message, parse_frame
from drivers.gps.jt808.reply import RESULT_OK, registration_reply, reply_for
from tests.unit.drivers.gps.corpus_data import FRAMES


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
    assert reply_for(received, serial=10, result=body["result"]).hex() == FRAMES[22]["frame_hex"]


def test_general_reply_to_a_heartbeat_equals_go_jt808_0x8001() -> None:
    body = FRAMES[0]["expected"]["body"]
    received = _received(int(body["reply_msg_id"], 16), "012345678901", body["reply_serial"])
    assert reply_for(received, serial=0).hex() == FRAMES[0]["frame_hex"]


def test_registration_reply_with_auth_code_equals_smallchi_0x8100() -> None:
    body = FRAMES[23]["expected"]["body"]
    received = _received(0x0100, "012345678900", body["reply_serial"])
    reply = registration_reply(received, body["auth_code"], serial=10, result=RESULT_OK)
    assert reply.hex() == FRAMES[23]["frame_hex"]


def test_registration_refusal_carries_no_auth_code_as_in_smallchi() -> None:
    body = FRAMES[24]["expected"]["body"]
    received = _received(0x0100, "012345678900", body["reply_serial"])
    assert (
        registration_reply(received, "ignored", serial=10, result=4).hex()
        == FRAMES[24]["frame_hex"]
    )


def test_reply_to_a_2019_terminal_uses_the_2019_header_and_its_phone() -> None:
    frame = bytes.fromhex(FRAMES[3]["frame_hex"])  # go-jt808 2019 heartbeat
    received = parse_frame(frame[1:-1], frame)
    reply = reply_for(received, serial=7)
    parsed = parse_frame(reply[1:-1], reply)
    assert parsed.header.version_2019
    assert parsed.header.phone_field == received.header.phone_field
    assert parsed.body == received.header.serial.to_bytes(2, "big") + b"\x00\x02\x00"


def test_reply_escapes_a_check_code_of_0x7e() -> None:
    # SmallChi's heartbeat whose own check code is 0x7e; the reply must never carry a bare 7e.
    frame = bytes.fromhex(FRAMES[21]["frame_hex"])
    received = parse_frame(bytes.fromhex("00020000040021679287002b7e"), frame)
    for serial in range(256):
        reply = reply_for(received, serial=serial)
        assert b"\x7e" not in reply[1:-1]
