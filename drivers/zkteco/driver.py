"""A ZKTeco terminal on TCP 4370: read its attendance log, then follow live events.

``ZkTcpClient`` runs one thread that connects (``CMD_CONNECT``, ``CMD_AUTH`` when the terminal
has a communication password), reads the whole attendance log with the buffered read
(``CMD_GET_FREE_SIZES`` for the record count, ``CMD_PREPARE_BUFFER``/``CMD_READ_BUFFER``/
``CMD_FREE_DATA``), registers for ``EF_ATTLOG`` live events and then waits for them, sending a
``CMD_GET_TIME`` as keep-alive. When the connection breaks or the terminal stops answering it
reconnects with exponential back-off and reads the log again, so records made while it was away
are not missed; records already emitted (same :func:`record_key`) are not emitted again within
the life of the client. After a process restart the log is emitted again: the store must count
each ``record_key`` once.

8-byte log records and 10/14-byte live events name the user by the terminal's internal number
only (``binary_records``): after a log of 8-byte records the user table is read too, and a live
event is credited with the session's table, read again when it lacks the number. Such a record
is never emitted before a table is read: while the terminal refuses it, the record is held
(``user_numbers``) and the table asked for again (``reconnect_initial_s`` doubling up to
``keepalive_s``), so a punch is stored once, under its PIN.

Punches go to ``on_punch`` and refused records and packets to ``on_reject`` as
``binary_punches`` says, dated in ``timezone`` and corrected by the terminal's clock offset,
measured with ``CMD_GET_TIME`` at connect and at every keep-alive (``clock_offset``). A refused
user table is passed to ``on_reject`` too (``user table refused``), so that punches held for it
show in the counters.

The session (reply numbers, events vs. replies) is in ``session``; ``udp.ZkUdpClient`` is this
client over UDP datagrams (``udp://host:port`` in a site file).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import tzinfo
from types import TracebackType
from typing import Self

from drivers.zkteco.binary_codec import (
    EF_ATTLOG,
    FCT_USER,
    Command,
    Packet,
    commkey,
    prepare_buffer_request,
    reg_event_request,
)
from drivers.zkteco.binary_punches import PunchEmitter
from drivers.zkteco.binary_records import (
    UNMAPPED_PREFIX,
    attendance_record_size,
    decode_attendance_buffer,
    decode_free_sizes,
    decode_live_event,
    decode_user_table,
)
from drivers.zkteco.buffered import BufferRefused, read_stream_chunk, read_with_buffer
from drivers.zkteco.clock_offset import ClockOffset
from drivers.zkteco.push_codec import DEFAULT_TIMEZONE, zone_for
from drivers.zkteco.session import POLL_S, ReplyTimeout, Session, TcpSession
from drivers.zkteco.stats import ZkClientStats
from drivers.zkteco.user_numbers import NumberCredit
from gateway.clock import Clock
from gateway.errors import DecodeError, TransportError
from gateway.records import Punch, Rejected

__all__ = ["ReplyTimeout", "ZkClientStats", "ZkTcpClient"]

log = logging.getLogger(__name__)

_MAX_CHUNK = 0xFFC0  # pyzk's TCP chunk: below the 16-bit length some firmware assumes


class ZkTcpClient:
    """One ZKTeco terminal over TCP (module docstring); ``start()``/``stop()`` or ``with``.

    The transport is chosen by ``_open_socket``/``_new_session``/``_read_chunk``/``_keepalive``,
    which ``drivers.zkteco.udp.ZkUdpClient`` overrides for UDP.
    """

    _chunk_size = _MAX_CHUNK

    def __init__(
        self,
        host: str,
        port: int = 4370,
        *,
        terminal_id: str,
        clock: Clock,
        on_punch: Callable[[Punch], None],
        password: int = 0,
        timeout_s: float = 5.0,
        timezone: str | tzinfo = DEFAULT_TIMEZONE,
        on_reject: Callable[[Rejected], None] | None = None,
        keepalive_s: float = 30.0,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self._address = (host, port)
        self._terminal_id = terminal_id
        self._on_reject = on_reject
        self._password = password
        self._timeout_s = timeout_s
        self._zone = zone_for(timezone) if isinstance(timezone, str) else timezone
        self._keepalive_s = keepalive_s
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connected = False
        self._counts = {
            f.name: 0 for f in fields(ZkClientStats) if f.name not in ("connected", "held")
        }
        self._session: Session | None = None
        self._credit = NumberCredit(retry_initial_s=reconnect_initial_s, retry_max_s=keepalive_s)
        self._offset = ClockOffset(terminal_id, clock, self._zone)
        self._punches = PunchEmitter(
            terminal_id,
            clock=clock,
            zone=self._zone,
            offset=self._offset,
            on_punch=on_punch,
            on_reject=on_reject,
            count=self._count,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ZkTcpClient already started")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"zk-{self._terminal_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

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
    def connected(self) -> bool:
        return self._connected

    @property
    def stats(self) -> ZkClientStats:
        with self._lock:
            return ZkClientStats(connected=self._connected, held=self._credit.held, **self._counts)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._reconnect_initial_s
        while not self._stop.is_set():
            try:
                with self._open_socket() as sock:
                    self._serve(sock)
                    delay = self._reconnect_initial_s
            except (OSError, TransportError, DecodeError) as exc:
                if self._connected:
                    self._count("failures")
                    delay = self._reconnect_initial_s
                log.warning(
                    "ZK terminal %s at %s:%d: %s; retrying in %.1fs",
                    self._terminal_id,
                    *self._address,
                    exc,
                    delay,
                )
            finally:
                self._connected = False
                self._session = None
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self._reconnect_max_s)

    def _open_socket(self) -> socket.socket:
        sock = socket.create_connection(self._address, timeout=self._timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _new_session(self, sock: socket.socket) -> Session:
        return TcpSession(
            sock,
            timeout_s=self._timeout_s,
            on_event=self._handle_event,
            on_bad_packet=self._bad_packet,
        )

    def _keepalive(self, session: Session) -> None:
        self._offset.measure(session.request(Command.CMD_GET_TIME))

    def _serve(self, sock: socket.socket) -> None:
        session = self._new_session(sock)
        self._session = session
        self._credit.new_session()
        self._connect(session)
        self._connected = True
        self._count("connects")
        log.info("ZK terminal %s connected (session %#06x)", self._terminal_id, session.session_id)
        # Before the log: its records are dated by the terminal's clock (``clock_offset``).
        self._keepalive(session)
        self._read_log(session)
        reply = session.request(Command.CMD_REG_EVENT, reg_event_request(EF_ATTLOG))
        if reply.command != Command.CMD_ACK_OK:
            raise TransportError(f"terminal refused live events (reply {reply.command})")
        last = time.monotonic()
        while not self._stop.is_set():
            session.pump(POLL_S)
            if self._credit.due(time.monotonic()):
                self._settle(session)
            if time.monotonic() - last >= self._keepalive_s:
                self._keepalive(session)
                last = time.monotonic()
        with contextlib.suppress(TransportError):
            session.send(Command.CMD_EXIT)

    def _connect(self, session: Session) -> None:
        reply = session.request(Command.CMD_CONNECT)
        session.session_id = reply.session_id
        if reply.command == Command.CMD_ACK_UNAUTH:
            reply = session.request(Command.CMD_AUTH, commkey(self._password, session.session_id))
        if reply.command != Command.CMD_ACK_OK:
            raise TransportError(f"ZK terminal refused the connection (reply {reply.command})")

    def _read_log(self, session: Session) -> None:
        count, _users = self._sizes(session)
        if count == 0:
            return
        buffer = self._read_with_buffer(session, prepare_buffer_request())
        records, errors = decode_attendance_buffer(buffer, count)
        self._count("log_records", len(records))
        for error in errors:
            self._punches.reject(error.reason, error.raw)
        self._offset.note_log(records)
        for record in self._credit.sort(records):
            self._punches.emit(record)
        if attendance_record_size(buffer, count) == 8:
            # Read on every log read, not kept: a user enrolled or renumbered since the last
            # one would otherwise be reported under a stale PIN.
            self._settle(session)

    def _sizes(self, session: Session) -> tuple[int | None, int | None]:
        """(records, users) the terminal counts; ``None`` each when it will not say."""
        reply = session.request(Command.CMD_GET_FREE_SIZES)
        if reply.command != Command.CMD_ACK_OK:
            return None, None
        sizes = decode_free_sizes(reply.data)
        return sizes.records, sizes.users

    def _settle(self, session: Session) -> None:
        """Read the user table and emit the records held for it (``user_numbers``). A terminal
        refusing the table keeps them held, asked again after a back-off, while its other
        punches, live ones included, go on; a read that fails ends the session as any other."""
        _count, users = self._sizes(session)
        try:
            table = self._read_with_buffer(
                session, prepare_buffer_request(Command.CMD_USERTEMP_RRQ, FCT_USER)
            )
        except BufferRefused as exc:
            first = not self._credit.refused
            delay = self._credit.refusal(time.monotonic())
            if self._on_reject is not None:
                # Counted where an operator looks (/health, the metrics): a terminal that keeps
                # refusing holds its punches, and only its table being read releases them.
                self._on_reject(
                    Rejected(
                        reason=f"user table refused: {self._credit.held} record(s) held",
                        raw=b"",
                        device_id=self._terminal_id,
                    )
                )
            log.log(
                logging.WARNING if first and self._on_reject is None else logging.INFO,
                "ZK terminal %s: user table not read (%s): %d record(s) held, asked again in %.1fs",
                self._terminal_id,
                exc,
                self._credit.held,
                delay,
            )
            return
        records = self._credit.settle(decode_user_table(table, users))
        unmapped = [r.user_id for r in records if r.user_id.startswith(UNMAPPED_PREFIX)]
        if unmapped:
            self._count("unmapped", len(unmapped))
            log.warning(
                "ZK terminal %s: %d record(s) of user numbers not in its user table: %s",
                self._terminal_id,
                len(unmapped),
                sorted(set(unmapped))[:20],
            )
        for record in records:
            self._punches.emit(record)

    def _read_with_buffer(self, session: Session, request: bytes) -> bytes:
        """The table ``request`` stages (``buffered.read_with_buffer``)."""
        return read_with_buffer(session, request, self._chunk_size, self._read_chunk)

    def _read_chunk(self, session: Session, start: int, length: int) -> bytes:
        return read_stream_chunk(session, start, length)

    # -- records ---------------------------------------------------------------------------

    def _handle_event(self, packet: Packet) -> None:
        session = self._session
        if session is not None:
            session.send(Command.CMD_ACK_OK, reply_id=packet.reply_id)
        if packet.event_code != EF_ATTLOG:
            log.debug("ZK terminal %s: event %#x ignored", self._terminal_id, packet.event_code)
            return
        records, errors = decode_live_event(packet.data)
        self._count("events", len(records))
        for error in errors:
            self._punches.reject(error.reason, error.raw)
        # One of the number form whose number this session's table lacks waits for the table
        # (read in the loop, outside this reply wait).
        for record in self._credit.sort(records):
            self._punches.emit(record)

    def _bad_packet(self, reason: str, raw: bytes) -> None:
        self._punches.reject(f"bad packet: {reason}", raw)
