"""A PN532 on a pseudo-terminal: the HSU protocol on the master side, a stable path to the slave.

A reader driver opens :attr:`Pn532Simulator.path` (a symlink to the current ``/dev/pts/N``) as
it would open ``/dev/ttyUSB0``. Unplugging closes the pty and removes the link, as the kernel
removes a USB serial node; replugging creates a new pty and points the link at it.

Every host command is acknowledged at once and answered from :class:`~fwsim.pn532.chip.Pn532Chip`;
a host ACK while an answer is still pending cancels it, a NACK repeats the last answer (UM0701-02
section 6.2.1). Faults are armed for the next replies: garbage bytes, a wrong length or data
checksum, a delay. One I/O thread owns the pty file descriptors; other threads only post requests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import shutil
import tempfile
import threading
import time
import tty
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fwsim.pn532.chip import Pn532Chip
from fwsim.pn532.frames import (
    ACK,
    ERROR_FRAME,
    HOST_TFI,
    PN532_TFI,
    FrameParser,
    HostFrameKind,
    build_frame,
)
from fwsim.pn532.tags import SimTag

__all__ = ["Pn532Simulator"]

log = logging.getLogger(__name__)

_TICK_S = 0.05


@dataclass
class _Faults:
    garbage: bytes = b""
    bad_lcs: int = 0
    bad_dcs: int = 0
    delay_s: float = 0.0
    delay_count: int = 0


class Pn532Simulator:
    """A simulated PN532 board behind a pty; use as a context manager or call start()/stop().

    ``link_path`` is where the stable symlink is made (a fresh temporary directory by default).
    """

    def __init__(self, link_path: str | os.PathLike[str] | None = None) -> None:
        self._tmpdir: str | None = None
        if link_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="pn532-sim-")
            link_path = os.path.join(self._tmpdir, "pn532")
        self._link = Path(link_path)
        self._counts: Counter[int] = Counter()
        self._counts_lock = threading.Lock()
        self.chip = Pn532Chip(on_command=self._count)
        self._faults = _Faults()
        self._faults_lock = threading.Lock()
        self._requests: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._master: int | None = None
        self._slave: int | None = None
        self._parser = FrameParser()
        self._pending: tuple[float, bytes] | None = None
        self._last_reply = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bad_host_frames = 0
        self.cancelled_replies = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The stable device path to give the reader (a symlink to the pty slave)."""
        return str(self._link)

    @property
    def plugged(self) -> bool:
        return self._link.is_symlink()

    def start(self) -> Pn532Simulator:
        if self._thread is not None:
            return self
        self._plug()
        self._thread = threading.Thread(target=self._run, name="pn532-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the I/O thread, close the pty, remove the link (and the temporary directory)."""
        if self._thread is not None:
            self._stop.set()
            self._wake()
            self._thread.join(timeout=5)
            self._thread = None
        self._unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Pn532Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the scene ---------------------------------------------------------------------------

    def present(self, tag: SimTag) -> None:
        """Hold ``tag`` to the antenna."""
        self.chip.present(tag)

    def remove(self) -> None:
        """Take the tag away."""
        self.chip.remove()

    def unplug(self) -> None:
        """Pull the USB cable: the pty closes under the reader and the device path disappears."""
        self._call(self._unplug)

    def replug(self) -> None:
        """Plug the board back in: a new pty behind the same path, the chip freshly powered."""
        self._call(self._plug)

    # -- faults ------------------------------------------------------------------------------

    def inject_garbage(self, data: bytes = b"\x55\xaa\x13\x37\xfe\x00\x42") -> None:
        """Send ``data`` on the line just before the acknowledgement of the next command."""
        with self._faults_lock:
            self._faults.garbage += data

    def corrupt_next_replies(self, count: int = 1, *, part: str = "dcs") -> None:
        """Give the next ``count`` replies a wrong ``"dcs"`` (data) or ``"lcs"`` (length) sum."""
        with self._faults_lock:
            if part == "dcs":
                self._faults.bad_dcs += count
            elif part == "lcs":
                self._faults.bad_lcs += count
            else:
                raise ValueError("part is 'dcs' or 'lcs'")

    def delay_next_replies(self, seconds: float, count: int = 1) -> None:
        """Hold back the next ``count`` replies (after their ACK) by ``seconds``."""
        with self._faults_lock:
            self._faults.delay_s = seconds
            self._faults.delay_count = count

    # -- observation -------------------------------------------------------------------------

    def command_count(self, code: int) -> int:
        """How many times the host ran command ``code`` (e.g. 0x4A InListPassiveTarget)."""
        with self._counts_lock:
            return self._counts[code]

    def wait_for_commands(self, code: int, more: int = 1, timeout: float = 5.0) -> bool:
        """Wait until the host has run ``code`` ``more`` further times; True if it did."""
        target = self.command_count(code) + more
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.command_count(code) >= target:
                return True
            time.sleep(0.01)
        return False

    def _count(self, code: int) -> None:
        with self._counts_lock:
            self._counts[code] += 1

    # -- the I/O thread ----------------------------------------------------------------------

    def _call(self, fn: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            fn()
            return
        done = threading.Event()
        self._requests.put((fn, done))
        self._wake()
        if not done.wait(timeout=5):
            raise TimeoutError("simulator I/O thread did not answer")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._parser = FrameParser()
        self._pending = None
        self.chip.registers.clear()
        self.chip.rf_on = False
        tmp = self._link.with_name(self._link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self._link)
        log.debug("pn532 sim plugged at %s -> %s", self._link, os.ttyname(slave))

    def _unplug(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._pending = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._serve_requests()
            fds = [self._wake_r] + ([self._master] if self._master is not None else [])
            timeout = _TICK_S
            if self._pending is not None:
                timeout = max(0.0, min(timeout, self._pending[0] - time.monotonic()))
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                continue
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 512)
            if self._master is not None and self._master in ready:
                self._receive()
            if self._pending is not None and time.monotonic() >= self._pending[0]:
                self._send(self._pending[1])
                self._pending = None

    def _serve_requests(self) -> None:
        while True:
            try:
                fn, done = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            finally:
                done.set()

    def _receive(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            # EIO: no process has the slave open right now; nothing to read.
            return
        for frame in self._parser.feed(data):
            if frame.kind is HostFrameKind.ACK:
                if self._pending is not None:
                    self.cancelled_replies += 1
                    self._pending = None
            elif frame.kind is HostFrameKind.NACK:
                if self._last_reply:
                    self._send(self._last_reply)
            elif frame.kind is HostFrameKind.BAD_CHECKSUM:
                self.bad_host_frames += 1  # a PN532 ignores a corrupt frame: the host times out
            elif frame.body[:1] == bytes([HOST_TFI]):
                self._answer(frame.body[1:])
            else:
                self.bad_host_frames += 1

    def _answer(self, command: bytes) -> None:
        self._pending = None  # a new command aborts the one in progress
        with self._faults_lock:
            garbage, self._faults.garbage = self._faults.garbage, b""
            bad_lcs = self._faults.bad_lcs > 0
            bad_dcs = self._faults.bad_dcs > 0 and not bad_lcs
            self._faults.bad_lcs -= int(bad_lcs)
            self._faults.bad_dcs -= int(bad_dcs)
            delay = self._faults.delay_s if self._faults.delay_count > 0 else 0.0
            self._faults.delay_count = max(0, self._faults.delay_count - 1)
        self._send(garbage + ACK)
        data = self.chip.execute(command)
        if data is None:
            reply = ERROR_FRAME
        else:
            reply = build_frame(PN532_TFI, data, bad_lcs=bad_lcs, bad_dcs=bad_dcs)
        self._last_reply = reply
        if delay > 0:
            self._pending = (time.monotonic() + delay, reply)
        else:
            self._send(reply)

    def _send(self, data: bytes) -> None:
        if self._master is None:
            return
        try:
            os.write(self._master, data)
        except OSError as error:  # buffer full (nobody reading) or the slave went away
            log.debug("pn532 sim: reply dropped: %s", error)
