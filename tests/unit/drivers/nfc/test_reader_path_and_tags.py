"""Reader paths and tag classification (with nfcpy's own tag and target classes)."""

from __future__ import annotations

import pytest
from nfc.clf import RemoteTarget
from nfc.tag.tt2 import Type2Tag

from drivers.nfc.frontend import parse_reader_path
from drivers.nfc.tagread import read_tag, technology_of
from gateway.errors import ConfigError
from gateway.records import TagTechnology


def test_nfcpy_paths_are_passed_through_unchanged() -> None:
    for text in ("tty:USB0:pn532", "usb:054c:06c3", "usb", "tty:S0:pn532"):
        path = parse_reader_path(text)
        assert path.device is None
        assert path.nfcpy_path == text


def test_absolute_tty_path_names_the_device_and_the_driver() -> None:
    path = parse_reader_path("tty:/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0:pn532")
    assert path.device == "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"
    assert path.driver == "pn532"


@pytest.mark.parametrize("text", ["", "tty:/dev/ttyUSB0", "tty:/dev/ttyUSB0:acr122"])
def test_bad_reader_paths_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_reader_path(text)


def _type2(sens_res: str, sak: int, uid: str) -> Type2Tag:
    target = RemoteTarget(
        "106A",
        sens_res=bytes.fromhex(sens_res),
        sel_res=bytes([sak]),
        sdd_res=bytes.fromhex(uid),
    )
    return Type2Tag(None, target)


def test_sak_00_type2_tag_is_nfc_type2() -> None:
    assert technology_of(_type2("4400", 0x00, "04A1B2C3D4E5F6")) is TagTechnology.NFC_TYPE2


@pytest.mark.parametrize("sak", [0x08, 0x18, 0x09, 0x88])
def test_mifare_classic_saks_are_mifare_classic(sak: int) -> None:
    assert technology_of(_type2("0400", sak, "DEADBEEF")) is TagTechnology.MIFARE_CLASSIC


def test_mifare_classic_is_read_by_uid_only_without_touching_the_card() -> None:
    # the tag has no frontend (clf None): any attempt to talk to it would raise
    reading = read_tag(_type2("0400", 0x08, "deadbeef"))
    assert reading.tag_id == "DEADBEEF"
    assert reading.ndef_text is None
    assert reading.raw == "040008deadbeef"
