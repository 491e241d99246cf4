"""One process of a host talks to a network clock-in terminal: a lock file per terminal.

A ZKTeco terminal on TCP or UDP port 4370 serves one session at a time, or serves several and
sends each of them every live punch. Processes of a partitioned gateway on one host all find
the terminal in the site file: without a lock each opened its own session, the terminal
dropped one for the other or sent every punch to each (the store kept each punch once, but
sessions thrashed and logs filled). A checkpoint reader gets the same guarantee from its peer
lock (``drivers.peer_lock``, kept in the same directory) and the lock on its port; a network
endpoint has no port lock, so this module holds a peer lock of its own for it: an exclusive
``flock`` on a file named after the terminal's address, in a directory every process of the
host shares (``GATEWAY_LOCK_DIR``, else ``default_lock_dir``).

``HostExclusive`` starts the terminal's client only while it holds the lock. The others stand
by (logged once) and try again every few seconds; when the holder stops or dies (the kernel
drops a ``flock`` when its process exits, ``kill -9`` included) one of them takes over, and the
new session reads the terminal's log again (the store keeps each punch once). Processes on
other hosts do not share the lock: keep the terminal to one host with
``GATEWAY_FIELD_DEVICES``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from drivers.peer_lock import PeerLock, Take

__all__ = ["DEFAULT_LOCK_DIR", "HostExclusive", "default_lock_dir", "lock_path"]

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "guard-gateway-locks"
"""Where the host's processes keep their terminal locks outside systemd (shared by every
process of the host that runs as the same user or can write there)."""


def default_lock_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The lock directory when ``GATEWAY_LOCK_DIR`` is not set: ``locks`` in the unit's state
    directory under systemd (``$STATE_DIRECTORY``: the units of one host share it, where a
    ``PrivateTmp`` would give each a temporary directory of its own), else
    ``DEFAULT_LOCK_DIR``."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) / "locks" if state else DEFAULT_LOCK_DIR


RETRY_S = 2.0
"""Seconds between two tries at a lock another process holds: a takeover within that."""


class _Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def lock_path(endpoint: str, lock_dir: Path) -> Path:
    """The lock file of ``endpoint`` (a terminal's URL): readable, and distinct for distinct
    endpoints whatever characters they hold."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", endpoint)[:80]
    digest = hashlib.sha256(endpoint.encode("utf-8")).hexdigest()[:12]
    return lock_dir / f"{readable}-{digest}.lock"


class HostExclusive:
    """Runs ``inner`` (``start``/``stop``) only while this process holds the lock at ``path``
    (see the module docstring). ``name`` says what is locked, for the log."""

    def __init__(
        self, inner: _Startable, path: Path, *, name: str, retry_s: float = RETRY_S
    ) -> None:
        self._inner = inner
        self._lock = PeerLock(path, if_unusable=f"{name} is opened without it")
        self._name = name
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._state_lock = threading.Lock()

    @property
    def inner(self) -> _Startable:
        """What runs while the lock is held."""
        return self._inner

    @property
    def holding(self) -> bool:
        """Whether this process holds the lock and runs ``inner``."""
        with self._state_lock:
            return self._running

    def start(self) -> None:
        """Try for the lock on a thread of its own; ``inner`` starts once it is held."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"lock:{self._name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ``inner`` if it runs, then let the lock go (another process may take over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._state_lock:
            running, self._running = self._running, False
        if running:
            self._inner.stop()
        self._lock.release()

    def _run(self) -> None:
        told = False
        while not self._stop.is_set():
            # An unusable lock file (a read-only directory) runs ``inner`` as before the lock
            # existed, rather than leave the terminal unread; ``PeerLock`` has logged why.
            if self._lock.try_take() is Take.PEER:
                if not told:
                    log.info(
                        "%s is opened by another process of this host (lock %s); standing by",
                        self._name,
                        self._lock.path,
                    )
                    told = True
                self._stop.wait(self._retry_s)
                continue
            if told:
                log.info("%s: the other process let go; taking it over", self._name)
            self._take()
            return

    def _take(self) -> None:
        with self._state_lock:
            if self._stop.is_set():  # stopped meanwhile: let go at once
                self._lock.release()
                return
            self._running = True
            self._inner.start()
