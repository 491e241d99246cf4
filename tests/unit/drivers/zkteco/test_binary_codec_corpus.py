"""The binary codec against the golden ZKTeco packets and the published protocol vectors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from drivers.zkteco.binary_codec import (
    Command,
    TcpFramer,
    build_packet,
    checksum,
    commkey,
    frame_tcp,
    parse_packet,
    prepare_buffer_request,
    prepare_buffer_size,
    reg_event_request,
)
from drivers.zkteco.binary_records import decode_free_sizes
from gateway.errors import DecodeError


def test_checksum_matches_both_published_vectors(samples: dict[str, Any]) -> None:
    first, second = samples["zk_checksum_vectors"]
    assert checksum(bytes.fromhex(first["payload_without_checksum_hex"])) == int(
        first["checksum"], 16
    )
    packet = parse_packet(bytes.fromhex(second["payload_hex_with_checksum"]))
    assert packet.checksum == int(second["checksum"], 16)
    assert packet.command == Command.CMD_ACK_OK
    assert packet.data == b"\x09"  # odd length: the last byte is zero-padded for the sum


def test_every_corpus_packet_has_a_valid_checksum_and_its_documented_command(
    samples: dict[str, Any],
) -> None:
    for sample in samples["pyzk_packets"]:
        raw = bytes.fromhex(sample["hex"])
        if sample["transport"] == "tcp":
            packets = TcpFramer().feed(raw)
            assert len(packets) == 1, sample
            packet = packets[0]
        else:
            packet = parse_packet(raw)
        name = re.match(r"CMD_[A-Z_]+", sample["decoded"])
        assert name is not None
        assert Command(packet.command).name == name.group(0), sample


@pytest.mark.parametrize(
    ("test", "direction", "command", "session", "reply"),
    [
        ("test_tcp_connect", "host->device", Command.CMD_CONNECT, 0, 0),
        ("test_tcp_connect", "device->host", Command.CMD_ACK_OK, 0xFB2F, 0),
        ("test_tcp_unauth", "device->host", Command.CMD_ACK_UNAUTH, 0x45CF, 0),
        ("test_tcp_auth", "device->host", Command.CMD_ACK_OK, 0x45CF, 1),
    ],
)
def test_corpus_packet_header_fields_decode_as_documented(
    samples: dict[str, Any], test: str, direction: str, command: int, session: int, reply: int
) -> None:
    sample = next(s for s in samples["pyzk_packets"] if s["test"] == test and s["dir"] == direction)
    (packet,) = TcpFramer().feed(bytes.fromhex(sample["hex"]))
    assert (packet.command, packet.session_id, packet.reply_id) == (command, session, reply)


def test_connect_and_exit_are_encoded_byte_for_byte_like_the_corpus(
    samples: dict[str, Any],
) -> None:
    by_decoded = {(s["test"], s["dir"], s["hex"]) for s in samples["pyzk_packets"]}
    assert (
        "test_tcp_connect",
        "host->device",
        frame_tcp(build_packet(1000, 0, 0)).hex(),
    ) in by_decoded
    assert (
        "test_tcp_connect",
        "host->device",
        frame_tcp(build_packet(1001, 0xFB2F, 1)).hex(),
    ) in by_decoded
    assert ("test_udp_connect", "host->device", build_packet(1000, 0, 0).hex()) in by_decoded
    assert ("test_udp_connect", "host->device", build_packet(1001, 0xFB2F, 1).hex()) in by_decoded


def test_auth_key_for_passwords_12_and_45_matches_the_corpus(samples: dict[str, Any]) -> None:
    unauth = next(
        s
        for s in samples["pyzk_packets"]
        if s["test"] == "test_tcp_unauth" and s["dir"] == "host->device"
    )
    auth = next(
        s
        for s in samples["pyzk_packets"]
        if s["test"] == "test_tcp_auth" and s["dir"] == "host->device"
    )
    assert (
        frame_tcp(build_packet(Command.CMD_AUTH, 0x45CF, 1, commkey(12, 0x45CF))).hex()
        == unauth["hex"]
    )
    assert (
        frame_tcp(build_packet(Command.CMD_AUTH, 0x45CF, 1, commkey(45, 0x45CF))).hex()
        == auth["hex"]
    )


def test_a_packet_with_a_wrong_checksum_is_refused() -> None:
    good = bytearray(bytes.fromhex("d007fffc2ffb0000"))
    good[2] ^= 0x01
    with pytest.raises(DecodeError, match="checksum"):
        parse_packet(bytes(good))
    with pytest.raises(DecodeError, match="shorter"):
        parse_packet(b"\xd0\x07")


# Published vectors from pyzk's test suite (fananimi/pyzk test.py, test_tcp_get_size and
# test_tcp_get_users_broken_tcp): real terminal replies, not in the corpus file yet.
PYZK_SIZES_REPLY = (
    "5050827d64000000d007a3159663130000000000000000000000000000000000070000000000000006000000"
    "000000005d020000000000000f0c0000000000000100000000000000b80b000010270000a0860100b20b0000"
    "0927000043840100000000000000"
)
PYZK_PREPARE_BUFFER_REPLY = "5050827d15000000d007a7625c3c150000b4130000b4130000cdef2300"
PYZK_READ_SIZES_REQUEST = "5050827d080000003200fcb9cf450200"
PYZK_GET_USERS_REQUEST = "5050827d13000000df053ca6cf4514000109000500000000000000"


def test_free_sizes_reply_gives_pyzk_counts() -> None:
    (packet,) = TcpFramer().feed(bytes.fromhex(PYZK_SIZES_REPLY.ljust(2 * 108, "0")))
    sizes = decode_free_sizes(packet.data)
    assert (sizes.users, sizes.fingers, sizes.records) == (7, 6, 605)
    assert (sizes.users_capacity, sizes.records_capacity) == (10000, 100000)
    assert (
        frame_tcp(build_packet(Command.CMD_GET_FREE_SIZES, 0x45CF, 2)).hex()
        == PYZK_READ_SIZES_REQUEST
    )


def test_prepare_buffer_request_and_reply_match_pyzk() -> None:
    # pyzk asks for the user table (9, fct 5) this way; the attendance table is command 13.
    request = frame_tcp(
        build_packet(Command.CMD_PREPARE_BUFFER, 0x45CF, 20, prepare_buffer_request(9, 5))
    )
    assert request.hex() == PYZK_GET_USERS_REQUEST
    (reply,) = TcpFramer().feed(bytes.fromhex(PYZK_PREPARE_BUFFER_REPLY))
    assert reply.command == Command.CMD_ACK_OK
    assert prepare_buffer_size(reply.data) == 5044
    assert prepare_buffer_request() == bytes.fromhex("010d000000000000000000")  # zk-protocol doc
    assert reg_event_request(1) == b"\x01\x00\x00\x00"
