"""Offline patrol wands: a downloaded batch, its clock skew corrected, duplicates dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import DecodeError
from gateway.records import TagTechnology
from gateway.wand import WandImport, WandRecord, import_wand_batch, parse_wand_csv, wand_record_key

# The wand's clock runs 4 min 30 s slow: at the download it shows 07:55:30 local (Wuhan) while
# the gateway's clock says 08:00:00 local = 00:00:00 UTC.
GATEWAY_AT_DOWNLOAD = datetime(2026, 3, 3, 0, 0, 0, tzinfo=UTC)
WAND_AT_DOWNLOAD = datetime(2026, 3, 3, 7, 55, 30)

BATCH = """wand_id,tag_id,time
wand-01,04:a2:24:1a:6b:1c:80,2026-03-02T21:05:33
wand-01,0100ABCDEF,2026-03-02 21:11:02

# second round
wand-01,12:3456,2026-03-02T22:05:00
wand-01,0100ABCDEF,2026-03-02 21:11:02
"""


def imported(text: str = BATCH, known: frozenset[str] = frozenset()) -> WandImport:
    records, problems = parse_wand_csv(text)
    assert problems == []
    return import_wand_batch(
        records,
        wand_id="wand-01",
        wand_clock_at_download=WAND_AT_DOWNLOAD,
        gateway_clock_at_download=GATEWAY_AT_DOWNLOAD,
        timezone="Asia/Shanghai",
        known_keys=known,
    )


def test_skew_is_gateway_minus_wand_and_corrects_every_time() -> None:
    result = imported()
    assert result.skew_s == 270.0
    first = result.scans[0]
    # 21:05:33 local = 13:05:33 UTC, plus 4 min 30 s.
    assert first.scanned_at == datetime(2026, 3, 2, 13, 10, 3, tzinfo=UTC)
    assert first.received_at == GATEWAY_AT_DOWNLOAD
    assert first.reader_id == "wand-01"
    assert first.tag_id == "04A2241A6B1C80"
    assert first.source_format == "wand"
    assert first.raw == "wand-01,04A2241A6B1C80,2026-03-02T21:05:33"


def test_tags_are_normalised_and_their_technology_guessed_from_the_form() -> None:
    result = imported()
    assert [(s.tag_id, s.technology) for s in result.scans] == [
        ("04A2241A6B1C80", TagTechnology.OTHER),
        ("0100ABCDEF", TagTechnology.EM4100),
        ("12:3456", TagTechnology.WIEGAND),
    ]


def test_a_record_repeated_in_the_batch_is_dropped() -> None:
    result = imported()
    assert len(result.scans) == 3
    assert result.duplicates == 1
    assert len(set(result.keys)) == 3


def test_a_second_download_of_the_same_records_adds_nothing_even_with_a_new_skew() -> None:
    first = imported()
    records, _ = parse_wand_csv(BATCH)
    again = import_wand_batch(
        records,
        wand_id="wand-01",
        wand_clock_at_download=WAND_AT_DOWNLOAD + timedelta(hours=1),
        gateway_clock_at_download=GATEWAY_AT_DOWNLOAD + timedelta(hours=1, seconds=30),
        known_keys=set(first.keys),
    )
    assert again.scans == ()
    assert again.duplicates == 4
    assert again.skew_s == 300.0


def test_key_uses_the_uncorrected_wand_time() -> None:
    record = WandRecord("wand-01", "0100ABCDEF", datetime(2026, 3, 2, 21, 11, 2))
    assert wand_record_key(record, ZoneInfo("Asia/Shanghai")) == (
        "wand|wand-01|0100ABCDEF|2026-03-02T13:11:02+00:00"
    )


def test_wand_times_with_an_offset_are_taken_as_given() -> None:
    text = "wand_id,tag_id,time\nwand-01,0100ABCDEF,2026-03-02T13:00:00Z\n"
    result = imported(text)
    assert result.scans[0].scanned_at == datetime(2026, 3, 2, 13, 4, 30, tzinfo=UTC)


def test_scans_come_out_in_corrected_time_order() -> None:
    text = (
        "wand_id,tag_id,time\n"
        "wand-01,0100ABCDE2,2026-03-02T22:00:00\n"
        "wand-01,0100ABCDE1,2026-03-02T21:00:00\n"
    )
    assert [s.tag_id for s in imported(text).scans] == ["0100ABCDE1", "0100ABCDE2"]


def test_bad_lines_are_reported_with_their_number_and_the_good_ones_kept() -> None:
    text = (
        "WAND_ID, tag_id ,Time\n"
        "wand-01,0100ABCDEF,2026-03-02T21:00:00\n"
        "wand-01,not-a-tag,2026-03-02T21:01:00\n"
        "wand-01,0100ABCDEF,yesterday\n"
        "wand-01,0100ABCDEF\n"
        ",0100ABCDEF,2026-03-02T21:03:00\n"
    )
    records, problems = parse_wand_csv(text)
    assert [r.line for r in records] == [2]
    assert problems == [
        "line 3: tag id 'not-a-tag' is neither a hex UID/EM4100 id (8-20 hex digits) nor a "
        "Wiegand facility:card",
        "line 4: time 'yesterday' is not an ISO 8601 date-time",
        "line 5: expected 3 fields (wand_id,tag_id,time), got 2",
        "line 6: empty wand_id",
    ]


def test_a_batch_without_the_header_is_refused_whole() -> None:
    with pytest.raises(DecodeError, match="line 1: header must be wand_id,tag_id,time"):
        parse_wand_csv("wand-01,0100ABCDEF,2026-03-02T21:00:00\n")
    with pytest.raises(DecodeError, match="no header"):
        parse_wand_csv("\n# nothing\n")


def test_records_of_another_wand_are_refused() -> None:
    text = "wand_id,tag_id,time\nwand-02,0100ABCDEF,2026-03-02T21:00:00\n"
    result = imported(text)
    assert result.scans == ()
    assert result.rejected == ("line 2: record of wand 'wand-02' in a download of 'wand-01'",)
