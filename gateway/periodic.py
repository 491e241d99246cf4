"""A piece of housekeeping run every few seconds on a thread of its own, until stopped.

The process's heap trim (``gateway.malloc_arenas``) and SQLite's WAL checkpoints
(``gateway.db.wal_checkpoint``) each call one function at a pace of wall time, off the
pipeline's thread; this is their thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Periodic"]


class Periodic:
    """Calls ``action`` every ``every_s`` seconds (wall time: a pacing) on a daemon thread named
    ``name``, the first call ``every_s`` after ``start``. ``action`` handles its own errors:
    one it raises ends the thread."""

    def __init__(self, name: str, every_s: float, action: Callable[[], object]) -> None:
        self._name = name
        self._every_s = every_s
        self._action = action
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; no-op if it runs."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (it ends within one call of ``action``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            self._action()
