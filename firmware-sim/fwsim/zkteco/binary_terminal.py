"""A simulated ZKTeco terminal answering the binary protocol on TCP or UDP (127.0.0.1, port 0 =
any; ``transport="udp"`` for UDP), as client libraries such as pyzk and the gateway's driver
talk to one.

Served, each answered ``CMD_ACK_OK`` unless said otherwise:

* ``CMD_CONNECT`` (a new session id; ``CMD_ACK_UNAUTH`` when a comm key ``password`` is set, then
  ``CMD_AUTH`` with the key derived from it and the session id, anything else ``CMD_ACK_UNAUTH``;
  a session not yet authenticated gets ``CMD_ACK_UNAUTH`` to every other command), ``CMD_EXIT``.
* ``CMD_GET_VERSION`` (``firmware``), ``CMD_OPTIONS_RRQ`` (``name=value``: ``~SerialNumber``,
  ``~Platform``, ``~DeviceName``, ``~ZKFPVersion``, ``~OS``, ``~ExtendFmt``, ``~UserExtFmt``,
  ``~IsOnlyRFMachine``, ``MAC``, ``IPAddress``..., see :func:`device.default_options`;
  ``CMD_ACK_ERROR`` for an option it lacks), ``CMD_OPTIONS_WRQ`` (stored), ``CMD_GET_PINWIDTH``.
* ``CMD_GET_FREE_SIZES`` (92 bytes: users, cards and records counted from what it serves),
  ``CMD_GET_TIME``/``CMD_SET_TIME`` (the packed time; the clock is a reading, ``now``, that does
  not run by itself), ``CMD_ENABLEDEVICE``/``CMD_DISABLEDEVICE`` (``enabled``),
  ``CMD_REFRESHDATA``, ``CMD_REFRESHOPTION``, ``CMD_CLEAR_ATTLOG`` (empties the log),
  ``CMD_STARTVERIFY``/``CMD_CANCELCAPTURE``.
* Buffered reads: ``CMD_PREPARE_BUFFER`` (``CMD_DATA_WRRQ``) of ``CMD_ATTLOG_RRQ`` (the log in
  ``record_size``-byte records) or ``CMD_USERTEMP_RRQ`` with ``FCT_USER`` (the user table in
  ``user_record_size``-byte entries) → ``CMD_ACK_OK`` with the size; ``CMD_READ_BUFFER`` →
  ``CMD_PREPARE_DATA`` (the byte count), the data, ``CMD_ACK_OK``. Over TCP the data is one
  ``CMD_DATA`` packet per read, as terminals send it; over UDP ``CMD_DATA`` datagrams of at most
  ``data_packet_size`` (1024) bytes. ``CMD_FREE_DATA`` drops the staged table.
* ``CMD_REG_EVENT`` with ``EF_ATTLOG``: ``punch()`` adds a record to the log and sends an event
  packet (command ``CMD_REG_EVENT``, session field ``EF_ATTLOG``, payload of ``event_size``
  bytes: 36 the user id as text; 10 or 14, as older firmware, the user's internal number; 12 the
  user id as a number) to each registered connection. A terminal sends the next event to a
  connection once the client has acknowledged the last one (``CMD_ACK_OK``), or after
  ``event_ack_timeout_s``.

Anything else gets ``CMD_ACK_UNKNOWN``; a packet with a bad checksum is ignored, as terminals do.
Every PIN in the log is in the user table: ``users`` as given, plus a nameless user for any other
PIN of a record or a punch, until ``remove_user()`` takes one out of the table (his records stay
in the log under his internal number, as on a terminal where an administrator deleted him).
``restart()`` drops every connection and listens again on the same port, like a terminal
rebooting. ``refuse_user_table(count)`` answers the next ``count`` requests for the user table
``CMD_ACK_ERROR``, as a busy terminal (an administrator enrolling at its keypad) does.

Over UDP each datagram is one bare packet and a "connection" is a session id: ``CMD_CONNECT``
opens one for the sender's address, any other command naming a session the terminal does not
know (e.g. one from before a ``restart()``) is answered ``CMD_ACK_UNAUTH``, ``CMD_EXIT`` ends
it. ``lose(command, count)`` makes the terminal's next ``count`` outgoing packets with that
command vanish, as a lossy network would.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from fwsim.zkteco.device import (
    DEFAULT_FIRMWARE,
    Capacity,
    LogRecord,
    User,
    default_options,
    free_sizes,
    log_table,
    option_reply,
    user_table,
    users_with,
)
from fwsim.zkteco.transport import Connection, PacketServer
from fwsim.zkteco.wire import (
    CMD,
    comm_key,
    event_payload,
    packed_time,
    packet,
    unpack_header,
    unpacked_time,
    zk_checksum,
)

__all__ = ["BinaryTerminal", "LogRecord", "User"]

log = logging.getLogger(__name__)

_EF_ATTLOG = 1
_FCT_USER = 5


class BinaryTerminal(PacketServer):
    """See the module docstring. ``start()``/``stop()`` or ``with``; ``port`` once started.

    ``users`` the enrolled users, ``user_record_size`` their layout (72 TFT, 28 older),
    ``record_size`` the log's (40, 16, 8), ``password`` the comm key (0: none), ``firmware``,
    ``serial_number``, ``device_name``, ``platform`` and ``options`` (added to or replacing the
    defaults) what it says about itself, ``encoding`` of names in the user table, ``event_size``
    the layout of its live events (36, 14, 12 or 10).
    """

    def __init__(
        self,
        *,
        records: Iterable[LogRecord] = (),
        users: Iterable[User] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        record_size: int = 40,
        user_record_size: int = 72,
        password: int = 0,
        data_packet_size: int = 1024,
        now: datetime | None = None,
        transport: Literal["tcp", "udp"] = "tcp",
        firmware: str = DEFAULT_FIRMWARE,
        serial_number: str = "CKJF203760512",
        device_name: str = "K40",
        platform: str = "ZMM220_TFT",
        options: Mapping[str, str] | None = None,
        encoding: str = "utf-8",
        capacity: Capacity | None = None,
        event_ack_timeout_s: float = 1.0,
        event_size: int = 36,
    ) -> None:
        self.records: list[LogRecord] = list(records)
        self.users: list[User] = users_with(list(users), (r.pin for r in self.records))
        self.removed: dict[str, int] = {}
        super().__init__(host, port, transport)
        self.record_size = record_size
        self.user_record_size = user_record_size
        self.password = password
        self.data_packet_size = data_packet_size
        self.firmware = firmware
        self.encoding = encoding
        self.capacity = capacity or Capacity()
        self.event_ack_timeout_s = event_ack_timeout_s
        self.event_size = event_size
        self._user_table_refusals = 0
        self.options = default_options(
            serial_number=serial_number,
            device_name=device_name,
            platform=platform,
            user_record_size=user_record_size,
            record_size=record_size,
            host=host,
        ) | dict(options or {})
        # Fail now, not in a client's read, on a user or record the layouts cannot hold.
        user_table(self.users, user_record_size, encoding)
        log_table(self.records, self.users, record_size)
        # The terminal's own (local, naive) clock reading, answered to CMD_GET_TIME.
        self.now = now or datetime(2026, 3, 2, 8, 0, 0)  # noqa: DTZ001
        self.enabled = True
        self.connects = 0
        self.commands: list[int] = []

    # -- the device ------------------------------------------------------------------------

    def punch(self, pin: str, kind: int, verify: int, at: datetime) -> LogRecord:
        """A person punches: the record joins the log (and the PIN the user table if it was not
        enrolled) and is sent to registered connections, each once it acknowledged the last. A
        PIN the user or record layout cannot hold is a ``ValueError`` and changes nothing."""
        record = LogRecord(pin, at, kind, verify)
        with self._lock:
            users = users_with(self.users, [pin])
            user_table(users[-1:], self.user_record_size, self.encoding)
            log_table([record], users, self.record_size)
            number = next(u.uid for u in users if u.user_id == pin)
            payload = event_payload(pin, verify, kind, at, size=self.event_size, number=number)
            self.records.append(record)
            self.users = users
            listeners = [c for c in self._connections if c.flags & _EF_ATTLOG]
        for conn in listeners:
            conn.event_acked.wait(self.event_ack_timeout_s)
            conn.event_acked.clear()
            if self._arrives(CMD["REG_EVENT"]):
                with contextlib.suppress(OSError):
                    conn.send(packet(CMD["REG_EVENT"], _EF_ATTLOG, 0, payload))
        return record

    def refuse_user_table(self, count: int = 1) -> None:
        """Answer the next ``count`` requests for the user table ``CMD_ACK_ERROR``."""
        with self._lock:
            self._user_table_refusals += count

    def remove_user(self, pin: str) -> None:
        """Take the user with this PIN out of the user table; his records keep his number."""
        with self._lock:
            for user in self.users:
                if user.user_id == pin:
                    self.removed[pin] = user.uid
            self.users = [u for u in self.users if u.user_id != pin]

    def _table(self, request: bytes) -> bytes | None:
        """The table a ``CMD_PREPARE_BUFFER`` asks for (``<bhii``: 1, command, fct, ext)."""
        if len(request) < 3:
            return None
        (table,) = struct.unpack_from("<h", request, 1)
        fct = struct.unpack_from("<i", request, 3)[0] if len(request) >= 7 else 0
        with self._lock:
            records, users, removed = list(self.records), list(self.users), dict(self.removed)
        if table == CMD["ATTLOG_RRQ"]:
            return log_table(records, users, self.record_size, removed)
        if table == CMD["USERTEMP_RRQ"] and fct == _FCT_USER:
            with self._lock:
                refused = self._user_table_refusals > 0
                self._user_table_refusals -= refused
            if refused:
                return None
            return user_table(users, self.user_record_size, self.encoding)
        return None

    def _free_sizes(self) -> bytes:
        with self._lock:
            return free_sizes(self.users, len(self.records), self.capacity)

    def _handle(self, conn: Connection, body: bytes) -> bool:
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
            conn.authenticated = not self.password
            answer(CMD["ACK_OK"] if conn.authenticated else CMD["ACK_UNAUTH"])
        elif command == CMD["AUTH"]:
            conn.authenticated = self._key_matches(data, conn.session)
            answer(CMD["ACK_OK"] if conn.authenticated else CMD["ACK_UNAUTH"])
        elif command == CMD["ACK_OK"]:
            conn.acks += 1  # the client acknowledging an event: no answer
            conn.event_acked.set()
        elif not conn.authenticated:
            answer(CMD["ACK_UNAUTH"])
        elif command == CMD["EXIT"]:
            answer(CMD["ACK_OK"])
            return False
        elif command == CMD["READ_BUFFER"]:
            self._send_chunk(conn, data, reply)
        else:
            code, payload = self._reply(conn, command, data)
            answer(code, payload)
        return True

    def _key_matches(self, key: bytes, session: int) -> bool:
        """A ``CMD_AUTH`` key is right when it is the comm key for this session with the tick
        count it carries (its third byte)."""
        return len(key) >= 4 and key[:4] == comm_key(self.password, session, key[2])

    def _reply(self, conn: Connection, command: int, data: bytes) -> tuple[int, bytes]:
        """The answer (command, payload) to a request that is answered with one packet."""
        ok = CMD["ACK_OK"]
        if command in (CMD["ENABLEDEVICE"], CMD["DISABLEDEVICE"]):
            self.enabled = command == CMD["ENABLEDEVICE"]
            return ok, b""
        if command in (
            CMD["STARTVERIFY"],
            CMD["CANCELCAPTURE"],
            CMD["REFRESHDATA"],
            CMD["REFRESHOPTION"],
        ):
            return ok, b""
        if command == CMD["GET_VERSION"]:
            return ok, self.firmware.encode("ascii") + b"\x00"
        if command == CMD["OPTIONS_RRQ"]:
            found = option_reply(self.options, data)
            return (ok, found) if found is not None else (CMD["ACK_ERROR"], b"")
        if command == CMD["OPTIONS_WRQ"]:
            name, sep, value = data.split(b"\x00", 1)[0].decode("ascii", "replace").partition("=")
            if not sep:
                return CMD["ACK_ERROR"], b""
            self.options[name] = value
            return ok, b""
        if command == CMD["GET_PINWIDTH"]:
            width = self.options.get("~PIN2Width", "9")
            return ok, bytes((int(width) if width.isdigit() and int(width) < 256 else 9,))
        if command == CMD["GET_FREE_SIZES"]:
            return ok, self._free_sizes()
        if command == CMD["GET_TIME"]:
            return ok, struct.pack("<I", packed_time(self.now))
        if command == CMD["SET_TIME"]:
            if len(data) < 4:
                return CMD["ACK_ERROR"], b""
            try:
                self.now = unpacked_time(struct.unpack_from("<I", data)[0])
            except ValueError:  # e.g. 31 February: no such time
                return CMD["ACK_ERROR"], b""
            return ok, b""
        if command == CMD["CLEAR_ATTLOG"]:
            with self._lock:
                self.records.clear()
            return ok, b""
        if command == CMD["REG_EVENT"]:
            conn.flags = struct.unpack("<I", data[:4])[0] if len(data) >= 4 else 0
            return ok, b""
        if command == CMD["PREPARE_BUFFER"]:
            table = self._table(data)
            if table is None:
                return CMD["ACK_ERROR"], b""
            conn.staged = table
            return ok, b"\x00" + struct.pack("<III", len(table), len(table), 0)
        if command == CMD["FREE_DATA"]:
            conn.staged = b""
            return ok, b""
        return CMD["ACK_UNKNOWN"], b""

    def _send_chunk(self, conn: Connection, request: bytes, reply: int) -> None:
        """A ``CMD_READ_BUFFER``: ``CMD_PREPARE_DATA``, the data, ``CMD_ACK_OK``. Over TCP the
        data is one ``CMD_DATA`` packet; over UDP datagrams of ``data_packet_size`` bytes."""
        if len(request) < 8:
            if self._arrives(CMD["ACK_ERROR"]):
                conn.send(packet(CMD["ACK_ERROR"], conn.session, reply))
            return
        start, size = struct.unpack_from("<ii", request)
        part = conn.staged[start : start + size]
        step = (len(part) or 1) if conn.peer is None else self.data_packet_size
        pieces = [part[i : i + step] for i in range(0, len(part), step)]
        out = [(CMD["PREPARE_DATA"], struct.pack("<II", len(part), self.data_packet_size))]
        out += [(CMD["DATA"], piece) for piece in pieces]
        out.append((CMD["ACK_OK"], b""))
        conn.send(
            *(
                packet(code, conn.session, reply, payload)
                for code, payload in out
                if self._arrives(code)
            )
        )
