"""The EM4100 codecs agree with published frames, Wiegand vectors and card-number tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.em4100.codec import FrameRejected, RejectReason, TagRead, make_framer
from drivers.em4100.frames import (
    decode_decimal_line,
    decode_rdm6300,
    em4100_decimal_id,
    em4100_wiegand26_id,
    wiegand_data,
)
from gateway.records import TagTechnology

CORPUS = Path(__file__).resolve().parents[3] / "corpus" / "em4100"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    return data


RDM = _load("rdm6300_frames.json")
WIEGAND = _load("wiegand_vectors.json")
CARDS = _load("card_numbers.json")


def _frame(vector: dict[str, Any]) -> bytes:
    if "frame_hex" in vector:
        return bytes.fromhex(str(vector["frame_hex"]))
    # python-rdm6300's _assemble_bitstream: STX + payload + ETX
    return b"\x02" + str(vector["payload"]).encode("utf-8") + b"\x03"


@pytest.mark.parametrize("vector", RDM["valid"], ids=lambda v: v["payload"])
def test_published_rdm6300_frame_decodes_to_its_id(vector: dict[str, Any]) -> None:
    read = decode_rdm6300(_frame(vector))
    assert read.tag_id == vector["payload"][:10].upper()
    assert read.technology is TagTechnology.EM4100
    assert int(read.tag_id[:2], 16) == vector["version_byte"]
    assert int(vector["payload"][10:], 16) == vector["checksum"]
    if "id_32" in vector:
        assert int(read.tag_id[2:], 16) == vector["id_32"]
    if "data_bytes" in vector:
        assert read.tag_id == "".join(vector["data_bytes"])
    assert read.raw == _frame(vector)


@pytest.mark.parametrize("vector", RDM["invalid"], ids=lambda v: v["payload"] or "empty")
def test_published_invalid_rdm6300_frame_is_rejected_with_its_reason(
    vector: dict[str, Any],
) -> None:
    out = make_framer("rdm6300").feed(_frame(vector))
    assert len(out) == 1
    assert isinstance(out[0], FrameRejected)
    assert out[0].reason == RejectReason(vector["reason"])
    assert out[0].raw == _frame(vector)


def test_python_rdm6300_stream_yields_the_valid_tags_and_skips_the_rest() -> None:
    stream_spec = RDM["streams"][0]
    stream = stream_spec["leading_bytes"].encode() + b"".join(
        b"\x02" + p.encode("utf-8") + b"\x03" for p in stream_spec["payloads"]
    )
    out = make_framer("rdm6300").feed(stream)
    reads = [o.tag_id for o in out if isinstance(o, TagRead)]
    rejects = [o.reason for o in out if isinstance(o, FrameRejected)]
    assert reads == stream_spec["expected_ids_after_first_stx"]
    assert rejects == [
        RejectReason.GARBAGE,  # the STX-less leading body
        RejectReason.CHECKSUM,
        RejectReason.LENGTH,
        RejectReason.LENGTH,  # 'SomeThingCrappyÚTFŐ' is too long before it is non-hex
    ]


@pytest.mark.parametrize("vector", WIEGAND["wiegand26"], ids=lambda v: f"{v['source']}-{v['bits']}")
def test_published_wiegand26_vector(vector: dict[str, Any]) -> None:
    out = make_framer("wiegand26").feed(vector["bits"].encode("utf-8") + b"\r\n")
    assert len(out) == 1
    if not vector["valid"]:
        assert isinstance(out[0], FrameRejected)
        return
    read = out[0]
    assert isinstance(read, TagRead), read
    assert read.technology is TagTechnology.WIEGAND
    data = wiegand_data(vector["bits"])
    if "data_hex" in vector:
        assert data == int(vector["data_hex"], 16)
    if "facility" in vector:
        assert read.tag_id == f"{vector['facility']:03d}:{vector['card']:05d}"
        assert data == vector["facility"] << 16 | vector["card"]


def test_wiegand26_parity_errors_name_their_side() -> None:
    left, right = (v for v in WIEGAND["wiegand26"] if v.get("reason", "").startswith("incorrect"))
    (left_out,) = make_framer("wiegand26").feed(left["bits"].encode() + b"\n")
    (right_out,) = make_framer("wiegand26").feed(right["bits"].encode() + b"\n")
    assert isinstance(left_out, FrameRejected) and left_out.reason is RejectReason.PARITY
    assert isinstance(right_out, FrameRejected) and right_out.reason is RejectReason.PARITY
    assert "leading" in left_out.detail
    assert "trailing" in right_out.detail


@pytest.mark.parametrize("vector", WIEGAND["wiegand34"], ids=lambda v: v["source"])
def test_published_wiegand34_vector(vector: dict[str, Any]) -> None:
    (read,) = make_framer("wiegand34").feed(vector["bits"].encode() + b"\r\n")
    assert isinstance(read, TagRead)
    assert read.tag_id == f"{int(vector['data_hex'], 16):010d}"


def test_wiegand34_with_one_bit_flipped_fails_parity() -> None:
    bits = WIEGAND["wiegand34"][0]["bits"]
    flipped = bits[:20] + ("1" if bits[20] == "0" else "0") + bits[21:]
    (out,) = make_framer("wiegand34").feed(flipped.encode() + b"\n")
    assert isinstance(out, FrameRejected) and out.reason is RejectReason.PARITY


def test_wiegand26_line_is_not_accepted_by_a_wiegand34_reader() -> None:
    bits = WIEGAND["wiegand26"][2]["bits"]
    (out,) = make_framer("wiegand34").feed(bits.encode() + b"\n")
    assert isinstance(out, FrameRejected) and out.reason is RejectReason.LENGTH


@pytest.mark.parametrize("card", CARDS["cards"], ids=lambda c: c["decimal_10"])
def test_decimal_reader_line_gives_the_printed_card_number(card: dict[str, Any]) -> None:
    read = decode_decimal_line(card["decimal_10"].encode())
    assert read.tag_id == card["decimal_10"]
    assert read.technology is TagTechnology.EM4100
    if "em4100_hex" in card:
        assert em4100_decimal_id(card["em4100_hex"]) == card["decimal_10"]
    if "low32_hex" in card:
        assert int(card["low32_hex"], 16) == int(card["decimal_10"])
    if "em4100_decimal_40" in card:
        full = card["em4100_decimal_40"]
        assert full >> 32 == card["version_byte"]
        assert em4100_decimal_id(f"{full:010X}") == card["decimal_10"]


@pytest.mark.parametrize("card", [c for c in CARDS["cards"] if "facility" in c], ids=str)
def test_wiegand26_id_of_an_em4100_id_matches_the_3_plus_5_print(card: dict[str, Any]) -> None:
    expected = f"{card['facility']:03d}:{card['card']:05d}"
    if "em4100_hex" in card:
        assert em4100_wiegand26_id(card["em4100_hex"]) == expected
    else:
        assert em4100_wiegand26_id(f"00{card['low32_hex']}") == expected


def test_dolphin_manual_card_decimal_and_its_wiegand26_bits_agree() -> None:
    dolphin = next(v for v in WIEGAND["wiegand26"] if v["source"] == "dolphin")
    assert wiegand_data(dolphin["bits"]) == int(dolphin["data_hex"], 16) == 6613779
