"""Terminal ids and header layouts as current terminals send them: BCD phones (2013 and 2019
headers) and vendors' binary IMEIs, checked against traccar's real-device frames
(tests/corpus/jt808_traccar_frames.json) and go-jt808's/SmallChi's vectors."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from drivers.gps.jt808.codec import decode_messages
from drivers.gps.jt808.location import parse_batch
from drivers.gps.jt808.message import luhn_digit, parse_authentication, parse_registration
from tests.unit.drivers.gps.corpus_data import FRAMES, load_json

TRACCAR: dict[str, dict[str, Any]] = load_json("jt808_traccar_frames.json")["frames"]


def _message(frame_hex: str) -> Any:
    messages, rejects = decode_messages(bytes.fromhex(frame_hex))
    assert rejects == []
    (message,) = messages
    return message


def test_every_traccar_frame_is_a_verified_message() -> None:
    for name, frame in TRACCAR.items():
        assert _message(frame["frame_hex"]).wire == bytes.fromhex(frame["frame_hex"]), name


def test_binary_imei_in_the_phone_field_becomes_the_imei_as_traccar_reads_it() -> None:
    frame = TRACCAR["non-bcd-id"]
    message = _message(frame["frame_hex"])
    # The terminal says who it is in its own auth code too: base64 of "<IMEI>newSnRule".
    code = parse_authentication(message).auth_code
    imei = base64.b64decode(code).decode("ascii")[:15]
    assert message.header.phone == imei == "868935060005020"
    assert message.header.phone_field == bytes.fromhex("4f07788ef676")


def test_luhn_digit_completes_imeis() -> None:
    # 868935060005020 from the frame above; 490154203237518 is the worked example of the
    # check-digit computation in Wikipedia's "International Mobile Equipment Identity".
    assert luhn_digit(86893506000502) == 0
    assert luhn_digit(49015420323751) == 8


def test_bcd_phones_keep_their_digits_without_leading_zeros() -> None:
    assert _message(FRAMES[26]["frame_hex"]).header.phone == "123456789"  # BCD 000123456789
    assert _message(FRAMES[21]["frame_hex"]).header.phone == "40021679287"  # BCD 040021679287
    head = _message(TRACCAR["eb-a8-76"]["frame_hex"]).header
    assert (head.phone, head.phone_field.hex()) == ("9590001944", "009590001944")


@pytest.mark.parametrize("name", ["2019-register", "2019-batch"])
def test_2019_header_has_version_byte_and_ten_byte_bcd_phone(name: str) -> None:
    head = _message(TRACCAR[name]["frame_hex"]).header
    assert head.version_2019
    assert head.protocol_version == 1
    assert head.phone_field.hex() == "00000866496077582164"
    assert head.phone == "866496077582164"


def test_2019_registration_body_uses_the_2019_field_sizes() -> None:
    registration = parse_registration(_message(TRACCAR["2019-register"]["frame_hex"]))
    assert registration.terminal_model == "MD300"
    assert registration.terminal_id == "866496077582164"


def test_2019_batch_item_carries_the_satellites_traccar_asserts() -> None:
    frame = TRACCAR["2019-batch"]
    (item,) = parse_batch(_message(frame["frame_hex"]).body).items
    assert not isinstance(item, Exception)
    assert item.satellites == frame["traccar_asserts"]["value"] == 14
