"""The wire publisher reads the broker's replies whole, however the stream is cut."""

from __future__ import annotations

import socket

import pytest

from gateway.bench.wire_publisher import _Replies

# CONNACK (accepted), PUBACKs for packet ids 1..299, PINGRESP: as a broker sends them.
_STREAM = (
    b"\x20\x02\x00\x00"
    + b"".join(b"\x40\x02" + i.to_bytes(2, "big") for i in range(1, 300))
    + b"\xd0\x00"
)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 7, 4096])
def test_every_packet_comes_out_once_in_order_whatever_the_cuts(cut: int) -> None:
    ours, broker = socket.socketpair()
    with ours, broker:
        replies = _Replies(ours)
        got: list[tuple[int, bytes]] = []
        for start in range(0, len(_STREAM), cut):
            broker.sendall(_STREAM[start : start + cut])
            got += replies.read()
    assert [kind for kind, _ in got] == [0x20] + [0x40] * 299 + [0xD0]
    assert [int.from_bytes(body, "big") for kind, body in got if kind == 0x40] == list(
        range(1, 300)
    )
