"""Pseudo-terminal pairs standing in for serial devices.

A simulator writes to the *master* side; the code under test opens the *slave* path exactly as
it would open ``/dev/ttyUSB0``. The slave is put in raw mode (no echo, no line discipline), so
bytes pass unchanged.

Unplugging closes the master: the reader's next read on the slave fails (a hang-up, which
pyserial reports as a ``SerialException``), as when a USB adapter is pulled. Replugging makes a
new pair, which usually has a different ``/dev/pts/N``; with ``stable_link=True`` the pair keeps
a symlink (in a directory of its own unless one is given) that is re-pointed at the new slave,
so a reader configured with that path finds the device again, like a udev ``by-id`` link.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["PtyPair"]


class PtyPair:
    """One pseudo-terminal, its optional stable symlink, and plug/unplug control.

    Not thread-safe: drive one pair from one thread.
    """

    def __init__(
        self,
        *,
        stable_link: bool = False,
        link_dir: str | Path | None = None,
        link_name: str = "ttySIM0",
    ) -> None:
        self._own_dir: Path | None = None
        self._link: Path | None = None
        if stable_link or link_dir is not None:
            if link_dir is None:
                self._own_dir = Path(tempfile.mkdtemp(prefix="fwsim-tty-"))
                link_dir = self._own_dir
            Path(link_dir).mkdir(parents=True, exist_ok=True)
            self._link = Path(link_dir) / link_name
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path = ""
        self._open()

    @property
    def slave_path(self) -> str:
        """The current ``/dev/pts/N`` (changes on every replug)."""
        return self._slave_path

    @property
    def path(self) -> str:
        """What a reader should open: the stable symlink if there is one, else the slave."""
        return str(self._link) if self._link is not None else self._slave_path

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def write(self, data: bytes, timeout_s: float = 2.0) -> None:
        """Send ``data`` to the reader side; ``TimeoutError`` if nobody drains it in time."""
        master = self._require_master()
        view = memoryview(data)
        deadline = time.monotonic() + timeout_s
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"pty {self._slave_path}: reader side is not draining")
            _, writable, _ = select.select([], [master], [], remaining)
            if not writable:
                continue
            try:
                written = os.write(master, view)
            except BlockingIOError:
                continue
            view = view[written:]

    def read(self, size: int = 4096, timeout_s: float = 0.0) -> bytes:
        """Bytes the reader side wrote, or ``b""`` when none arrive within ``timeout_s``."""
        master = self._require_master()
        readable, _, _ = select.select([master], [], [], timeout_s)
        if not readable:
            return b""
        try:
            return os.read(master, size)
        except (BlockingIOError, OSError):
            return b""

    def unplug(self) -> None:
        """Close the master (and our slave handle): the reader sees the device vanish."""
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = None
        self._slave = None

    def replug(self) -> None:
        """A new pseudo-terminal; the stable link, if any, now points at it."""
        self.unplug()
        self._open()

    def close(self) -> None:
        """Unplug and remove the link and the directory this pair created."""
        self.unplug()
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._slave_path = os.ttyname(slave)
        if self._link is not None:
            # Re-point atomically so a reader never sees the link missing.
            tmp = self._link.with_name(self._link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._slave_path)
            tmp.replace(self._link)

    def _require_master(self) -> int:
        if self._master is None:
            raise OSError(f"pty {self.path} is unplugged")
        return self._master
