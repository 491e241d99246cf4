"""Which gateway process of a host owns a local reader: a lock file per reader.

A serial port's own lock (``flock`` on the tty, ``drivers.serial.transport.open_serial``)
keeps two openers apart but cannot say who the other opener is: another gateway process of the
host reading the same site file (then standing by is right, and the device's loss is that
process's to report), or some other program (a vendor's set-up tool, a terminal emulator) that
took the reader and reads nobody's taps (then the reader is as good as lost, and silence would
hide it). Nor does a USB reader opened through libusb have any lock at all.

So every gateway process takes the reader's *peer lock* (an exclusive ``flock`` on a file named
after the reader, in the lock directory the host's processes share) before it opens the
device, and keeps it until it stops, through losses of the device: the owner of the peer lock
is the one process that reads the reader and reports its losses, and the others stand by
without touching the device. A process that holds the peer lock and still finds the port
locked knows the other opener is no gateway process of this host.

The kernel drops a ``flock`` when its process exits, ``kill -9`` included, so a process standing
by takes over at its next try. A lock file that cannot be opened (a read-only directory) leaves
the reader to the port's own lock, as before peer locks existed.

A network clock-in terminal has no port lock; ``gateway.host_lock.HostExclusive`` holds a peer
lock for it all the same, so the lock files of a host are opened, taken and given up in this
one place.
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateway.errors import DeviceHeldElsewhere, TransportError

__all__ = ["HeldByOtherProgram", "OwnedByPeer", "PeerLock", "Take", "open_owned"]

_Opened = TypeVar("_Opened")

log = logging.getLogger(__name__)


class Take(enum.Enum):
    """What ``PeerLock.try_take`` found."""

    OWNED = "owned"
    """This holder has the lock (taken now or before)."""
    PEER = "peer"
    """Another opener of the lock file (another gateway process of the host) has it."""
    UNUSABLE = "unusable"
    """The lock file cannot be opened: nobody can be told apart; rely on the port's lock."""


class OwnedByPeer(DeviceHeldElsewhere):
    """Another gateway process of the host owns the reader (its peer lock): stand by, without
    touching the device. Unlike a port found locked, it says nothing about the device: the
    owner reports its losses, and whoever owns the reader next reports what it finds."""


class HeldByOtherProgram(TransportError):
    """The reader's port is held although this process owns its peer lock: by a program that is
    not a gateway process of this host. Nobody reads the reader: an outage, not a standby."""


class PeerLock:
    """The peer lock of one reader at ``path`` (see the module docstring).

    ``try_take`` never blocks. ``release`` lets the lock go (idempotent). One instance is used by
    one thread; ``owned`` may be read from any thread. ``if_unusable`` ends the warning logged
    (once) when the lock file cannot be opened: what that costs the thing locked.
    """

    def __init__(
        self,
        path: Path,
        *,
        if_unusable: str = (
            "other gateway processes of this host cannot be told from other programs holding "
            "the reader"
        ),
    ) -> None:
        self._path = path
        self._if_unusable = if_unusable
        self._fd: int | None = None
        self._unusable_told = False
        self._guard = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def owned(self) -> bool:
        """Whether this holder has the lock."""
        return self._fd is not None

    def try_take(self) -> Take:
        """Take the lock if nobody else has it; say who has it."""
        with self._guard:
            if self._fd is not None:
                return Take.OWNED
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                # Read-only is enough for flock: a file another user created (0644) opens too.
                fd = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o644)
            except OSError as exc:
                if not self._unusable_told:
                    log.warning("lock %s unusable (%s): %s", self._path, exc, self._if_unusable)
                    self._unusable_told = True
                return Take.UNUSABLE
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return Take.PEER
            self._fd = fd
            return Take.OWNED

    def release(self) -> None:
        """Let the lock go (closing the descriptor drops the ``flock``)."""
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def open_owned(peer_lock: PeerLock | None, name: str, opener: Callable[[], _Opened]) -> _Opened:
    """Open the reader ``name`` with ``opener`` once this process owns it.

    Raises ``OwnedByPeer`` while another gateway process of the host owns the peer lock (the
    device is not touched). With the peer lock owned, a port ``opener`` finds held
    (``DeviceHeldElsewhere``) raises ``HeldByOtherProgram``. Without a peer lock, or with an
    unusable one, ``opener`` runs as is and its errors pass through.
    """
    take = peer_lock.try_take() if peer_lock is not None else Take.UNUSABLE
    if take is Take.PEER:
        assert peer_lock is not None
        raise OwnedByPeer(
            f"{name} is read by another gateway process of this host (it holds {peer_lock.path})"
        )
    try:
        return opener()
    except DeviceHeldElsewhere as exc:
        if take is Take.UNUSABLE:
            raise
        raise HeldByOtherProgram(
            f"{name} is held by a program that is not a gateway process of this host: nothing "
            "reads it until that program lets go"
        ) from exc
