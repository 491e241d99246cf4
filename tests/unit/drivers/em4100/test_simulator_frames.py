"""The simulated reader's frames match the published ones byte for byte (it is built from the
specs, not from the gateway's decoder, so this checks the simulator itself)."""

from __future__ import annotations

import pytest

from fwsim.em4100 import encode_frame


@pytest.mark.parametrize(
    ("tag", "frame_hex"),
    [
        # RDM630 data sheet (Seeed wiki): the worked example and the 62E3086CED example.
        ("01000734E0", "0230313030303733344530443203"),
        ("62E3086CED", "0236324533303836434544303803"),
    ],
)
def test_rdm6300_frame_is_the_data_sheet_frame(tag: str, frame_hex: str) -> None:
    assert encode_frame("rdm6300", tag) == bytes.fromhex(frame_hex)


def test_python_rdm6300_card_frame_matches_its_payload() -> None:
    assert encode_frame("rdm6300", "67003B51C6") == b"\x0267003B51C6CB\x03"


def test_decimal_line_is_the_printed_10_digit_number() -> None:
    # i-keys.de: EM4102 0102b0a5fd -> 8H>10D 0045131261
    assert encode_frame("decimal", "0102B0A5FD") == b"0045131261\r\n"


def test_wiegand_lines_match_the_reader_manual_examples() -> None:
    # CIVINTEC CN56 manual: W26 of D41B81 and W34 of 89D41B81.
    assert encode_frame("wiegand26", "0000D41B81") == b"11101010000011011100000010\r\n"
    assert encode_frame("wiegand34", "0089D41B81") == b"1100010011101010000011011100000011\r\n"
    # Dolphin manual: the EM card 0006613779 (hex 64EB13).
    assert encode_frame("wiegand26", "000064EB13") == b"00110010011101011000100111\r\n"


def test_corrupted_check_differs_from_the_good_frame_only_in_its_check() -> None:
    good = encode_frame("rdm6300", "01000734E0")
    bad = encode_frame("rdm6300", "01000734E0", corrupt_check=True)
    assert bad[:11] == good[:11] and bad[11:13] != good[11:13]
    good26 = encode_frame("wiegand26", "0000D41B81")
    bad26 = encode_frame("wiegand26", "0000D41B81", corrupt_check=True)
    assert bad26[:25] == good26[:25] and bad26[25] != good26[25]
