"""The TCP framer: whole packets out of any cut of the stream, resync after garbage."""

from __future__ import annotations

from typing import Any

from drivers.zkteco.binary_codec import Command, TcpFramer


def _stream(samples: dict[str, Any]) -> bytes:
    return b"".join(
        bytes.fromhex(s["hex"]) for s in samples["pyzk_packets"] if s["transport"] == "tcp"
    )


def test_byte_by_byte_feeding_yields_every_packet_once(samples: dict[str, Any]) -> None:
    stream = _stream(samples)
    framer = TcpFramer()
    packets = [p for i in range(len(stream)) for p in framer.feed(stream[i : i + 1])]
    assert [p.command for p in packets] == [
        1000,
        2000,
        1001,
        2005,
        1102,
        1102,
        2000,
    ]
    assert framer.dropped_bytes == 0


def test_garbage_between_packets_is_skipped_and_counted(samples: dict[str, Any]) -> None:
    parts = [bytes.fromhex(s["hex"]) for s in samples["pyzk_packets"] if s["transport"] == "tcp"]
    noise = b"\x00\xffPP\x82garbage\x50\x50"
    framer = TcpFramer()
    packets = framer.feed(noise + noise.join(parts) + b"\x50\x50\x82")
    assert len(packets) == len(parts)
    assert framer.dropped_bytes == len(noise) * len(parts)
    assert len(framer) == 3  # a possible magic start is kept for the next read


def test_a_corrupted_packet_is_dropped_and_the_next_one_still_decodes(
    samples: dict[str, Any],
) -> None:
    ack = bytearray(bytes.fromhex("5050827d08000000d007fffc2ffb0000"))
    ack[12] ^= 0xFF  # session byte: checksum no longer matches
    framer = TcpFramer()
    packets = framer.feed(bytes(ack) + bytes.fromhex("5050827d08000000e903e6002ffb0100"))
    assert [p.command for p in packets] == [Command.CMD_EXIT]
    assert framer.bad_packets == 1


def test_a_corrupted_packet_goes_to_its_receiver_with_its_bytes() -> None:
    ack = bytearray(bytes.fromhex("5050827d08000000d007fffc2ffb0000"))
    ack[12] ^= 0xFF
    refused: list[tuple[str, bytes]] = []
    framer = TcpFramer(on_bad_packet=lambda reason, raw: refused.append((reason, raw)))
    assert framer.feed(bytes(ack)) == []
    ((reason, raw),) = refused
    assert "checksum" in reason and raw == bytes(ack[8:])  # the packet, without the prefix


def test_an_impossible_length_is_treated_as_garbage() -> None:
    framer = TcpFramer()
    bogus = b"\x50\x50\x82\x7d\x02\x00\x00\x00"  # shorter than a header
    packets = framer.feed(bogus + bytes.fromhex("5050827d08000000d007fffc2ffb0000"))
    assert [p.session_id for p in packets] == [0xFB2F]
