"""A simulated ZKTeco terminal answering the binary protocol on TCP or UDP (127.0.0.1, port 0 =
any; ``transport="udp"`` for UDP).

Served: ``CMD_CONNECT`` (a new session id; ``CMD_ACK_UNAUTH`` first when a ``password`` is set,
then any ``CMD_AUTH`` is accepted), ``CMD_EXIT``, ``CMD_ENABLEDEVICE``/``CMD_DISABLEDEVICE``,
``CMD_GET_FREE_SIZES`` (92-byte counters), ``CMD_GET_TIME``, the buffered read of the
attendance log (``CMD_PREPARE_BUFFER`` → ``CMD_ACK_OK`` with the size; ``CMD_READ_BUFFER`` →
``CMD_PREPARE_DATA``, ``CMD_DATA`` packets of at most ``data_packet_size`` bytes, ``CMD_ACK_OK``;
``CMD_FREE_DATA``), ``CMD_REG_EVENT``. Anything else gets ``CMD_ACK_UNKNOWN``; a packet with a
bad checksum is ignored, as terminals do.

``punch()`` adds a record to the log and sends an ``EF_ATTLOG`` event (36-byte layout) to every
connection registered for it. ``restart()`` drops every connection and listens again on the
same port, like a terminal rebooting.

Over UDP each datagram is one bare packet and a "connection" is a session id: ``CMD_CONNECT``
opens one for the sender's address, any other command naming a session the terminal does not
know (e.g. one from before a ``restart()``) is answered ``CMD_ACK_UNAUTH``, ``CMD_EXIT`` ends
it. ``lose(command, count)`` makes the terminal's next ``count`` outgoing packets with that
command vanish, as a lossy network would.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Literal, Self

from fwsim.zkteco.wire import (
    CMD,
    MAGIC,
    event_payload,
    pack_record,
    packed_time,
    packet,
    unpack_header,
    zk_checksum,
)

__all__ = ["BinaryTerminal", "LogRecord"]

log = logging.getLogger(__name__)

_EF_ATTLOG = 1


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record in the terminal's log: PIN, local time (naive), punch state, verify mode."""

    pin: str
    at: datetime
    punch: int = 0
    verify: int = 1


class _Connection:
    """A TCP connection, or over UDP a session with the peer's address (``peer``)."""

    def __init__(
        self, sock: socket.socket, session: int, peer: tuple[str, int] | None = None
    ) -> None:
        self.sock = sock
        self.session = session
        self.peer = peer
        self.flags = 0
        self.staged = b""
        self.send_lock = threading.Lock()
        self.acks = 0

    def send(self, body: bytes) -> None:
        """Send one bare packet, framed for TCP or as one datagram."""
        with self.send_lock:
            if self.peer is None:
                self.sock.sendall(MAGIC + struct.pack("<I", len(body)) + body)
            else:
                self.sock.sendto(body, self.peer)


class BinaryTerminal:
    """See the module docstring. ``start()``/``stop()`` or ``with``; ``port`` once started."""

    def __init__(
        self,
        *,
        records: Iterable[LogRecord] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        record_size: int = 40,
        password: int = 0,
        data_packet_size: int = 1008,
        now: datetime | None = None,
        transport: Literal["tcp", "udp"] = "tcp",
    ) -> None:
        self.records: list[LogRecord] = list(records)
        self.transport = transport
        self.host = host
        self.port = port
        self.record_size = record_size
        self.password = password
        self.data_packet_size = data_packet_size
        # The terminal's own (local, naive) clock reading, answered to CMD_GET_TIME.
        self.now = now or datetime(2026, 3, 2, 8, 0, 0)  # noqa: DTZ001
        self.connects = 0
        self.commands: list[int] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []
        self._next_session = 0x4A10
        self._lost: dict[int, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

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
            if self._lost.get(command, 0) <= 0:
                return True
            self._lost[command] -= 1
            return False

    # -- the device ------------------------------------------------------------------------

    def punch(self, pin: str, kind: int, verify: int, at: datetime) -> LogRecord:
        """A person punches: the record joins the log and is sent to registered connections."""
        record = LogRecord(pin, at, kind, verify)
        with self._lock:
            self.records.append(record)
            listeners = [c for c in self._connections if c.flags & _EF_ATTLOG]
        payload = event_payload(pin, verify, kind, at)
        for conn in listeners:
            with contextlib.suppress(OSError):
                conn.send(packet(CMD["REG_EVENT"], _EF_ATTLOG, 0, payload))
        return record

    def _log_buffer(self) -> bytes:
        with self._lock:
            records = list(self.records)
        body = b"".join(
            pack_record(self.record_size, i + 1, r.pin, r.verify, r.punch, r.at)
            for i, r in enumerate(records)
        )
        return struct.pack("<I", len(body)) + body

    def _free_sizes(self) -> bytes:
        fields = [0] * 23
        with self._lock:
            count = len(self.records)
        fields[4] = len({r.pin for r in self.records})
        fields[8] = count
        fields[15] = 10000
        fields[16] = 100000
        fields[19] = 100000 - count
        return struct.pack("<23i", *fields)

    # -- connections -----------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _addr = listener.accept()
            except OSError:
                return
            with self._lock:
                self._next_session = (self._next_session + 1) & 0xFFFF
                conn = _Connection(sock, self._next_session)
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
            conn = known[0] if known else _Connection(sock, 0, peer)
            try:
                if not self._handle(conn, body):
                    with self._lock:
                        if conn in self._connections:
                            self._connections.remove(conn)
            except OSError:
                return

    def _open_session(self, conn: _Connection) -> None:
        """A ``CMD_CONNECT`` over UDP: a fresh session for the sender."""
        with self._lock:
            self._next_session = (self._next_session + 1) & 0xFFFF
            conn.session = self._next_session
            self._connections.append(conn)

    def _serve(self, conn: _Connection) -> None:
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
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.sock.close()

    def _handle(self, conn: _Connection, body: bytes) -> bool:
        """Answer one packet; ``False`` closes the connection."""
        command, chk, _session, reply = unpack_header(body)
        if zk_checksum(body[:2] + b"\x00\x00" + body[4:]) != chk:
            log.debug("simulated ZK terminal: bad checksum, packet ignored")
            return True
        data = body[8:]
        self.commands.append(command)

        def answer(code: int, payload: bytes = b"", session: int | None = None) -> None:
            if self._arrives(code):
                conn.send(
                    packet(code, conn.session if session is None else session, reply, payload)
                )

        if conn.peer is not None and command == CMD["CONNECT"]:
            self._open_session(conn)
        elif conn.peer is not None and conn not in self._connections:
            answer(CMD["ACK_UNAUTH"], session=0)  # a session this terminal does not know
            return True
        if command == CMD["CONNECT"]:
            self.connects += 1
            answer(CMD["ACK_UNAUTH"] if self.password else CMD["ACK_OK"])
        elif command == CMD["AUTH"]:
            answer(CMD["ACK_OK"])
        elif command == CMD["EXIT"]:
            answer(CMD["ACK_OK"])
            return False
        elif command in (CMD["ENABLEDEVICE"], CMD["DISABLEDEVICE"]):
            answer(CMD["ACK_OK"])
        elif command == CMD["GET_FREE_SIZES"]:
            answer(CMD["ACK_OK"], self._free_sizes())
        elif command == CMD["GET_TIME"]:
            answer(CMD["ACK_OK"], struct.pack("<I", packed_time(self.now)))
        elif command == CMD["REG_EVENT"]:
            conn.flags = struct.unpack("<I", data[:4])[0] if len(data) >= 4 else 0
            answer(CMD["ACK_OK"])
        elif command == CMD["PREPARE_BUFFER"]:
            table = struct.unpack("<h", data[1:3])[0] if len(data) >= 3 else -1
            if table != CMD["ATTLOG_RRQ"]:
                answer(CMD["ACK_ERROR"])
            else:
                conn.staged = self._log_buffer()
                size = len(conn.staged)
                answer(CMD["ACK_OK"], b"\x00" + struct.pack("<III", size, size, 0))
        elif command == CMD["READ_BUFFER"]:
            start, size = struct.unpack("<ii", data[:8])
            part = conn.staged[start : start + size]
            answer(CMD["PREPARE_DATA"], struct.pack("<II", len(part), self.data_packet_size))
            for offset in range(0, len(part), self.data_packet_size):
                answer(CMD["DATA"], part[offset : offset + self.data_packet_size], session=0)
            answer(CMD["ACK_OK"])
        elif command == CMD["FREE_DATA"]:
            conn.staged = b""
            answer(CMD["ACK_OK"])
        elif command == CMD["ACK_OK"]:
            conn.acks += 1  # the client acknowledging an event: no answer
        else:
            answer(CMD["ACK_UNKNOWN"])
        return True
