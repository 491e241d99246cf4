"""The simulated terminals' own encoder against the same golden samples as the gateway's codec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fwsim.zkteco.push_terminal import AttRecord, PushTerminal
from fwsim.zkteco.wire import (
    comm_key,
    event_payload,
    pack_record,
    pack_user,
    packed_time,
    tcp,
    unpacked_time,
    zk_checksum,
)


def test_simulator_checksum_matches_the_published_vectors(samples: dict[str, Any]) -> None:
    first, second = samples["zk_checksum_vectors"]
    assert zk_checksum(bytes.fromhex(first["payload_without_checksum_hex"])) == int(
        first["checksum"], 16
    )
    raw = bytes.fromhex(second["payload_hex_with_checksum"])
    assert zk_checksum(raw[:2] + b"\x00\x00" + raw[4:]) == int(second["checksum"], 16)


def test_simulator_replies_are_byte_for_byte_the_corpus_device_packets(
    samples: dict[str, Any],
) -> None:
    device = {s["hex"] for s in samples["pyzk_packets"] if s["dir"] == "device->host"}
    assert tcp(2000, 0xFB2F, 0).hex() in device
    assert tcp(2005, 0x45CF, 0).hex() in device
    assert tcp(2000, 0x45CF, 1).hex() in device


def test_simulator_packs_the_k50_time_like_the_documented_formula() -> None:
    assert packed_time(datetime(2026, 2, 7, 7, 35, 52)) == 838884952


def test_simulator_record_and_event_layouts_have_their_documented_sizes() -> None:
    at = datetime(2026, 2, 7, 7, 35, 52)
    assert len(pack_record(40, 1, "1", 1, 0, at)) == 40
    assert len(pack_record(16, 1, "1", 1, 0, at)) == 16
    assert len(pack_record(8, 1, "1", 1, 0, at)) == 8
    assert len(event_payload("1", 1, 0, at)) == 36


def test_push_simulator_writes_the_k50_line_shape(push_sample: Any) -> None:
    terminal = PushTerminal("http://127.0.0.1:9", "K50")
    try:
        line = terminal.format_line(AttRecord("1", datetime(2026, 2, 7, 7, 35, 52), 0, 1))
    finally:
        terminal.close()
    assert line == push_sample("ATTLOG body as received from a ZKTeco K50")


def test_simulator_comm_key_is_the_one_in_the_corpus_auth_packet(samples: dict[str, Any]) -> None:
    auth = next(s for s in samples["pyzk_packets"] if s["decoded"].startswith("CMD_AUTH(1102)"))
    # password 12, session 0x45cf: the key is the packet's 4 data bytes after the TCP prefix.
    assert comm_key(12, 0x45CF) == bytes.fromhex(auth["hex"])[16:20]


def test_simulator_time_unpacks_to_what_it_packed() -> None:
    at = datetime(2026, 12, 31, 23, 59, 58)
    assert unpacked_time(packed_time(at)) == at


def test_simulator_user_layouts_place_each_field() -> None:
    old = pack_user(28, 7, "1003", name="Admin", card=99887766, privilege=14, password="1234")
    assert len(old) == 28
    assert old[:3] == bytes((7, 0, 14))
    assert old[3:8] == b"1234\x00" and old[8:16] == b"Admin\x00\x00\x00"
    assert int.from_bytes(old[16:20], "little") == 99887766
    assert int.from_bytes(old[24:28], "little") == 1003
    tft = pack_user(72, 7, "1003", name="李明", card=5)
    assert len(tft) == 72
    assert tft[11:35].rstrip(b"\x00").decode() == "李明"
    assert int.from_bytes(tft[35:39], "little") == 5
    assert tft[48:72].rstrip(b"\x00") == b"1003"


def test_simulator_refuses_what_a_user_layout_cannot_hold() -> None:
    with pytest.raises(ValueError, match="longer than 8 bytes"):
        pack_user(28, 1, "1", name="Wang Fang")
    with pytest.raises(ValueError, match="numeric user ids"):
        pack_user(28, 1, "A-17")
    with pytest.raises(ValueError, match="numeric user ids"):
        pack_user(28, 1, "4294967296")
    with pytest.raises(ValueError, match="longer than 24 bytes"):
        pack_user(72, 1, "9" * 25)


def test_simulator_refuses_a_record_its_layout_cannot_hold() -> None:
    at = datetime(2026, 2, 7, 7, 35, 52)
    with pytest.raises(ValueError, match="longer than 24 bytes"):
        pack_record(40, 1, "9" * 25, 1, 0, at)
    with pytest.raises(ValueError, match="numeric user ids"):
        pack_record(16, 1, "A-17", 1, 0, at)
    with pytest.raises(ValueError, match="does not fit the 8-byte layout"):
        pack_record(8, 70_000, "70000", 1, 0, at)
