"""Serial lines chosen by URL, read by a thread that survives unplugging.

A device is named by a URL as pyserial understands it (``serial_for_url``): a device path
(``/dev/ttyUSB0``, ``/dev/pts/3``, a stable symlink), ``socket://host:port`` for a ser2net
server, ``rfc2217://host:port``, ``loop://`` for a loopback. Swapping a reader for a simulator on
a pseudo-terminal is a change of URL only.

``SerialReader`` owns one port in its own thread. It hands every chunk of bytes to a callback
(normally an incremental framer) and, when the port fails (device unplugged, EIO, hang-up, the
path vanished, a ser2net server gone), closes it, reports ``on_state(False, reason)``, and keeps
reopening with exponential back-off until it succeeds or ``stop()`` is called; then it reports
``on_state(True, ...)`` again. Nothing escapes the thread: an exception from the callback is
logged (a ``DecodeError`` with its bytes in hex) and counted, and reading goes on.

A device path is opened exclusively: ``open_serial`` takes pyserial's advisory ``flock`` on
it, so a second opener, in this process or another, is refused with ``DeviceHeldElsewhere`` (a
``TransportError``) saying the port is in use by another process. This is how one of several
gateway processes on a host (a partitioned deployment, each reading the same site file) owns a
reader: the others' readers stand by, retrying with back-off and reporting no outage (the
reader is not lost: another process reads it) but ``on_standby(reason)``, and when the owner
closes the port or dies (the kernel drops the lock with the last descriptor, even on
``kill -9``) the next attempt of one of them takes the port over, within ``reopen_max_s``.
A device that vanishes while another opener held it is that opener's loss to report: a reader
that last found it held reports no outage until it has opened the device itself. Without the
lock two processes reading one port would split its bytes and garble frames. The
lock binds only openers that take it (a program opening the tty plainly is not refused);
network URLs (``socket://``, ``rfc2217://``) and ``loop://`` take no lock and open as before.

A reader given a ``PeerLock`` (``drivers.peer_lock``; the gateway gives every reader one) tells
the other gateway processes of the host from other programs: it opens the port only once it
owns the peer lock, keeps it through losses until ``stop()``, and stands by while another
process owns it (whatever the URL: one ser2net connection per host too). Standing by for a peer
says nothing about the device: once it owns the reader, a reader reports what it finds, a
missing device included. Owning the peer lock and still finding the port locked means a
program that is not a gateway process holds the reader: that is an outage, reported like a
missing device, for nobody reads the reader.

Both callbacks run on the reader's thread, one at a time; they should hand off quickly.
Back-off timing uses the monotonic clock (an I/O concern, not domain time).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import serial

from drivers.peer_lock import OwnedByPeer, PeerLock, open_owned
from gateway.errors import ConfigError, DecodeError, DeviceHeldElsewhere, TransportError

__all__ = [
    "SerialConfig",
    "SerialReader",
    "StandbyCallback",
    "StateCallback",
    "TransportStats",
    "open_serial",
]

log = logging.getLogger(__name__)

StateCallback = Callable[[bool, str], None]
"""``on_state(connected, reason)``: called on every open and on every loss of the port."""

StandbyCallback = Callable[[str], None]
"""``on_standby(reason)``: called when the reader starts standing by for another opener of its
device (``DeviceHeldElsewhere``), once per spell; the next ``on_state`` ends the spell."""

_PARITIES = {"N", "E", "O", "M", "S"}
_BYTESIZES = {5, 6, 7, 8}
_STOPBITS = {1.0, 1.5, 2.0}
_LOCK_HELD = {errno.EWOULDBLOCK, errno.EAGAIN}
"""What pyserial's failed non-blocking ``flock`` carries: another open file holds the lock."""


@dataclass(frozen=True, slots=True)
class SerialConfig:
    """How to open and watch one serial line.

    ``url`` is anything ``serial_for_url`` accepts. ``parity`` is one of ``N E O M S``.
    ``read_timeout_s`` bounds one blocking read (and so how fast ``stop()`` takes effect).
    Reopening waits ``reopen_initial_s``, doubling after each failed attempt up to
    ``reopen_max_s``; a successful open resets the delay.
    """

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1.0
    read_timeout_s: float = 0.1
    read_size: int = 256
    reopen_initial_s: float = 0.1
    reopen_max_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.url or not self.url.strip():
            raise ConfigError("serial URL is empty")
        if self.baudrate <= 0:
            raise ConfigError(f"serial {self.url}: baudrate must be positive, got {self.baudrate}")
        if self.bytesize not in _BYTESIZES:
            raise ConfigError(f"serial {self.url}: bytesize must be 5..8, got {self.bytesize}")
        if self.parity not in _PARITIES:
            raise ConfigError(f"serial {self.url}: parity must be one of N E O M S")
        if float(self.stopbits) not in _STOPBITS:
            raise ConfigError(f"serial {self.url}: stopbits must be 1, 1.5 or 2")
        if self.read_timeout_s <= 0 or self.read_size <= 0:
            raise ConfigError(f"serial {self.url}: read timeout and size must be positive")
        if not 0 < self.reopen_initial_s <= self.reopen_max_s:
            raise ConfigError(f"serial {self.url}: need 0 < reopen_initial_s <= reopen_max_s")


def open_serial(config: SerialConfig) -> serial.Serial:
    """Open the port named by ``config.url`` exclusively; raise ``TransportError`` naming the cause.

    A device path is locked (pyserial's ``exclusive=True``, a non-blocking ``flock``) for as long
    as the returned port is open: while it is, another ``open_serial`` of the same device fails
    with "in use by another process" (``DeviceHeldElsewhere``). Every pyserial URL handler
    accepts the keyword; those that are not a local tty (``socket://``, ``rfc2217://``,
    ``loop://``) ignore it.
    """
    try:
        port: serial.Serial = serial.serial_for_url(
            config.url,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.read_timeout_s,
            exclusive=True,
        )
    except serial.SerialException as exc:
        if exc.errno in _LOCK_HELD:
            raise DeviceHeldElsewhere(
                f"cannot open {config.url}: in use by another process (another opener holds "
                "its lock)"
            ) from exc
        raise TransportError(f"cannot open {config.url}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot open {config.url}: {exc}") from exc
    return port


@dataclass(frozen=True, slots=True)
class TransportStats:
    """Counters of one ``SerialReader`` (a snapshot).

    ``opens`` counts successful opens, ``reopens`` those after a loss, ``disconnects`` losses of
    an open port, ``open_failures`` failed attempts, ``decode_errors`` ``DecodeError``s and
    ``callback_errors`` other exceptions raised by the data callback.
    """

    connected: bool = False
    opens: int = 0
    reopens: int = 0
    disconnects: int = 0
    open_failures: int = 0
    bytes_read: int = 0
    decode_errors: int = 0
    callback_errors: int = 0


class SerialReader:
    """A thread that reads one serial URL and feeds ``on_bytes``; reopens on failure.

    ``start()`` returns at once; the first open happens on the thread (a missing device is
    retried like a lost one, and reported once per outage, not per attempt). ``stop()`` closes
    the port and joins the thread; it is idempotent.
    """

    def __init__(
        self,
        config: SerialConfig,
        on_bytes: Callable[[bytes], None],
        *,
        on_state: StateCallback | None = None,
        on_standby: StandbyCallback | None = None,
        peer_lock: PeerLock | None = None,
        name: str | None = None,
    ) -> None:
        self._config = config
        self._on_bytes = on_bytes
        self._on_state = on_state
        self._on_standby = on_standby
        self._peer_lock = peer_lock
        self._name = name or f"serial:{config.url}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._port: serial.Serial | None = None
        self._thread: threading.Thread | None = None
        self._connected = False
        self._counts = {
            "opens": 0,
            "reopens": 0,
            "disconnects": 0,
            "open_failures": 0,
            "bytes_read": 0,
            "decode_errors": 0,
            "callback_errors": 0,
        }

    @property
    def config(self) -> SerialConfig:
        return self._config

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def stats(self) -> TransportStats:
        with self._lock:
            return TransportStats(connected=self._connected, **self._counts)

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading, close the port, join the thread."""
        self._stop.set()
        port = self._port
        if port is not None:
            cancel = getattr(port, "cancel_read", None)
            if cancel is not None:
                try:
                    cancel()
                except Exception:  # best effort: only wakes a blocked read
                    log.debug("%s: cancel_read failed", self._name, exc_info=True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("%s: reader thread did not stop within %.1fs", self._name, timeout_s)

    def write(self, data: bytes) -> int:
        """Write to the open port (for devices that take commands); ``TransportError`` if down."""
        port = self._port
        if port is None or not self._connected:
            raise TransportError(f"{self._config.url} is not connected")
        try:
            written = port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self._config.url} failed: {exc}") from exc
        return int(written or 0)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _report(self, connected: bool, reason: str) -> None:
        with self._lock:
            self._connected = connected
        if self._on_state is None:
            return
        try:
            self._on_state(connected, reason)
        except Exception:
            log.exception("%s: on_state callback failed", self._name)

    def _standby(self, reason: str) -> None:
        if self._on_standby is None:
            return
        try:
            self._on_standby(reason)
        except Exception:
            log.exception("%s: on_standby callback failed", self._name)

    def _run(self) -> None:
        try:
            self._run_until_stopped()
        finally:
            if self._peer_lock is not None:
                self._peer_lock.release()

    def _run_until_stopped(self) -> None:
        delay = self._config.reopen_initial_s
        ever_opened = False
        outage_reported = False
        standing_by = False
        # Last seen held by another opener: a loss now is that opener's to report, not ours
        # (two processes reporting one unplugged reader would raise two alerts).
        held_elsewhere = False
        while not self._stop.is_set():
            try:
                port = self._open()
            except DeviceHeldElsewhere as exc:
                # Another process reads the device: standing by is no outage of the reader.
                self._count("open_failures")
                # Only a port found locked tells of its device; a peer owner's losses are its own.
                held_elsewhere = held_elsewhere or not isinstance(exc, OwnedByPeer)
                if not standing_by:
                    log.info("%s: %s; standing by", self._name, exc)
                    standing_by = True
                    self._standby(str(exc))
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self._config.reopen_max_s)
                continue
            except TransportError as exc:
                self._count("open_failures")
                if standing_by and held_elsewhere:
                    log.info("%s: %s; the process that held it reports the loss", self._name, exc)
                standing_by = False
                if not outage_reported and not held_elsewhere:
                    log.warning("%s: %s; retrying", self._name, exc)
                    self._report(False, str(exc))
                    outage_reported = True
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self._config.reopen_max_s)
                continue
            self._port = port
            standing_by = held_elsewhere = False
            self._count("opens")
            if ever_opened:
                self._count("reopens")
            ever_opened = True
            outage_reported = False
            delay = self._config.reopen_initial_s
            log.info("%s: opened", self._name)
            self._report(True, f"opened {self._config.url}")
            reason = self._read_until_failure(port)
            self._port = None
            try:
                port.close()
            except Exception:  # the port is already broken
                log.debug("%s: close failed", self._name, exc_info=True)
            if reason is None:
                break
            self._count("disconnects")
            log.warning("%s: lost: %s", self._name, reason)
            self._report(False, reason)
            outage_reported = True
            if self._stop.wait(delay):
                break
        if self._connected:
            self._report(False, "stopped")

    def _open(self) -> serial.Serial:
        """Open the port once this process owns the reader (``drivers.peer_lock.open_owned``):
        ``OwnedByPeer`` (a standby) while another gateway process owns it; a port held by a
        program that is not a gateway is ``HeldByOtherProgram``, a ``TransportError`` (an
        outage, for nobody reads the reader)."""
        return open_owned(self._peer_lock, self._config.url, lambda: open_serial(self._config))

    def _read_until_failure(self, port: serial.Serial) -> str | None:
        """Read until the port fails (return why) or ``stop()`` (return ``None``)."""
        size = self._config.read_size
        while not self._stop.is_set():
            try:
                waiting = port.in_waiting
                data = port.read(min(max(waiting, 1), size))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial's posix port after a concurrent close.
                if self._stop.is_set():
                    return None
                return f"read from {self._config.url} failed: {exc}"
            if not data:
                continue
            self._count("bytes_read", len(data))
            self._deliver(bytes(data))
        return None

    def _deliver(self, data: bytes) -> None:
        try:
            self._on_bytes(data)
        except DecodeError as exc:
            self._count("decode_errors")
            log.warning(
                "%s: undecodable input (%s): %s", self._name, exc.reason, (exc.raw or data).hex()
            )
        except Exception:
            self._count("callback_errors")
            log.exception("%s: data callback failed on %s", self._name, data.hex())
