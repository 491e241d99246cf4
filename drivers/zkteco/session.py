"""One session of the ZKTeco binary protocol, whatever carries it: reply numbering, telling
replies from unasked events, waiting for an answer. ``TcpSession`` moves packets on a TCP stream;
``drivers.zkteco.udp`` has the UDP one."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator

from drivers.zkteco.binary_codec import Command, Packet, TcpFramer, build_packet, frame_tcp
from gateway.errors import TransportError

__all__ = ["POLL_S", "ReplyTimeout", "Session", "TcpSession"]

log = logging.getLogger(__name__)

POLL_S = 0.2
"""Longest single wait on the socket, so a stop request is seen promptly."""


class ReplyTimeout(TransportError):
    """The terminal did not answer in time (over UDP possibly a lost datagram: worth a retry)."""


class Session:
    """One session: reply numbering, replies vs. unasked events. A subclass moves the packets
    (``_transmit`` one bare packet, ``_receive`` what arrives within a wait)."""

    def __init__(self, *, timeout_s: float, on_event: Callable[[Packet], None]) -> None:
        self._timeout_s = timeout_s
        self._on_event = on_event
        self._ready: list[Packet] = []
        self.session_id = 0
        self._reply_id = 0

    def _transmit(self, packet: bytes) -> None:
        raise NotImplementedError

    def _receive(self, wait_s: float) -> list[Packet]:
        """Packets arriving within ``wait_s`` (none when nothing came); ``TransportError``
        when the transport is gone."""
        raise NotImplementedError

    def send(self, command: int, data: bytes = b"", *, reply_id: int | None = None) -> int:
        rid = self._reply_id if reply_id is None else reply_id
        if reply_id is None:
            self._reply_id = (self._reply_id + 1) % 0xFFFF
        try:
            self._transmit(build_packet(command, self.session_id, rid, data))
        except OSError as exc:
            raise TransportError(f"send to ZK terminal failed: {exc}") from exc
        return rid

    def _packets(self, wait_s: float) -> Iterator[Packet]:
        """Yield non-event packets arriving within ``wait_s``; events go to ``on_event``."""
        deadline = time.monotonic() + wait_s
        while True:
            while self._ready:
                packet = self._ready.pop(0)
                if packet.command == Command.CMD_REG_EVENT:
                    self._on_event(packet)
                else:
                    yield packet
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._ready.extend(self._receive(min(remaining, POLL_S)))

    def pump(self, wait_s: float) -> None:
        """Handle events for ``wait_s``; stray replies are dropped."""
        for packet in self._packets(wait_s):
            log.debug("ZK: dropping unexpected reply %s", packet)

    def next_reply(self, reply_id: int | None) -> Packet:
        """The next reply with ``reply_id`` (any reply when ``None``) within the timeout."""
        for packet in self._packets(self._timeout_s):
            if reply_id is None or packet.reply_id == reply_id:
                return packet
            log.debug("ZK: dropping stale reply %s (waiting for %d)", packet, reply_id)
        raise ReplyTimeout("ZK terminal did not answer in time")

    def request(self, command: int, data: bytes = b"") -> Packet:
        return self.next_reply(self.send(command, data))


class TcpSession(Session):
    """A session on a TCP stream: packets framed with the ``50 50 82 7d`` prefix."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        timeout_s: float,
        on_event: Callable[[Packet], None],
        on_bad_packet: Callable[[str, bytes], None] | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s, on_event=on_event)
        self._sock = sock
        self._framer = TcpFramer(on_bad_packet=on_bad_packet)

    def _transmit(self, packet: bytes) -> None:
        self._sock.sendall(frame_tcp(packet))

    def _receive(self, wait_s: float) -> list[Packet]:
        self._sock.settimeout(wait_s)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return []
        except OSError as exc:
            raise TransportError(f"receive from ZK terminal failed: {exc}") from exc
        if not chunk:
            raise TransportError("ZK terminal closed the connection")
        return self._framer.feed(chunk)
