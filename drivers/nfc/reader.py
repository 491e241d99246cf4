"""A patrol checkpoint reader driven by nfcpy, in its own thread.

:class:`NfcCheckpointReader` opens the reader by path (see :mod:`drivers.nfc.frontend`), runs
nfcpy's ``connect(rdwr=...)`` loop and turns each activated tag into a
:class:`~gateway.records.CheckpointScan`. Contract:

* one scan per presentation: a tag seen again less than ``debounce_s`` (on the injected clock)
  after it was last seen (read, or still held to the antenna) is not reported again. nfcpy keeps
  a Type 2 tag connected while it stays in the field (presence check by READ); a Mifare
  Classic card is held by selecting it again by UID every ``poll_interval_s``;
* the reader failing (unplugged, garbage, bad checksums, no answer) never stops the thread:
  the frontend is closed and reopened, at once for the first retry, then with exponential
  back-off (also when a re-initialised reader keeps failing within seconds).
  ``on_state(False, reason)`` is called when a reopen fails, ``on_state(True, reason)`` when
  the reader is open again (and at the first open); a reader whose tty another process holds
  (``DeviceHeldElsewhere``) stands by, retrying, with no ``on_state(False)``: it is not lost;
  ``on_standby(reason)`` is called instead, once per spell of standing by; a reader that
  last found its tty held reports no loss of it (the holder does) until it has opened it;
* given a ``PeerLock`` (``drivers.peer_lock``), the reader opens its device only once it owns
  that lock, keeps it until stopped, and stands by while another gateway process of the host
  owns it (any path, ``usb:`` too); a tty held although the lock is owned here is held by a
  program that is not a gateway process: an outage, reported with ``on_state(False)``;
* ``stop()`` returns within about a second: nfcpy checks the termination flag between polls;
* exceptions raised by ``on_scan`` / ``on_state`` / ``on_standby`` are logged, never propagated.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import nfc.clf

from drivers.nfc.frontend import ReaderPath, open_frontend, parse_reader_path
from drivers.nfc.tagread import TagReading, identity_of, read_tag
from drivers.peer_lock import OwnedByPeer, PeerLock, open_owned
from gateway.clock import Clock
from gateway.errors import DeviceHeldElsewhere
from gateway.records import CheckpointScan, TagTechnology

__all__ = ["NfcCheckpointReader", "NfcReaderStats"]

log = logging.getLogger(__name__)

SOURCE_FORMAT = "nfcpy"
_STABLE_SESSION_S = 2.0
"""A session that lasted this long before failing resets the back-off (real seconds)."""


@dataclass(frozen=True, slots=True)
class NfcReaderStats:
    """Counters since the reader was created."""

    opens: int = 0
    open_failures: int = 0
    session_errors: int = 0
    tags_read: int = 0
    scans: int = 0
    debounced: int = 0
    ndef_errors: int = 0
    callback_errors: int = 0


class NfcCheckpointReader:
    """Reads patrol checkpoint tags on one NFC reader and reports each presentation once.

    ``path`` is an nfcpy path (``tty:USB0:pn532``, ``usb:054c:06c3``) or
    ``tty:<absolute device path>:pn532``. ``targets`` are the nfcpy bit rate/type targets polled
    (ISO 14443-A at 106 kbps covers NTAG and Mifare stickers). ``poll_interval_s`` is the real
    time between polls with no tag; ``backoff_initial_s``/``backoff_max_s`` bound the wait
    between failed reopen attempts.
    """

    def __init__(
        self,
        path: str,
        reader_id: str,
        *,
        clock: Clock,
        on_scan: Callable[[CheckpointScan], None],
        debounce_s: float = 2.0,
        on_state: Callable[[bool, str], None] | None = None,
        on_standby: Callable[[str], None] | None = None,
        peer_lock: PeerLock | None = None,
        targets: tuple[str, ...] = ("106A",),
        poll_interval_s: float = 0.1,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        if debounce_s < 0:
            raise ValueError("debounce_s must not be negative")
        self._path: ReaderPath = parse_reader_path(path)
        self.reader_id = reader_id
        self._clock = clock
        self._on_scan = on_scan
        self._on_state = on_state
        self._on_standby = on_standby
        self._peer_lock = peer_lock
        self._debounce_s = debounce_s
        self._targets = list(targets)
        self._poll_interval_s = poll_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats = NfcReaderStats()
        self._last_seen: dict[str, datetime] = {}
        self._connected: bool | None = None

    # -- public surface ----------------------------------------------------------------------

    @property
    def stats(self) -> NfcReaderStats:
        with self._lock:
            return self._stats

    @property
    def connected(self) -> bool:
        """True while the reader is open and answering."""
        return bool(self._connected)

    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"nfc-reader-{self.reader_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish, wait for it, and leave the reader closed."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("NFC reader %s did not stop within %.1f s", self.reader_id, timeout)
            self._thread = None

    # -- the thread --------------------------------------------------------------------------

    def _bump(self, **deltas: int) -> None:
        with self._lock:
            current = self._stats
            self._stats = replace(
                current, **{k: getattr(current, k) + v for k, v in deltas.items()}
            )

    def _run(self) -> None:
        try:
            self._run_until_stopped()
        finally:
            if self._peer_lock is not None:
                self._peer_lock.release()

    def _open(self) -> Any:
        """Open the frontend once this process owns the reader
        (``drivers.peer_lock.open_owned``): ``OwnedByPeer`` (a standby) while another gateway
        process owns it; a tty held by a program that is not a gateway is
        ``HeldByOtherProgram``, an outage like any other (nobody reads the reader)."""
        return open_owned(self._peer_lock, self._path.text, lambda: open_frontend(self._path))

    def _run_until_stopped(self) -> None:
        delay = 0.0
        quick_failures = 0
        first_attempt = True
        standing_by = False
        # Last seen held by another opener: a loss now is that opener's to report, not ours.
        held_elsewhere = False
        while not self._stop.is_set():
            try:
                frontend = self._open()
            except DeviceHeldElsewhere as error:
                # Another process reads the reader: standing by is no outage of it.
                self._bump(open_failures=1)
                # Only a port found locked tells of its device; a peer owner's losses are its own.
                held_elsewhere = held_elsewhere or not isinstance(error, OwnedByPeer)
                if not standing_by:
                    log.info("NFC reader %s: %s; standing by", self.reader_id, error)
                    standing_by = True
                    # Not open here any more: the open that ends the spell must be reported.
                    self._connected = None
                    self._standby(str(error))
                first_attempt = False
                delay = min(max(delay * 2, self._backoff_initial_s), self._backoff_max_s)
                self._stop.wait(delay)
                continue
            except Exception as error:  # nfcpy raises IOError, and worse on odd devices
                standing_by = False
                self._bump(open_failures=1)
                reason = f"open failed: {error}"
                if first_attempt or self._connected:
                    log.warning("NFC reader %s: %s", self.reader_id, reason)
                if not held_elsewhere:
                    self._set_state(False, reason)
                first_attempt = False
                delay = min(max(delay * 2, self._backoff_initial_s), self._backoff_max_s)
                self._stop.wait(delay)
                continue
            first_attempt = False
            standing_by = held_elsewhere = False
            delay = 0.0
            self._set_state(True, "opened" if self.stats.opens == 0 else "reopened")
            self._bump(opens=1)
            started = time.monotonic()
            try:
                failure = self._session(frontend)
            finally:
                self._close(frontend)
            if failure is None:
                continue
            self._bump(session_errors=1)
            log.info("NFC reader %s: %s; reopening", self.reader_id, failure)
            # Retry at once: most faults (a corrupt frame) are gone after a re-init. A reader
            # that fails again right after each re-init is retried with back-off instead.
            if time.monotonic() - started >= _STABLE_SESSION_S:
                quick_failures = 0
            elif quick_failures:
                wait = self._backoff_initial_s * 2 ** (quick_failures - 1)
                self._stop.wait(min(wait, self._backoff_max_s))
                quick_failures += 1
            else:
                quick_failures = 1

    def _session(self, frontend: Any) -> str | None:
        """Poll until stopped (returns None) or the reader fails (returns why)."""
        options = {
            "targets": self._targets,
            "on-connect": self._on_connect,
            "on-release": self._on_release,
            "beep-on-connect": False,
            "iterations": 2,
            "interval": self._poll_interval_s,
        }
        while not self._stop.is_set():
            try:
                result = frontend.connect(rdwr=options, terminate=self._stop.is_set)
            except Exception as error:  # connect only catches IOError itself
                return f"reader error: {error!r}"
            if result is False:
                return "reader stopped answering"
        return None

    def _close(self, frontend: Any) -> None:
        # nfcpy's close talks to the chip (ACK, baud rate, power down); on a dead line it
        # fails, which is expected.
        with contextlib.suppress(Exception):
            frontend.close()

    def _on_connect(self, tag: Any) -> bool:
        self._bump(tags_read=1)
        failure: OSError | None = None
        try:
            reading = read_tag(tag)
        except OSError as error:
            tag_id, technology, evidence = identity_of(tag)
            reading = TagReading(tag_id, technology, None, evidence, ndef_error=repr(error))
            failure = error
        if reading.ndef_error is not None:
            self._bump(ndef_errors=1)
        self._report(reading)
        if failure is not None:
            raise failure  # let nfcpy end the session; the reader will be reopened
        if reading.technology is TagTechnology.MIFARE_CLASSIC:
            self._hold_by_reselect(tag)
            self._last_seen[reading.tag_id] = self._clock.now()
            return False
        # Hold the tag (nfcpy polls its presence) so one presentation is one read.
        return True

    def _hold_by_reselect(self, tag: Any) -> None:
        """Wait while the card stays in the field, selecting it by UID every poll interval.

        nfcpy's presence check for a Type 2 tag is a READ, which a Mifare Classic refuses
        before authentication, so without this the card would be re-activated in a tight loop.
        """
        target = nfc.clf.RemoteTarget(tag.target.brty, sel_req=bytes(tag.identifier))
        while not self._stop.wait(self._poll_interval_s):
            if tag.clf.sense(target, iterations=1) is None:
                return

    def _on_release(self, tag: Any) -> bool:
        with contextlib.suppress(Exception):
            self._last_seen[bytes(tag.identifier).hex().upper()] = self._clock.now()
        return True

    def _report(self, reading: TagReading) -> None:
        now = self._clock.now()
        last = self._last_seen.get(reading.tag_id)
        self._last_seen[reading.tag_id] = now
        if last is not None and (now - last).total_seconds() < self._debounce_s:
            self._bump(debounced=1)
            return
        scan = CheckpointScan(
            reader_id=self.reader_id,
            tag_id=reading.tag_id,
            scanned_at=now,
            received_at=now,
            technology=reading.technology,
            ndef_text=reading.ndef_text,
            source_format=SOURCE_FORMAT,
            raw=reading.raw,
        )
        self._bump(scans=1)
        try:
            self._on_scan(scan)
        except Exception:
            self._bump(callback_errors=1)
            log.exception("NFC reader %s: on_scan failed", self.reader_id)

    def _standby(self, reason: str) -> None:
        if self._on_standby is None:
            return
        try:
            self._on_standby(reason)
        except Exception:
            self._bump(callback_errors=1)
            log.exception("NFC reader %s: on_standby failed", self.reader_id)

    def _set_state(self, connected: bool, reason: str) -> None:
        if self._connected is connected:
            return
        self._connected = connected
        if self._on_state is None:
            return
        try:
            self._on_state(connected, reason)
        except Exception:
            self._bump(callback_errors=1)
            log.exception("NFC reader %s: on_state failed", self.reader_id)
