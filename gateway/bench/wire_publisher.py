"""A lean QoS-1 load publisher for the benchmarks: MQTT 3.1.1 packets written to a socket.

The benchmarks run the broker, the load and the measured subscriber on one machine. paho-mqtt's
publishing path is pure Python on two threads per client: the four paho publishers of a flood
used 4.7 CPU-seconds to publish 60,000 messages (the gateway 8.9, its MQTT child 1.8), much of
what a 2-core machine had while they ran, so the gateway was measured against the load
generator as much as against the broker. A terminal does not run on the gateway's machine;
this publisher stands for it at under a third of paho's cost (0.34-0.39 CPU-seconds a
publisher for 15,000 messages, its start-up included).

What it does, and nothing more: CONNECT (clean session, optional username and password) and
wait for a CONNACK that accepts; PUBLISH QoS 1 pipelined, at most ``window`` unacknowledged,
in the order given; count PUBACKs until every message is acknowledged; DISCONNECT. Packet ids
run 1..65535 and wrap (a window below 65535 keeps them unique among the unacknowledged).
Anything the broker sends besides CONNACK, PUBACK and PINGRESP, or a refused CONNACK, is an
error (``TransportError``). Plain TCP only: ``publish_load`` keeps paho for ``mqtts://``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from drivers.mqtt.packets import encode_connect, encode_publish
from drivers.mqtt.url import BrokerAddress
from gateway.errors import TransportError

__all__ = ["publish_qos1"]

_CONNACK, _PUBACK, _PINGRESP = 0x20, 0x40, 0xD0
_DISCONNECT = b"\xe0\x00"
_SEND_AT_ONCE = 200


class _Replies:
    """The broker's packets from a byte stream, kept across reads."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def read(self) -> list[tuple[int, bytes]]:
        """Every whole packet received so far, reading once more (blocking) first."""
        data = self._sock.recv(65536)
        if not data:
            raise TransportError("the broker closed the connection")
        buffer = self._buffer + data
        packets: list[tuple[int, bytes]] = []
        start = 0
        # Walked by offset and cut once: a read may hold thousands of 4-byte PUBACKs.
        while start + 1 < len(buffer):
            size, shift, index = 0, 0, start + 1
            while index < len(buffer):
                byte = buffer[index]
                size |= (byte & 0x7F) << shift
                index, shift = index + 1, shift + 7
                if not byte & 0x80:
                    break
            else:
                break  # the length itself is not all here yet
            if len(buffer) < index + size:
                break
            packets.append((buffer[start] & 0xF0, buffer[index : index + size]))
            start = index + size
        self._buffer = buffer[start:]
        return packets


def publish_qos1(
    address: BrokerAddress,
    client_id: str,
    messages: Sequence[tuple[str, bytes]],
    *,
    window: int = 500,
    timeout_s: float = 300.0,
) -> int:
    """Publish ``messages`` in order at QoS 1; return how many the broker acknowledged (all of
    them, or ``TransportError``). ``timeout_s`` bounds each wait for the broker."""
    if address.tls:
        raise TransportError("the wire publisher speaks plain TCP; mqtts:// goes through paho")
    if not 1 <= window < 65535:
        raise ValueError(f"window must be between 1 and 65534, not {window}")
    with socket.create_connection((address.host, address.port), timeout=timeout_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(encode_connect(client_id, address.username, address.password))
        replies = _Replies(sock)
        packets: list[tuple[int, bytes]] = []
        while not packets:
            packets = replies.read()
        kind, body = packets[0]
        if kind != _CONNACK or len(body) != 2 or body[1] != 0:
            raise TransportError(f"the broker refused the connection (CONNACK {body.hex()})")
        sent = acked = 0
        total = len(messages)
        while acked < total:
            room = min(window - (sent - acked), total - sent, _SEND_AT_ONCE)
            if room > 0:
                sock.sendall(
                    b"".join(
                        encode_publish(topic, payload, (sent + k) % 65535 + 1)
                        for k, (topic, payload) in enumerate(messages[sent : sent + room])
                    )
                )
                sent += room
                if sent - acked < window and sent < total:
                    continue
            for kind, _body in replies.read():
                if kind == _PUBACK:
                    acked += 1
                elif kind != _PINGRESP:
                    raise TransportError(f"unexpected packet {kind:#x} from the broker")
        sock.sendall(_DISCONNECT)
    return acked
