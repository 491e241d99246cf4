"""PN532 host frames of the simulator, checked against published frames.

Sources:
* NXP PN532 User Manual UM0701-02 rev. 02, section 6.2 (frame structure, ACK/NACK, error frame),
  section 6.3.2.3 (HSU wake-up: ``55 55 00 .. 00 FF 03 FD D4 14 01 17 00``) and section 7.2.2
  (GetFirmwareVersion: ``00 00 FF 02 FE D4 02 2A 00`` answered by a PN532 v1.6 with
  ``00 00 FF 06 FA D5 03 32 01 06 07 E8 00``).
* nfcpy 1.0.4, ``nfc/clf/pn532.py`` ``init()``: the literal frames its driver sends and expects
  (an independent implementation of the same manual).
"""

from __future__ import annotations

import pytest

from fwsim.pn532.frames import (
    ACK,
    ERROR_FRAME,
    NACK,
    FrameParser,
    HostFrameKind,
    build_frame,
    checksum,
)

UM_GET_FIRMWARE_VERSION = bytes.fromhex("0000FF02FED4022A00")
UM_GET_FIRMWARE_VERSION_RESPONSE = bytes.fromhex("0000FF06FAD50332010607E800")
UM_HSU_WAKE_UP_SAM_CONFIGURATION = bytes.fromhex(
    "5555000000000000000000000000000000FF03FDD414011700"
)
NFCPY_SAM_CONFIGURATION = bytes.fromhex("0000ff05fbd4140100001700")
NFCPY_SAM_CONFIGURATION_RESPONSE = bytes.fromhex("0000ff02fed5151600")
NFCPY_SET_BAUDRATE_RESPONSE = bytes.fromhex("0000ff02fed5111a00")


def test_get_firmware_version_command_matches_the_user_manual() -> None:
    assert build_frame(0xD4, b"\x02") == UM_GET_FIRMWARE_VERSION


def test_get_firmware_version_response_matches_the_user_manual() -> None:
    assert build_frame(0xD5, bytes.fromhex("03 32 01 06 07")) == UM_GET_FIRMWARE_VERSION_RESPONSE


@pytest.mark.parametrize(
    ("tfi", "data", "published"),
    [
        (0xD4, bytes.fromhex("14 01 00 00"), NFCPY_SAM_CONFIGURATION),
        (0xD5, bytes.fromhex("15"), NFCPY_SAM_CONFIGURATION_RESPONSE),
        (0xD5, bytes.fromhex("11"), NFCPY_SET_BAUDRATE_RESPONSE),
    ],
)
def test_frames_match_the_literals_in_nfcpys_pn532_driver(
    tfi: int, data: bytes, published: bytes
) -> None:
    assert build_frame(tfi, data) == published


def test_length_and_data_checksums_make_the_sums_zero() -> None:
    assert checksum(b"\x02") == 0xFE
    assert checksum(bytes.fromhex("D4 02")) == 0x2A
    assert checksum(bytes.fromhex("D5 03 32 01 06 07")) == 0xE8


def test_ack_nack_and_error_frames_are_the_manuals() -> None:
    assert bytes.fromhex("00 00 FF 00 FF 00") == ACK
    assert bytes.fromhex("00 00 FF FF 00 00") == NACK
    assert bytes.fromhex("00 00 FF 01 FF 7F 81 00") == ERROR_FRAME


def test_body_longer_than_255_bytes_uses_the_extended_frame() -> None:
    data = bytes(range(256)) + bytes(6)  # 262 bytes + TFI = 263 = 0x0107
    frame = build_frame(0xD5, data)
    assert frame[:8] == bytes.fromhex("00 00 FF FF FF 01 07 F8")
    assert (frame[5] + frame[6] + frame[7]) & 0xFF == 0
    assert (sum(frame[8:-1])) & 0xFF == 0
    assert frame[-1] == 0x00
    assert len(frame) == 8 + 263 + 2


def test_corrupted_checksums_differ_only_in_their_checksum_byte() -> None:
    good = build_frame(0xD5, b"\x03\x32\x01\x06\x07")
    bad_dcs = build_frame(0xD5, b"\x03\x32\x01\x06\x07", bad_dcs=True)
    bad_lcs = build_frame(0xD5, b"\x03\x32\x01\x06\x07", bad_lcs=True)
    assert [i for i in range(len(good)) if good[i] != bad_dcs[i]] == [len(good) - 2]
    assert [i for i in range(len(good)) if good[i] != bad_lcs[i]] == [4]


def test_parser_skips_the_hsu_wake_up_sequence_and_finds_the_command() -> None:
    frames = FrameParser().feed(UM_HSU_WAKE_UP_SAM_CONFIGURATION)
    assert len(frames) == 1
    assert frames[0].kind is HostFrameKind.COMMAND
    assert frames[0].command_code == 0x14
    assert frames[0].params == b"\x01"


def test_parser_handles_nfcpys_long_preamble_fed_byte_by_byte() -> None:
    parser = FrameParser()
    frames = []
    for byte in bytes(10) + UM_GET_FIRMWARE_VERSION:
        frames += parser.feed(bytes([byte]))
    assert [(f.kind, f.command_code) for f in frames] == [(HostFrameKind.COMMAND, 0x02)]


def test_parser_recognises_ack_and_nack_from_the_host() -> None:
    frames = FrameParser().feed(ACK + NACK)
    assert [f.kind for f in frames] == [HostFrameKind.ACK, HostFrameKind.NACK]


def test_parser_reports_bad_data_checksum_and_resynchronises_on_the_next_frame() -> None:
    corrupt = bytearray(UM_GET_FIRMWARE_VERSION)
    corrupt[-2] ^= 0xFF
    frames = FrameParser().feed(b"\x13\x37garbage" + bytes(corrupt) + NFCPY_SAM_CONFIGURATION)
    assert [f.kind for f in frames] == [HostFrameKind.BAD_CHECKSUM, HostFrameKind.COMMAND]
    assert frames[1].command_code == 0x14


def test_parser_drops_a_frame_with_bad_length_checksum() -> None:
    corrupt = bytearray(UM_GET_FIRMWARE_VERSION)
    corrupt[4] ^= 0x01
    frames = FrameParser().feed(bytes(corrupt) + UM_GET_FIRMWARE_VERSION)
    assert [f.kind for f in frames][-1] is HostFrameKind.COMMAND
    assert HostFrameKind.BAD_CHECKSUM in [f.kind for f in frames]


def test_parser_reads_an_extended_host_frame() -> None:
    data = b"\x00\x00" + bytes(x & 0xFF for x in range(261))
    frames = FrameParser().feed(build_frame(0xD4, data))
    assert len(frames) == 1
    assert frames[0].command_code == 0x00
    assert frames[0].params == data[1:]
