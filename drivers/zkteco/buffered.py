"""Reading a staged table (the attendance log, the user table) off a terminal's session.

The terminal stages the table (``CMD_PREPARE_BUFFER``), and the client reads it in chunks
(``CMD_READ_BUFFER``): over TCP one chunk comes as a ``CMD_PREPARE_DATA`` announcement, its
``CMD_DATA`` packets and a closing ``CMD_ACK_OK`` (``read_stream_chunk``); UDP reads its chunks
its own way (``drivers.zkteco.udp``), and the two share ``read_with_buffer``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from drivers.zkteco.binary_codec import Command, prepare_buffer_size, read_buffer_request
from drivers.zkteco.session import Session
from gateway.errors import TransportError

__all__ = ["BufferRefused", "read_stream_chunk", "read_with_buffer"]

log = logging.getLogger(__name__)


class BufferRefused(TransportError):
    """The terminal answered a buffered read with a refusal (not a transport failure)."""


def read_with_buffer(
    session: Session,
    request: bytes,
    chunk_size: int,
    read_chunk: Callable[[Session, int, int], bytes],
) -> bytes:
    """The table ``request`` (``prepare_buffer_request``) stages, read ``chunk_size`` bytes at a
    time with ``read_chunk(session, start, length)``; ``BufferRefused`` when the terminal will
    not stage it."""
    reply = session.request(Command.CMD_PREPARE_BUFFER, request)
    if reply.command == Command.CMD_DATA:
        return reply.data
    if reply.command != Command.CMD_ACK_OK:
        raise BufferRefused(f"terminal refused the buffered read (reply {reply.command})")
    size = prepare_buffer_size(reply.data)
    parts: list[bytes] = []
    start = 0
    while start < size:
        length = min(chunk_size, size - start)
        parts.append(read_chunk(session, start, length))
        start += length
    session.request(Command.CMD_FREE_DATA)
    return b"".join(parts)


def read_stream_chunk(session: Session, start: int, length: int) -> bytes:
    """One chunk of a staged table over a stream session (TCP)."""
    reply = session.request(Command.CMD_READ_BUFFER, read_buffer_request(start, length))
    if reply.command == Command.CMD_DATA:
        return reply.data
    if reply.command != Command.CMD_PREPARE_DATA or len(reply.data) < 4:
        raise TransportError(f"unexpected reply {reply.command} to a buffer read")
    expected = int.from_bytes(reply.data[:4], "little")
    data = bytearray()
    while len(data) < expected:
        packet = session.next_reply(None)
        if packet.command != Command.CMD_DATA:
            raise TransportError(f"buffer read cut short by reply {packet.command}")
        data += packet.data
    closing = session.next_reply(None)
    if closing.command != Command.CMD_ACK_OK:
        log.debug("ZK: buffer read ended with reply %s", closing.command)
    return bytes(data[:expected])
