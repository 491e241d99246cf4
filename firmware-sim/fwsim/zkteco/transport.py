"""The sockets of a simulated ZKTeco binary terminal: a TCP listener with one thread per
connection (packets framed with ``50 50 82 7d`` + length) or one UDP socket where a "connection"
is a session id and the sender's address. A subclass answers each packet (``_handle``).

``lose(command, count)`` makes the next ``count`` outgoing packets with that command vanish, as
a lossy network would; ``sent`` lists the commands of the packets sent (lost ones too).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Literal, Self

from fwsim.zkteco.wire import MAGIC, unpack_header

__all__ = ["Connection", "PacketServer"]

_EF_ATTLOG = 1


class Connection:
    """A TCP connection, or over UDP a session with the peer's address (``peer``)."""

    def __init__(
        self, sock: socket.socket, session: int, peer: tuple[str, int] | None = None
    ) -> None:
        self.sock = sock
        self.session = session
        self.peer = peer
        self.flags = 0
        self.authenticated = False
        self.staged = b""
        self.send_lock = threading.Lock()
        self.acks = 0
        # Set while no event awaits the client's acknowledgement.
        self.event_acked = threading.Event()
        self.event_acked.set()

    def send(self, *bodies: bytes) -> None:
        """Send bare packets, framed for TCP (in one write) or one datagram each."""
        with self.send_lock:
            if self.peer is None:
                self.sock.sendall(b"".join(MAGIC + struct.pack("<I", len(b)) + b for b in bodies))
            else:
                for body in bodies:
                    self.sock.sendto(body, self.peer)


class PacketServer:
    """Listens on ``host``:``port`` (0 = any; ``port`` once started) over ``transport`` and hands
    each packet to ``_handle``; ``start()``/``stop()`` or ``with``."""

    def __init__(self, host: str, port: int, transport: Literal["tcp", "udp"]) -> None:
        self.host = host
        self.port = port
        self.transport = transport
        self.sent: list[int] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: list[Connection] = []
        self._threads: list[threading.Thread] = []
        self._next_session = 0x4A10
        self._lost: dict[int, int] = {}

    def _handle(self, conn: Connection, body: bytes) -> bool:
        """Answer one packet; ``False`` closes the connection (ends the UDP session)."""
        raise NotImplementedError

    def start(self) -> None:
        udp = self.transport == "udp"
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        if not udp:
            listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        serve = self._serve_datagrams if udp else self._accept
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.event_acked.set()
            if conn.peer is not None:
                continue  # a UDP session shares the (closed) listening socket
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.sock.close()
        for thread in self._threads:
            thread.join(2.0)
        self._threads = []

    def restart(self) -> None:
        """Drop every connection (UDP: forget every session) and listen again on the same
        port."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def live_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections if c.flags & _EF_ATTLOG)

    def lose(self, command: int, count: int = 1) -> None:
        """The next ``count`` packets with ``command`` the terminal sends are lost on the way."""
        with self._lock:
            self._lost[command] = self._lost.get(command, 0) + count

    def _arrives(self, command: int) -> bool:
        with self._lock:
            self.sent.append(command)
            if self._lost.get(command, 0) <= 0:
                return True
            self._lost[command] -= 1
            return False

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _addr = listener.accept()
            except OSError:
                return
            with self._lock:
                self._next_session = (self._next_session + 1) & 0xFFFF
                conn = Connection(sock, self._next_session)
                self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve_datagrams(self, sock: socket.socket) -> None:
        while True:
            try:
                body, peer = sock.recvfrom(65535)
            except OSError:
                return
            if len(body) < 8:
                continue
            _command, _chk, session, _reply = unpack_header(body)
            with self._lock:
                known = [c for c in self._connections if c.session == session and c.peer == peer]
            conn = known[0] if known else Connection(sock, 0, peer)
            try:
                if not self._handle(conn, body):
                    self._forget(conn)
            except OSError:
                return

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        conn.event_acked.set()

    def _open_session(self, conn: Connection) -> None:
        """A ``CMD_CONNECT`` over UDP: a fresh session for the sender."""
        with self._lock:
            self._next_session = (self._next_session + 1) & 0xFFFF
            conn.session = self._next_session
            self._connections.append(conn)

    def _serve(self, conn: Connection) -> None:
        buffer = b""
        try:
            while True:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while True:
                    start = buffer.find(MAGIC)
                    if start < 0:
                        buffer = buffer[-3:]
                        break
                    buffer = buffer[start:]
                    if len(buffer) < 8:
                        break
                    (length,) = struct.unpack("<I", buffer[4:8])
                    if len(buffer) < 8 + length:
                        break
                    body, buffer = buffer[8 : 8 + length], buffer[8 + length :]
                    if length < 8:
                        continue
                    if not self._handle(conn, body):
                        return
        except OSError:
            return
        finally:
            self._forget(conn)
            conn.sock.close()
