"""A minimal MQTT 3.1.1 CONNECT/CONNACK exchange: is a broker on that port, and what does it say?"""

from __future__ import annotations

import os
import socket
import ssl
import time
from itertools import count

from drivers.mqtt.packets import encode_connect
from drivers.mqtt.url import BrokerAddress

__all__ = ["connack_code"]

_probe_ids = count(1)


def connack_code(address: BrokerAddress, timeout: float) -> int | None:
    """Send a clean-session CONNECT and return the CONNACK's return code (0: accepted).

    ``None`` when nothing answers like an MQTT broker within ``timeout`` (refused, closed,
    timed out, TLS failure, or a reply that is not a CONNACK).
    """
    deadline = time.monotonic() + timeout
    # A client id per probe: a broker drops an older connection that reuses an id.
    client_id = f"probe-{os.getpid()}-{next(_probe_ids)}"
    packet = encode_connect(client_id, address.username, address.password, keepalive=10)
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
