"""Attendance records, packed times and live events, per the published layouts.

Byte strings here are written by hand from the layouts in adrobinoga/zk-protocol
(``sections/data-record.md``, ``sections/data-user.md``, ``sections/realtime.md``) and pyzk's
``get_attendance`` / ``get_users`` / ``live_capture``; the packed time of 2026-02-07 07:35:52
(the K50 sample's time in the corpus) is worked out from the documented formula:
((26 * 12 * 31) + (2 - 1) * 31 + (7 - 1)) * 86400 + (7 * 60 + 35) * 60 + 52 = 838884952
= 0x32005e58.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from drivers.zkteco.binary_records import (
    attendance_record_size,
    decode_attendance_buffer,
    decode_live_event,
    decode_time,
    decode_time6,
    decode_user_table,
)
from gateway.errors import DecodeError

K50_TIME = datetime(2026, 2, 7, 7, 35, 52)
K50_PACKED = bytes.fromhex("585e0032")

# 40-byte record: uid 3, user id "1", verify 1 (finger), time, punch 0, 8 reserved bytes.
RECORD_40 = "0300" + "31" + "00" * 23 + "01" + K50_PACKED.hex() + "00" + "00000000ff000000"
# 16-byte record: user 1001, time, verify 4 (card), punch 2 (break-out), reserved, workcode 7.
RECORD_16 = "e9030000" + K50_PACKED.hex() + "04" + "02" + "0000" + "07000000"
# 8-byte record: uid 12, verify 0, time, punch 1.
RECORD_8 = "0c00" + "00" + K50_PACKED.hex() + "01"
# 28-byte user (older firmware): uid 12, privilege 0, 5-byte password, 8-byte name "wang", card
# 0, reserved, group 1, time zone 0, user id 1002 as a u32.
USER_28 = "0c00" + "00" + "00" * 5 + b"wang".hex() + "00" * 4 + "00000000" + "00" + "01" + "0000"
USER_28 += "ea030000"
# 72-byte user (TFT): uid 12, privilege 0, 8-byte password, 24-byte name "wang", card 0, the
# 9 fixed bytes (01, zeros), user id "1002" as 24 bytes of text.
USER_72 = "0c00" + "00" + "00" * 8 + b"wang".hex() + "00" * 20 + "00000000" + "01" + "00" * 8
USER_72 += b"1002".hex() + "00" * 20


def _packed(when: datetime) -> int:
    """The published formula (pyzk's ``__encode_time``), written out for the edge cases."""
    days = (when.year % 100) * 12 * 31 + (when.month - 1) * 31 + (when.day - 1)
    return days * 86400 + (when.hour * 60 + when.minute) * 60 + when.second


def test_packed_time_formula_on_the_corpus_time() -> None:
    assert struct.unpack("<I", K50_PACKED)[0] == 838884952
    assert decode_time(838884952) == K50_TIME


def test_packed_time_decodes_month_and_year_edges() -> None:
    for when in (
        datetime(2000, 1, 1, 0, 0, 0),
        datetime(2024, 2, 29, 23, 59, 59),
        datetime(2099, 12, 31, 12, 0, 1),
    ):
        assert decode_time(_packed(when)) == when


def test_packed_time_of_a_day_that_does_not_exist_is_refused() -> None:
    thirty_first_of_april = ((26 * 12 + 3) * 31 + 30) * 86400
    with pytest.raises(DecodeError):
        decode_time(thirty_first_of_april)


def test_six_byte_event_time() -> None:
    assert decode_time6(bytes((26, 2, 7, 7, 35, 52))) == K50_TIME
    with pytest.raises(DecodeError):
        decode_time6(bytes((26, 13, 7, 7, 35, 52)))


def _buffer(*records_hex: str) -> bytes:
    body = bytes.fromhex("".join(records_hex))
    return struct.pack("<I", len(body)) + body


def test_40_byte_records_decode_user_verify_and_punch() -> None:
    records, errors = decode_attendance_buffer(_buffer(RECORD_40, RECORD_40), record_count=2)
    assert errors == []
    assert len(records) == 2
    first = records[0]
    assert (first.uid, first.user_id, first.verify, first.punch) == (3, "1", 1, 0)
    assert first.timestamp == K50_TIME


def test_16_byte_records_decode_with_the_workcode() -> None:
    (record,), errors = decode_attendance_buffer(_buffer(RECORD_16), record_count=1)
    assert errors == []
    assert (record.user_id, record.verify, record.punch, record.workcode) == ("1001", 4, 2, 7)
    assert record.timestamp == K50_TIME


def test_8_byte_records_name_the_pin_the_user_table_gives_their_number() -> None:
    buffer = _buffer(RECORD_8, RECORD_8, RECORD_8)
    assert attendance_record_size(buffer, 3) == 8
    records, _ = decode_attendance_buffer(buffer, record_count=3, pins={12: "1002"})
    assert [(r.user_id, r.uid, r.verify, r.punch) for r in records] == [("1002", 12, 0, 1)] * 3


def test_an_8_byte_record_whose_number_is_not_in_the_table_is_never_read_as_a_pin() -> None:
    (record,), errors = decode_attendance_buffer(_buffer(RECORD_8), 1, pins={1: "12"})
    assert errors == []
    assert (record.user_id, record.uid) == ("uid:12", 12)
    (record,), _ = decode_attendance_buffer(_buffer(RECORD_8), 1)
    assert record.user_id == "uid:12"


@pytest.mark.parametrize("entry", [USER_28, USER_72])
def test_user_table_maps_internal_numbers_to_pins(entry: str) -> None:
    assert len(bytes.fromhex(entry)) in (28, 72)
    other = "0d00" + entry[4:].replace(b"1002".hex(), b"1003".hex()).replace("ea03", "eb03")
    assert decode_user_table(_buffer(entry, other), user_count=2) == {12: "1002", 13: "1003"}
    assert decode_user_table(_buffer(entry, other)) == {12: "1002", 13: "1003"}


def test_user_table_layout_holds_when_a_user_is_enrolled_between_the_two_reads() -> None:
    # 18 entries of 28 bytes are 504 bytes, also 7 entries of 72: the free-sizes count (17,
    # read just before an enrolment) decides.
    entries = [struct.pack("<H", uid).hex() + USER_28[4:] for uid in range(1, 19)]
    pins = decode_user_table(_buffer(*entries), user_count=17)
    assert sorted(pins) == list(range(1, 19))


def test_user_table_entry_without_a_user_id_maps_its_number_to_a_blank_id() -> None:
    # Blank, not left out (its records would read uid:<n>) nor "0" (the guard whose PIN is 0).
    blank = USER_72[:96] + "00" * 24
    (uid,) = decode_user_table(_buffer(USER_72), user_count=1)
    assert decode_user_table(_buffer(blank), user_count=1) == {uid: ""}
    assert decode_user_table(b"\x00\x00") == {}


def test_record_size_is_guessed_when_the_count_is_unknown() -> None:
    (record,), _ = decode_attendance_buffer(_buffer(RECORD_40))
    assert record.user_id == "1"


def test_a_record_with_an_impossible_time_is_reported_and_the_rest_kept() -> None:
    thirty_first_of_april = struct.pack("<I", ((26 * 12 + 3) * 31 + 30) * 86400)
    bad = RECORD_16[:8] + thirty_first_of_april.hex() + RECORD_16[16:]
    records, errors = decode_attendance_buffer(_buffer(RECORD_16, bad, RECORD_16), 3)
    assert len(records) == 2
    assert len(errors) == 1


def test_live_event_36_bytes_with_text_user_id() -> None:
    payload = b"2001".ljust(24, b"\x00") + bytes((15, 3)) + bytes((26, 2, 7, 7, 35, 52)) + bytes(4)
    (record,), errors = decode_live_event(payload)
    assert errors == []
    assert (record.user_id, record.verify, record.punch, record.timestamp) == (
        "2001",
        15,
        3,
        K50_TIME,
    )


def test_live_event_12_bytes_with_numeric_user_id() -> None:
    payload = struct.pack("<IBB", 77, 4, 1) + bytes((26, 2, 7, 7, 35, 52))
    (record,), _ = decode_live_event(payload)
    assert (record.user_id, record.verify, record.punch) == ("77", 4, 1)


def test_live_event_of_unknown_length_is_an_error_not_a_crash() -> None:
    records, errors = decode_live_event(bytes(23))
    assert records == []
    assert len(errors) == 1


def test_two_live_events_in_one_packet_are_both_decoded() -> None:
    one = b"7".ljust(24, b"\x00") + bytes((1, 0)) + bytes((26, 2, 7, 7, 35, 52)) + bytes(4)
    two = b"8".ljust(24, b"\x00") + bytes((1, 1)) + bytes((26, 2, 7, 7, 36, 0)) + bytes(4)
    records, errors = decode_live_event(one + two)
    assert errors == []
    assert [(r.user_id, r.punch) for r in records] == [("7", 0), ("8", 1)]
