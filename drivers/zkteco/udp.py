"""A ZKTeco terminal on UDP 4370: the same session as ``ZkTcpClient``, one bare packet a datagram.

``ZkUdpClient`` differs from the TCP client only where UDP does:

* Each datagram is one packet without the TCP prefix; a datagram that does not parse (short,
  bad checksum) is logged as hex and dropped.
* A request that gets no answer within ``timeout_s`` is sent again (with a new reply number, so
  a late answer to the first try is recognised as stale and dropped), ``retries`` times, before
  the session is given up and the client reconnects.
* Large data (the attendance log) is read in chunks of at most 16 KiB (``CMD_READ_BUFFER``); the
  terminal answers each with ``CMD_PREPARE_DATA`` (the byte count), several ``CMD_DATA``
  datagrams and a closing ``CMD_ACK_OK``. A chunk whose datagrams do not all arrive (the closing
  ``CMD_ACK_OK`` comes first, or the terminal falls silent) is asked for again.
* There is no connection to break: a terminal that restarted shows up as a reply carrying
  another session id, a refused keep-alive (``CMD_ACK_UNAUTH``), silence, or an ICMP
  port-unreachable. Each ends the session, and the client connects again and re-reads the log.
  The keep-alive (``keepalive_s``) is how a quiet session notices; keep it short.

Live events arrive as ``CMD_REG_EVENT`` datagrams and are acknowledged with ``CMD_ACK_OK``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from drivers.zkteco.binary_codec import Command, Packet, parse_packet, read_buffer_request
from drivers.zkteco.driver import ZkTcpClient
from drivers.zkteco.session import ReplyTimeout, Session
from gateway.errors import DecodeError, TransportError

__all__ = ["UDP_CHUNK", "ZkUdpClient"]

log = logging.getLogger(__name__)

UDP_CHUNK = 16 * 1024
"""Bytes asked for per ``CMD_READ_BUFFER`` over UDP (what terminals are known to serve)."""

_DATAGRAM_MAX = 65535
_DRAIN_S = 0.05


class _UdpSession(Session):
    """A session on a connected UDP socket, with retried requests and the session-id check."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        timeout_s: float,
        retries: int,
        on_event: Callable[[Packet], None],
        on_bad_packet: Callable[[str, bytes], None] | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, on_event=on_event)
        self._sock = sock
        self._retries = retries
        self._on_bad_packet = on_bad_packet
        self.bad_datagrams = 0

    def _transmit(self, packet: bytes) -> None:
        self._sock.send(packet)

    def _receive(self, wait_s: float) -> list[Packet]:
        self._sock.settimeout(wait_s)
        try:
            datagram = self._sock.recv(_DATAGRAM_MAX)
        except TimeoutError:
            return []
        except OSError as exc:  # e.g. ICMP port unreachable: nobody listens any more
            raise TransportError(f"receive from ZK terminal failed: {exc}") from exc
        try:
            packet = parse_packet(datagram)
        except DecodeError as exc:
            self.bad_datagrams += 1
            if self._on_bad_packet is not None:
                self._on_bad_packet(exc.reason, datagram)
            else:
                log.warning("ZK over UDP: %s; datagram %s dropped", exc.reason, datagram.hex())
            return []
        if (
            packet.command != Command.CMD_REG_EVENT
            and self.session_id
            and packet.session_id not in (0, self.session_id)
        ):
            # Data packets may carry session 0; any other id means the terminal no longer
            # knows our session (it restarted), so nothing more will come of it.
            raise TransportError(
                f"ZK terminal answered for session {packet.session_id:#06x}, "
                f"ours is {self.session_id:#06x}"
            )
        return [packet]

    def drain(self) -> None:
        """Drop what arrives within a moment (late answers to a request about to be retried);
        events among it are still handled."""
        for packet in self._packets(_DRAIN_S):
            log.debug("ZK over UDP: dropping late %s", packet)

    def request(self, command: int, data: bytes = b"") -> Packet:
        for attempt in range(self._retries + 1):
            rid = self.send(command, data)
            try:
                return self.next_reply(rid)
            except ReplyTimeout:
                log.info("ZK over UDP: no answer to command %d (try %d)", command, attempt + 1)
        raise ReplyTimeout(f"ZK terminal did not answer command {command} in time")


class _ShortRead(ReplyTimeout):
    """A chunk whose data datagrams did not all arrive."""


class ZkUdpClient(ZkTcpClient):
    """One ZKTeco terminal over UDP (module docstring). Takes ``ZkTcpClient``'s arguments plus
    ``retries`` (resends of an unanswered request); ``start()``/``stop()`` or ``with``."""

    _chunk_size = UDP_CHUNK

    def __init__(self, host: str, port: int = 4370, *, retries: int = 2, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self._retries = retries

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # Connected: the kernel drops datagrams from anyone but the terminal.
            sock.connect(self._address)
        except OSError:
            sock.close()
            raise
        return sock

    def _new_session(self, sock: socket.socket) -> Session:
        return _UdpSession(
            sock,
            timeout_s=self._timeout_s,
            retries=self._retries,
            on_event=self._handle_event,
            on_bad_packet=self._bad_packet,
        )

    def _keepalive(self, session: Session) -> None:
        reply = session.request(Command.CMD_GET_TIME)
        if reply.command != Command.CMD_ACK_OK:
            raise TransportError(f"ZK terminal refused the keep-alive (reply {reply.command})")
        self._offset.measure(reply)

    def _read_chunk(self, session: Session, start: int, length: int) -> bytes:
        assert isinstance(session, _UdpSession)
        for attempt in range(self._retries + 1):
            try:
                return self._read_chunk_once(session, start, length)
            except ReplyTimeout as exc:
                log.info(
                    "ZK terminal %s: buffer read at %d incomplete (%s, try %d)",
                    self._terminal_id,
                    start,
                    exc,
                    attempt + 1,
                )
                session.drain()
        raise ReplyTimeout(f"buffer read at {start} of {length} bytes kept failing")

    def _read_chunk_once(self, session: _UdpSession, start: int, length: int) -> bytes:
        rid = session.send(Command.CMD_READ_BUFFER, read_buffer_request(start, length))
        reply = session.next_reply(rid)
        if reply.command == Command.CMD_DATA:
            return reply.data
        if reply.command != Command.CMD_PREPARE_DATA or len(reply.data) < 4:
            raise TransportError(f"unexpected reply {reply.command} to a buffer read")
        expected = int.from_bytes(reply.data[:4], "little")
        data = bytearray()
        while len(data) < expected:
            packet = session.next_reply(None)
            if packet.command == Command.CMD_DATA:
                data += packet.data
            elif packet.command == Command.CMD_ACK_OK and packet.reply_id == rid:
                raise _ShortRead(f"{len(data)} of {expected} bytes arrived")
            else:
                log.debug("ZK over UDP: dropping %s during a buffer read", packet)
        # The closing CMD_ACK_OK is not waited for: if it was lost the data is still whole,
        # and if it comes it is dropped as a stale reply by the next request.
        return bytes(data[:expected])
