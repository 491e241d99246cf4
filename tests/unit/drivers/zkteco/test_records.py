"""Attendance records, packed times and live events, per the published layouts.

Byte strings here are written by hand from the layouts in adrobinoga/zk-protocol
(``sections/data-record.md``, ``sections/realtime.md``) and pyzk's ``get_attendance`` /
``live_capture``; the packed time of 2026-02-07 07:35:52 (the K50 sample's time in the corpus)
is worked out from the documented formula:
((26 * 12 * 31) + (2 - 1) * 31 + (7 - 1)) * 86400 + (7 * 60 + 35) * 60 + 52 = 838884952
= 0x32005e58.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from drivers.zkteco.binary_records import (
    decode_attendance_buffer,
    decode_live_event,
    decode_time,
    decode_time6,
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


def test_8_byte_records_decode_with_the_user_number() -> None:
    records, _ = decode_attendance_buffer(_buffer(RECORD_8, RECORD_8, RECORD_8), record_count=3)
    assert [(r.user_id, r.verify, r.punch) for r in records] == [("12", 0, 1)] * 3


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
