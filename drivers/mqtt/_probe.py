"""A minimal MQTT 3.1.1 CONNECT/CONNACK exchange: is a broker on that port, and what does it say?"""

from __future__ import annotations

import os
import socket
import ssl
import time
from itertools import count

from drivers.mqtt.url import BrokerAddress

__all__ = ["connack_code"]

_probe_ids = count(1)


def _connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and a 10 s keep-alive."""

    def field(value: str) -> bytes:
        data = value.encode()
        return len(data).to_bytes(2, "big") + data

    flags = 0x02
    payload = field(client_id)
    if username is not None:
        flags |= 0x80
        payload += field(username)
        if password is not None:
            flags |= 0x40
            payload += field(password)
    variable = field("MQTT") + bytes([0x04, flags]) + (10).to_bytes(2, "big")
    body = variable + payload
    length = bytearray()
    remaining = len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | (0x80 if remaining else 0))
        if not remaining:
            break
    return bytes([0x10]) + bytes(length) + body


def connack_code(address: BrokerAddress, timeout: float) -> int | None:
    """Send a clean-session CONNECT and return the CONNACK's return code (0: accepted).

    ``None`` when nothing answers like an MQTT broker within ``timeout`` (refused, closed,
    timed out, TLS failure, or a reply that is not a CONNACK).
    """
    deadline = time.monotonic() + timeout
    # A client id per probe: a broker drops an older connection that reuses an id.
    client_id = f"probe-{os.getpid()}-{next(_probe_ids)}"
    packet = _connect_packet(client_id, address.username, address.password)
    try:
        raw = socket.create_connection((address.host, address.port), timeout=timeout)
        with raw:
            sock = raw
            if address.tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(raw, server_hostname=address.host)
            with sock:
                return _exchange(sock, packet, deadline)
    except OSError:  # refused, timed out, TLS failure (ssl.SSLError is an OSError)
        return None


def _exchange(sock: socket.socket, packet: bytes, deadline: float) -> int | None:
    sock.settimeout(max(0.05, deadline - time.monotonic()))
    sock.sendall(packet)
    reply = b""
    while len(reply) < 4:
        chunk = sock.recv(4 - len(reply))
        if not chunk:
            return None
        reply += chunk
    # CONNACK: type 0x20, remaining length 2, session-present flags, return code.
    if reply[0] != 0x20 or reply[1] != 0x02:
        return None
    if reply[3] == 0:
        sock.sendall(b"\xe0\x00")  # DISCONNECT, so the broker logs a clean goodbye
    return reply[3]
