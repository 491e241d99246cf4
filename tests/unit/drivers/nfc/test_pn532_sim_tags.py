"""Simulated tags and the simulated chip, checked against published values.

Sources:
* ISO/IEC 14443-3 Annex B: CRC_A of ``00 00`` is ``A0 1E``, of ``12 34`` is ``26 CF``; HLTA on
  air is ``50 00 57 CD``. ``30 00 02 A8`` (READ page 0) is the frame seen in public air captures
  of Ultralight/NTAG reads.
* NXP NTAG213/215/216 data sheet rev. 3.2: GET_VERSION answer ``00 04 04 02 01 00 0F 03``;
  CC ``E1 10 12 00``; BCC0 = 88h xor UID0..2, BCC1 = xor UID3..6; READ rolls over after the
  last page; a READ beyond it is NAKed.
* STMicroelectronics AN3408 (DocID018867 rev. 4) tables 24 and 25: the NDEF TLVs of a Text
  record "ISO15693 as NFC tag" (language "en") and of the URI "http://www.st.com".
"""

from __future__ import annotations

import pytest

from fwsim.pn532.chip import Pn532Chip
from fwsim.pn532.ndef import ndef_message, ndef_tlv, text_record, uri_record
from fwsim.pn532.tags import MifareClassic1k, Ntag213, TagState, crc_a

AN3408_TEXT_TLV = bytes.fromhex(
    "03 1A D1 01 16 54 02 65 6E 49 53 4F 31 35 36 39 33 20 61 73 20 4E 46 43 20 74 61 67 FE"
)
AN3408_URI_TLV = bytes.fromhex("03 0B D1 01 07 55 01") + b"st.com" + b"\xfe"
UID = bytes.fromhex("04 A1 B2 C3 D4 E5 F6")


@pytest.mark.parametrize(
    ("data", "crc"),
    [("0000", "A01E"), ("1234", "26CF"), ("3000", "02A8"), ("5000", "57CD")],
)
def test_crc_a_matches_iso_14443_3(data: str, crc: str) -> None:
    assert crc_a(bytes.fromhex(data)) == bytes.fromhex(crc)


def test_text_record_tlv_matches_st_an3408_table_24() -> None:
    assert ndef_tlv(ndef_message(text_record("ISO15693 as NFC tag", "en"))) == AN3408_TEXT_TLV


def test_uri_record_tlv_matches_st_an3408_table_25() -> None:
    assert ndef_tlv(ndef_message(uri_record("http://www.st.com"))) == AN3408_URI_TLV


def test_two_records_carry_message_begin_on_the_first_and_message_end_on_the_last() -> None:
    message = ndef_message(text_record("a"), uri_record("https://x.cn"))
    assert message[0] == 0x91  # MB | SR | TNF 1
    second = 3 + 1 + message[2]
    assert message[second] == 0x51  # ME | SR | TNF 1


def _selected(tag: Ntag213 | MifareClassic1k) -> Ntag213 | MifareClassic1k:
    tag.select()
    return tag


def test_ntag213_memory_holds_uid_check_bytes_and_capability_container() -> None:
    tag = _selected(Ntag213(UID, ndef_message(text_record("CP-01"))))
    pages = tag.transceive(b"\x30\x00")
    assert pages is not None
    bcc0 = 0x88 ^ 0x04 ^ 0xA1 ^ 0xB2
    bcc1 = 0xC3 ^ 0xD4 ^ 0xE5 ^ 0xF6
    assert pages[0:4] == bytes([0x04, 0xA1, 0xB2, bcc0])
    assert pages[4:8] == bytes.fromhex("C3 D4 E5 F6")
    assert pages[8] == bcc1
    assert pages[12:16] == bytes.fromhex("E1 10 12 00")


def test_ntag213_answers_get_version_as_the_data_sheet_says() -> None:
    tag = _selected(Ntag213(UID))
    assert tag.transceive(b"\x60") == bytes.fromhex("00 04 04 02 01 00 0F 03")


def test_ntag213_read_rolls_over_and_naks_beyond_the_last_page() -> None:
    tag = _selected(Ntag213(UID))
    last = tag.transceive(b"\x30\x2c")
    assert last is not None and last[4:8] == tag.transceive(b"\x30\x00")[0:4]  # type: ignore[index]
    assert tag.transceive(b"\x30\x2d") == b"\x00"


def test_ntag213_goes_mute_and_idle_on_an_unsupported_command() -> None:
    tag = _selected(Ntag213(UID))
    assert tag.transceive(b"\x1a\x00") is None
    assert tag.state is TagState.IDLE
    assert tag.transceive(b"\x30\x00") is None


def test_ntag213_refuses_a_non_nxp_or_short_uid() -> None:
    with pytest.raises(ValueError):
        Ntag213(bytes.fromhex("01 02 03 04 05 06 07"))
    with pytest.raises(ValueError):
        Ntag213(bytes.fromhex("04 02 03 04"))


def test_chip_reports_no_target_and_leaves_sens_req_in_the_fifo_when_the_field_is_empty() -> None:
    chip = Pn532Chip()
    assert chip.execute(bytes.fromhex("4A 01 00")) == bytes.fromhex("4B 00")
    assert chip.execute(bytes.fromhex("06 63 39")) == bytes.fromhex("07 26")


def test_chip_lists_an_ntag213_with_atqa_sak_and_uid() -> None:
    chip = Pn532Chip()
    chip.present(Ntag213(UID))
    answer = chip.execute(bytes.fromhex("4A 01 00"))
    assert answer == bytes.fromhex("4B 01 01 00 44 00 07") + UID


def test_chip_lists_a_mifare_classic_with_atqa_0004_and_sak_08() -> None:
    chip = Pn532Chip()
    chip.present(MifareClassic1k(bytes.fromhex("DE AD BE EF")))
    answer = chip.execute(bytes.fromhex("4A 01 00"))
    assert answer == bytes.fromhex("4B 01 01 00 04 08 04 DE AD BE EF")


def test_chip_selects_only_the_uid_the_host_asks_for() -> None:
    chip = Pn532Chip()
    chip.present(Ntag213(UID))
    assert chip.execute(bytes.fromhex("4A 01 00 88") + UID) is not None
    assert chip.execute(bytes.fromhex("4A 01 00 88") + UID)[1] == 1  # type: ignore[index]
    other = bytes.fromhex("04 00 00 00 00 00 01")
    assert chip.execute(bytes.fromhex("4A 01 00 88") + other) == bytes.fromhex("4B 00")


def test_chip_appends_crc_a_when_the_host_turned_its_crc_check_off() -> None:
    chip = Pn532Chip()
    chip.present(Ntag213(UID))
    chip.execute(bytes.fromhex("4A 01 00"))
    with_check = chip.execute(bytes.fromhex("42 60"))
    assert with_check == bytes.fromhex("43 00 00 04 04 02 01 00 0F 03")
    chip.execute(bytes.fromhex("08 63 03 00"))  # CIU_RxMode: RxCRCEn off
    version = bytes.fromhex("00 04 04 02 01 00 0F 03")
    assert chip.execute(bytes.fromhex("42 60")) == b"\x43\x00" + version + crc_a(version)


def test_chip_reports_timeout_status_when_the_tag_is_gone() -> None:
    chip = Pn532Chip()
    chip.present(Ntag213(UID))
    chip.execute(bytes.fromhex("4A 01 00"))
    chip.remove()
    assert chip.execute(bytes.fromhex("42 30 00")) == bytes.fromhex("43 01")


def test_chip_echoes_the_communication_line_test() -> None:
    data = b"\x00" + bytes(x & 0xFF for x in range(262))
    assert Pn532Chip().execute(b"\x00" + data) == b"\x01" + data


def test_chip_answers_an_unknown_command_with_nothing() -> None:
    assert Pn532Chip().execute(b"\xfe") is None
