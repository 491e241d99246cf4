"""MQTT 3.1.1 packets written by hand where a client library is more than the job: the
readiness probe's CONNECT (``_probe``) and the benchmark's load publisher
(``gateway.bench.wire_publisher``). Encoding only, as the specification's section 2 and 3 give
it; whatever reads the replies checks them."""

from __future__ import annotations

__all__ = ["encode_connect", "encode_publish", "remaining_length"]


def remaining_length(size: int) -> bytes:
    """MQTT's variable-length integer: 1 to 4 bytes of 7 bits each, the lowest first."""
    out = bytearray()
    while True:
        digit, size = size % 128, size // 128
        out.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def encode_connect(
    client_id: str, username: str | None = None, password: str | None = None, keepalive: int = 60
) -> bytes:
    """A CONNECT with a clean session; the password is sent only with a user name, as the
    specification requires."""
    flags = 0x02
    payload = _text(client_id)
    if username is not None:
        flags |= 0x80
        payload += _text(username)
        if password is not None:
            flags |= 0x40
            payload += _text(password)
    body = _text("MQTT") + bytes([0x04, flags]) + keepalive.to_bytes(2, "big") + payload
    return b"\x10" + remaining_length(len(body)) + body


def encode_publish(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS-1 PUBLISH (no DUP, no retain) with ``packet_id`` (1..65535)."""
    body = _text(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + remaining_length(len(body)) + body
