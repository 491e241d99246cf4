"""The simulated terminals' own encoder against the same golden samples as the gateway's codec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fwsim.zkteco.push_terminal import AttRecord, PushTerminal
from fwsim.zkteco.wire import event_payload, pack_record, packed_time, tcp, zk_checksum


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
